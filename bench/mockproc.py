"""Shared by the bench scripts: a mock server child process, its RSS, raw HTTP/1.1 answers."""

from __future__ import annotations

import argparse
import asyncio
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def add_server_args(ap: argparse.ArgumentParser) -> None:
    """--server-cmd and --cwd: which mock to start (another checkout gives "before" figures)."""
    ap.add_argument("--server-cmd", default=f"{sys.executable} -m envoice_mock", help="how to run the mock")
    ap.add_argument("--cwd", default=str(ROOT), help="directory to start the server in")


def start_mock(server_cmd: str, cwd: str, *args: str) -> tuple[subprocess.Popen[str], int]:
    """`<server_cmd> serve --port 0 --log-level warning <args>` in `cwd`; answers it and its port."""
    server = subprocess.Popen(
        [*shlex.split(server_cmd), "serve", "--port", "0", "--log-level", "warning", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert server.stdout is not None
    for line in server.stdout:  # the banner names the port
        found = re.search(r"listening on http://127.0.0.1:(\d+)", line)
        if found:
            return server, int(found.group(1))
    server.wait()
    raise RuntimeError("server exited before listening")


def rss_kib(pid: int) -> int:
    """Resident memory of a process, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """Read one HTTP/1.1 answer with a Content-Length; answers its status line."""
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status
