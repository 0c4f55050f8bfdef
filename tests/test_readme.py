"""The README's examples run in the order written: no port is taken twice, no file lands in the checkout."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORTS = {"serve": 8080, "sink": 9000}


def shell_lines() -> list[str]:
    """Every command line of the README's ```sh blocks, in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return [line for block in re.findall(r"```sh\n(.*?)```", readme, re.S) for line in block.splitlines()]


def test_servers_started_by_the_examples_never_share_a_port() -> None:
    taken: dict[int, str] = {}
    for line in shell_lines():
        for command in re.split(r"&&|;|&(?!&)", line):
            if "envoice-mock" not in command:
                continue
            words = shlex.split(command, comments=True)
            kind = next((w for w in words if w in DEFAULT_PORTS), None)
            if not words or not words[0].endswith("envoice-mock") or kind is None:
                continue
            port = int(words[words.index("--port") + 1]) if "--port" in words else DEFAULT_PORTS[kind]
            assert port not in taken, f"{line!r} takes port {port}, still used by {taken[port]!r}"
            taken[port] = line
    assert taken, "no server example found"


def test_scenario_targets_are_sinks_started_earlier() -> None:
    sinks: set[int] = set()
    for line in shell_lines():
        if "envoice-mock sink" in line:
            found = re.search(r"--port (\d+)", line)
            sinks.add(int(found.group(1)) if found else DEFAULT_PORTS["sink"])
        for target in re.findall(r"--target http://127\.0\.0\.1:(\d+)/", line):
            assert int(target) in sinks, line


def test_example_output_goes_where_the_user_says() -> None:
    for line in shell_lines():
        for target in re.findall(r"(?<![0-9&])>\s*(\S+)", line):
            assert target.startswith(("/", "$", "/dev/")), f"{line!r} writes into the current folder"
