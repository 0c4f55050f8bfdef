"""Shared test helpers: hostile webhook receivers on raw loopback sockets, polling with a deadline."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

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
