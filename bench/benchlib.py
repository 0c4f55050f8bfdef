"""What every benchmark here shares: processes on loopback, a tiny HTTP client, HTTP/1.1 framing,
percentiles and table cells.

Only 127.0.0.1 is ever a target. Scripts import it as `from benchlib import ...` (they run from
`bench/`, which Python puts first on the path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"
AUTH = {"x-auth-key": "sandbox-key", "x-auth-secret": "sandbox-secret"}
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def our_command() -> list[str]:
    """How to start envoice-mock: the venv's script, the one on PATH, or `python -m envoice_mock`."""
    exe = Path(sys.executable).parent / "envoice-mock"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("envoice-mock")
    return [found] if found else [sys.executable, "-m", "envoice_mock"]


def http(
    method: str,
    url: str,
    body: dict | None = None,
    timeout: float = 2.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request with the sandbox account's auth headers (or `headers`); (status, body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or AUTH))
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def tail(log: Path, n: int = 20) -> str:
    """The last `n` lines of a log file ('' when unreadable)."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def wait_ready(url: str, proc: subprocess.Popen, deadline_s: float, what: str, log: Path) -> None:
    """Poll url until it answers 200, the process dies, or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready:\n{tail(log)}")
        try:
            status, _ = http("GET", url, timeout=1.0)
            if status == 200:
                return
            last = f"HTTP {status}"
        except (OSError, urllib.error.URLError) as e:
            last = str(e)
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {deadline_s:.0f}s ({last}):\n{tail(log)}")


def stop(proc: subprocess.Popen | None) -> None:
    """Terminate a process, killing it if it does not exit within five seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def add_server_args(ap: argparse.ArgumentParser) -> None:
    """--server-cmd and --cwd: which mock to start (another checkout gives "before" figures)."""
    ap.add_argument("--server-cmd", default=f"{sys.executable} -m envoice_mock", help="how to run the mock")
    ap.add_argument("--cwd", default=str(REPO), help="directory to start the server in")


def start_mock(server_cmd: str, cwd: str, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    """`<server_cmd> serve --port <free> --log-level warning <args>` in `cwd`, once its health check
    answers; answers the process and its port (its output goes to a temporary log)."""
    import tempfile

    port = free_port()
    log = Path(tempfile.mkstemp(prefix="envoice-mock-bench-", suffix=".log")[1])
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*shlex.split(server_cmd), "serve", "--port", str(port), "--log-level", "warning", *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://{HOST}:{port}/_mock/health", server, 60, "envoice-mock", log)
    except BaseException:
        stop(server)
        raise
    return server, port


def rss_kib(pid: int) -> int:
    """Resident memory of a process in KiB (Linux), 0 when unknown."""
    return round((rss_mib(pid) or 0) * 1024)


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# --------------------------------------------------------------------------------------------
# HTTP/1.1 framing, for the raw load generator and the raw receiver


class ProtocolError(Exception):
    """Bytes that are not the HTTP/1.1 message we expected."""


def parse_head(head: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """The start line and the headers (names lower-cased) of a message head without its CRLFCRLF."""
    lines = head.split(b"\r\n")
    headers: dict[bytes, bytes] = {}
    for raw in lines[1:]:
        name, _, value = raw.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """Read one HTTP/1.1 answer with a Content-Length; answers its status line (with the body
    appended when the status is not 2xx)."""
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length)
    return status if status[9:10] == b"2" else status + body


# --------------------------------------------------------------------------------------------
# Numbers


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The nearest-rank q-th percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def fmt(v: float | None, spec: str) -> str:
    """A table cell: `v` formatted by `spec`, or '-' when there is no value."""
    return "-" if v is None else format(v, spec)
