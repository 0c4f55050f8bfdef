"""Helpers shared by tests that run the `envoice-mock` command as a user would."""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without ENVOICE_MOCK_* variables (so a developer's shell cannot leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOICE_MOCK_")}
    env.update(extra)
    return env


def cli(
    *args: str,
    timeout: float = 60,
    cwd: Path | None = None,
    exe: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `envoice-mock ARGS` (by default `python -m envoice_mock` of this interpreter) to the end."""
    command = [*(exe or (sys.executable, "-m", "envoice_mock")), *args]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env=clean_env(**(env or {})),
    )


def wait_for_output(proc: subprocess.Popen[bytes], pattern: str, timeout: float = 30) -> re.Match[str]:
    """Read the process's output until `pattern` matches it; fail with what was seen by the deadline."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    seen = b""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            break
        seen += chunk
        found = re.search(pattern, seen.decode(errors="replace"))
        if found:
            return found
    raise AssertionError(
        f"{pattern!r} not printed within {timeout}s; output:\n{seen.decode(errors='replace')}"
    )


@contextlib.contextmanager
def started(
    command: Sequence[str], pattern: str, timeout: float = 30, cwd: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], re.Match[str]]]:
    """A long-running command, once `pattern` appeared in its output (stdout and stderr); stopped after."""
    proc = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd, env=clean_env()
    )
    try:
        yield proc, wait_for_output(proc, pattern, timeout)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
