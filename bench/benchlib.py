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


# --------------------------------------------------------------------------------------------
# wrk with a cycle of requests

# Each wrk thread numbered (`tid`), and a request counter `n`: together, unique request tokens.
WRK_SETUP_LUA = """
local tid_next = 1
function setup(thread)
  thread:set("tid", tid_next)
  tid_next = tid_next + 1
end
local n = 0
"""

# wrk's done() hook: the counts and latency percentiles as one `WRK_JSON {...}` line (a %-template).
WRK_DONE_LUA = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write("WRK_JSON " .. string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%f,"max_us":%d}',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.mean,
    latency.max) .. "\n")
end
"""


def new_invoice_body(client_id: int, worktype_id: int, number: str) -> dict:
    """The minimal valid `invoice/new` body the benchmarks post."""
    return {
        "ClientId": client_id,
        "Number": number,
        "IssuedOn": "2024-01-10T00:00:00+00:00",
        "Duedate": "2024-02-09T00:00:00+00:00",
        "Status": "Draft",
        "CurrencyId": 163,
        "PaymentGateways": [{"Name": "paypal"}],
        "Items": [{"WorkTypeId": worktype_id, "Cost": 125.0, "Quantity": 2}],
    }


WRK_CYCLE_LUA = r"""
wrk.headers["x-auth-key"] = %(key)s
wrk.headers["x-auth-secret"] = %(secret)s
wrk.headers["Content-Type"] = "application/json"
local cycle = %(cycle)s
local tag = %(tag)s
%(setup)sfunction request()
  n = n + 1
  local r = cycle[(n - 1) %% #cycle + 1]
  local u = tag .. tid .. "-" .. n
  local body = nil
  if r[3] ~= nil then body = string.gsub(r[3], "@@N@@", u) end
  return wrk.format(r[1], string.gsub(r[2], "@@N@@", u), nil, body)
end
%(done)s"""


def wrk_cycle(
    base: str,
    cycle: list[tuple[str, str, str | None]],
    duration: float,
    connections: int,
    tag: str,
    threads: int = 1,
    timeout_s: int = 10,
) -> dict:
    """Load `base` with wrk, each connection sending the (method, path, body) requests of `cycle`
    in turn; `@@N@@` in a path or body becomes a unique token per request. Answers wrk's counts:
    requests, rps, p50_ms, p99_ms, max_ms, errors (non-2xx + socket errors)."""
    import os
    import tempfile

    def lua(s: str | None) -> str:
        return "nil" if s is None else json.dumps(s)  # a JSON string is a Lua string (ASCII)

    entries = ", ".join("{" + ", ".join(lua(x) for x in r) + "}" for r in cycle)
    script = WRK_CYCLE_LUA % {
        "key": lua(AUTH["x-auth-key"]),
        "secret": lua(AUTH["x-auth-secret"]),
        "cycle": "{" + entries + "}",
        "tag": lua(tag),
        "setup": WRK_SETUP_LUA,
        "done": WRK_DONE_LUA,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        cmd = [
            "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
            "--timeout", f"{timeout_s}s", "-s", f.name, base + cycle[0][1].replace("@@N@@", "0"),
        ]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    finally:
        os.unlink(f.name)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if r.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {r.returncode}):\n{r.stdout}\n{r.stderr}")
    d = json.loads(line[len("WRK_JSON ") :])
    secs = d["duration_us"] / 1e6
    return {
        "requests": d["requests"],
        "rps": d["requests"] / secs if secs else 0.0,
        "p50_ms": d["p50_us"] / 1000,
        "p99_ms": d["p99_us"] / 1000,
        "max_ms": d["max_us"] / 1000,
        "errors": d["status"] + d["connect"] + d["read"] + d["write"] + d["timeout"],
    }
