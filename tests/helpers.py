"""Test helpers shared between modules: a recording poster, a client over a runtime, bodies, the
`envoice-mock` command run as a user would (a clean environment, output read with a deadline),
hostile webhook receivers on raw loopback sockets, and polling with a deadline."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.config import Settings
from envoice_mock.delivery.records import Answer
from envoice_mock.runtime.wiring import Runtime

AUTH = {"x-auth-key": "sandbox-key", "x-auth-secret": "sandbox-secret"}
SECRET = AUTH["x-auth-secret"]
START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class RecordingPoster:
    """A webhook Poster that answers 200 and keeps every request's headers (no network)."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """Record and accept."""
        self.headers.append(dict(headers))
        return Answer(200)

    async def close(self) -> None:
        """Nothing to close."""


def client_of(runtime: Runtime, headers: dict[str, str] | None = None) -> TestClient:
    """An in-process client (use as a context manager: the lifespan runs)."""
    return TestClient(create_app(runtime=runtime), headers=headers or AUTH)


def worktype(c: TestClient, title: str = "Work") -> int:
    """Create a work type; its id."""
    response = c.post("/api/worktype/new", json={"Title": title})
    assert response.status_code == 200, response.text
    return int(response.json())


def snapshot(runtime: Runtime, key: str = "sandbox-key") -> Any:
    """Everything an account holds that a request could change (rows, sequences, activities)."""
    import json

    account = runtime.store.accounts[key]
    return json.dumps(
        {
            "tables": account.tables,
            "sequences": account.sequences,
            "activities": account.activities,
            "webhooks": [h.describe() for h in runtime.webhooks.hooks.get(key, {}).values()],
        },
        sort_keys=True,
        default=str,
    )


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


T = TypeVar("T")


def eventually(probe: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `probe` until it answers something truthy (never sleeps longer than a few ms at a time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class RawReceiver:
    """A webhook receiver on a raw loopback socket that misbehaves on purpose.

    mode "hang": reads each request and never answers; "huge": answers 200 with a body of
    `huge_bytes` streamed until the client hangs up; "ok": answers 200 with an empty body.
    """

    def __init__(self, mode: str = "hang", huge_bytes: int = 256 * 1024 * 1024) -> None:
        self.mode = mode
        self.huge_bytes = huge_bytes
        self.requests = 0
        self.answered: list[tuple[str, bytes]] = []  # (path, body) of requests answered 200 in "ok" mode
        self.bytes_sent = 0
        self.closed_by_peer = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(256)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        """The hook URL."""
        return f"http://127.0.0.1:{self.port}/hook"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket, buf: bytes) -> tuple[str, bytes, bytes] | None:
        """(path, body, what follows) of the next request, or None when the client hung up."""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode() if head.count(b" ") >= 2 else ""
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            rest += chunk
        return path, rest[:length], rest[length:]

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        try:
            while not self._stop.is_set():
                request = self._read_request(conn, buf)  # blocking; close() shuts the socket down
                if request is None:
                    return
                path, body, buf = request
                with self._lock:
                    self.requests += 1
                if self.mode == "hang":
                    self._stop.wait()
                    return
                if self.mode == "huge":
                    self._stream(conn)
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                with self._lock:
                    self.answered.append((path, body))
        except OSError:
            return
        finally:
            conn.close()

    def _stream(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % self.huge_bytes
        )
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < self.huge_bytes and not self._stop.is_set():
                conn.sendall(chunk)
                sent += len(chunk)
                with self._lock:
                    self.bytes_sent += len(chunk)
        except OSError:  # the client hung up: what we wanted
            with self._lock:
                self.closed_by_peer += 1

    def close(self) -> None:
        """Stop accepting, drop every connection."""
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=5)
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    conn.close()

    @classmethod
    @contextlib.contextmanager
    def running(cls, mode: str = "hang", **options: Any) -> Iterator[RawReceiver]:
        """A receiver for the duration of the block."""
        receiver = cls(mode, **options)
        receiver._thread.start()
        try:
            yield receiver
        finally:
            receiver.close()


def raw_request(method: str, path: str, body: bytes = b"", *extra: str) -> bytes:
    """One HTTP/1.1 request with the sandbox credentials, as the bytes a socket sends (`extra`:
    more header lines, such as `expect: 100-continue`)."""
    lines = [
        f"{method} {path} HTTP/1.1",
        "host: 127.0.0.1",
        f"x-auth-key: {AUTH['x-auth-key']}",
        f"x-auth-secret: {AUTH['x-auth-secret']}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def frozen(**changes: Any) -> Settings:
    """Settings on a frozen clock, fast schedules."""
    base = {
        "clock_start": START,
        "clock_speed": 0.0,
        "retry_schedule": (1.0, 2.0, 4.0),
        "probe_interval": 10.0,
    }
    return Settings(**{**base, **changes})


def new_invoice(c: TestClient, number: str = "WH-1") -> dict[str, Any]:
    """Create a client, a work type and an invoice through the API."""
    wt = c.post("/api/worktype/new", json={"Title": "Hooks"}).json()
    cid = c.post(
        "/api/client/new",
        json={
            "Name": "Hook Ltd",
            "Email": "h@example.com",
            "ClientCurrencyId": 170,
            "ClientCountryId": 235,
            "UiLanguageId": 1,
        },
    ).json()
    body = {
        "ClientId": cid,
        "Number": number,
        "IssuedOn": "2024-03-01",
        "Duedate": "2024-03-15",
        "CurrencyId": 170,
        "Items": [{"WorkTypeId": wt, "Cost": 100, "Quantity": 3}],
    }
    response = c.post("/api/invoice/new", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def advance(c: TestClient, seconds: float) -> None:
    """Move virtual time and let what fell due be delivered."""
    assert c.post("/_mock/clock/advance", json={"seconds": seconds}).status_code == 200


class ServerProcess:
    """`envoice-mock serve` in a child process on a free port."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "envoice_mock", "serve", "--port", "0", "--log-level", "warning", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # the banner names the bound URL; reading blocks, no sleeping
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                self.url = found.group(1)
                break
        else:
            raise AssertionError("server exited before listening")
        self.output: list[str] = []
        self.drain = threading.Thread(target=lambda: self.output.extend(self.proc.stdout or []), daemon=True)
        self.drain.start()
        self.client = httpx.Client(base_url=self.url, headers=AUTH, timeout=10)
        self.client.get("/_mock/health").raise_for_status()

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        self.proc.wait(timeout=10)
        self.drain.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.client.close()

    def stop(self) -> None:
        """Terminate if still running."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self._reap()


# Values no field of any operation accepts (the fuzz of every operation sends each).
GARBAGE: list[Any] = [
    [],
    "x",
    2**40,
    1.5,
    True,
    None,
    {"Id": "abc"},
    {"Id": None},
    {"Id": [{}]},
    {"Id": 1.5},
    {"Id": True},
    {"Id": 2**31},
    {"Items": "no"},
    {"Items": [1, "two", None]},
    {"Items": {"0": {"Cost": "x"}, "b": 1}},
    {"Items": [{"Cost": None, "Quantity": [], "TaxId": {}, "WorkTypeId": "w"}]},
    {"Items": [{"Cost": 1e308, "Quantity": 1e308, "TaxPercentage": 1e308, "MinimumQuantity": -1}]},
    {"Name": {"x": [1, {"y": None}]}, "Title": [[[]]], "Email": 5, "Percentage": -1e308},
    {"Status": "Bogus", "Reason": ["x"]},
    {"Status": 99},
    {"IssuedOn": "not a date", "Duedate": 20240101, "ExpiresOn": {}},
    {"PaymentGateways": ["paypal", 5, None], "Coupons": [{"ValidUntil": "soon"}]},
    {"PaymentGateways": [{"Name": ["paypal"]}], "ShippingAmount": -1, "DiscountAmount": 1e300},
    {"RecurringProfile": "monthly", "OrderBillingDetails": [], "OrderShippingDetails": "x"},
    {"Attachments": [{"Size": "big", "Type": 7}]},
    {"a": {"b": {"c": [[[{"d": [None, {}, []]}]]]}}},
    {"": "", "Id ": 1, "ID": "1", "id": 2},
    {"ClientId": -1, "CurrencyId": 0, "Number": "", "Items": []},
]
RAW_GARBAGE = [
    ("application/json", b"{"),
    ("application/json", b"NaN"),
    ("application/json", b'{"Id": NaN, "Items": [{"Cost": Infinity, "Quantity": 1}]}'),
    ("application/json", b"1" * 400),
    ("text/json", b"\x00\xff"),
    ("application/x-www-form-urlencoded", b"\x00\xff"),
    ("application/xml", b"<a><b>"),
    ("text/xml", b"<a><Id>x</Id><Id>y</Id></a>"),
    ("text/plain", b"-0"),
]
