"""A webhook receiver for demos and tests: records, verifies, flags, and can play dead.

`envoice-mock sink --port 9000 --secret S --fail-first 3` prints one line per arrival and
serves what it received at `GET /_sink/received`. In tests, `Sink.running()` starts one on a
free loopback port in a thread and `wait_for()` blocks on a condition, never sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from envoice_mock.signing import verify_signature


@dataclass
class Behaviour:
    """How the sink answers: fail the first N, fail for a while, or always with a status."""

    fail_first: int = 0
    fail_status: int = 503
    fail_until: float | None = None  # time.monotonic() deadline
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering (a slow receiver)
    reject_invalid: bool = True  # answer 401 to a bad signature (when the sink knows the secret)

    def answer(self, arrival_index: int) -> int:
        """The status for the n-th arrival (0-based)."""
        if arrival_index < self.fail_first:
            return self.fail_status
        if self.fail_until is not None and time.monotonic() < self.fail_until:
            return self.fail_status
        return self.status


@dataclass
class SinkState:
    """What the sink has seen; safe to read from another thread."""

    secret: str | None = None
    behaviour: Behaviour = field(default_factory=Behaviour)
    received: list[dict[str, Any]] = field(default_factory=list)
    printer: Callable[[str], None] | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _last: tuple[str, int] | None = None
    _seen: set[int] = field(default_factory=set)

    def record(self, body: bytes, headers: dict[str, str], path: str) -> dict[str, Any]:
        """Classify one arrival and remember it; returns the record."""
        with self._cond:
            index = len(self.received)
            status = self.behaviour.answer(index)
            try:
                payload = json.loads(body)
                activity = payload.get("Activity") or {}
            except (ValueError, AttributeError):
                payload, activity = None, {}
            aid = activity.get("Id") if isinstance(activity, dict) else None
            key = (str(activity.get("CreatedOn", "")), int(aid)) if isinstance(aid, int) else None
            verified = verify_signature(body, self.secret) if self.secret else None
            if verified is False and self.behaviour.reject_invalid and status == 200:
                status = 401  # a receiver that checks signatures turns a forged one away
            duplicate = isinstance(aid, int) and aid in self._seen
            out_of_order = key is not None and self._last is not None and key < self._last and not duplicate
            if status == 200 and isinstance(aid, int):
                self._seen.add(aid)
                if self._last is None or (key is not None and key > self._last):
                    self._last = key
            record = {
                "Index": index,
                "Path": path,
                "Answered": status,
                "ActivityId": aid,
                "Type": activity.get("Type") if isinstance(activity, dict) else None,
                "CreatedOn": activity.get("CreatedOn") if isinstance(activity, dict) else None,
                "Delivery": headers.get("x-envoice-delivery"),
                "Attempt": int(headers.get("x-envoice-attempt", "0") or 0),
                "SignatureValid": verified,
                "Duplicate": duplicate,
                "OutOfOrder": out_of_order,
                "Headers": {k: v for k, v in headers.items() if k.startswith(("x-envoice", "webhook-"))},
                "Body": body.decode("utf-8", "replace"),
            }
            self.received.append(record)
            self._cond.notify_all()
        if self.printer:
            self.printer(describe_arrival(record))
        return record

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until `predicate(received)` holds; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"sink: condition not met within {timeout}s; got {len(self.received)} arrivals"
                    )
                self._cond.wait(left)
            return list(self.received)

    def wait_count(self, n: int, timeout: float = 10.0, delivered_only: bool = False) -> list[dict[str, Any]]:
        """Block until n arrivals (or n answered 200) were recorded."""
        return self.wait_for(
            lambda rs: sum(1 for r in rs if not delivered_only or r["Answered"] == 200) >= n, timeout
        )

    def clear(self) -> None:
        """Forget every arrival."""
        with self._cond:
            self.received.clear()
            self._seen.clear()
            self._last = None


def describe_arrival(r: dict[str, Any]) -> str:
    """One terminal line for an arrival."""
    flags = [f for f, on in (("DUPLICATE", r["Duplicate"]), ("OUT-OF-ORDER", r["OutOfOrder"])) if on]
    if r["SignatureValid"] is False:
        flags.append("BAD-SIGNATURE")
    return (
        f"#{r['Index'] + 1:<4} {r['Answered']} activity {r['ActivityId']} type {r['Type']} "
        f"attempt {r['Attempt']} created {r['CreatedOn']} {' '.join(flags)}".rstrip()
    )


def create_sink_app(state: SinkState) -> Starlette:
    """The receiver's ASGI app: POST anywhere records; /_sink/received lists."""

    async def receive(request: Request) -> Response:
        body = await request.body()
        record = state.record(body, {k.lower(): v for k, v in request.headers.items()}, request.url.path)
        if state.behaviour.delay > 0:
            await asyncio.sleep(state.behaviour.delay)
        return Response(status_code=record["Answered"])

    async def received(request: Request) -> Response:
        with state._cond:
            return JSONResponse(list(state.received))

    async def clear(request: Request) -> Response:
        state.clear()
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/_sink/received", received, methods=["GET"]),
            Route("/_sink/received", clear, methods=["DELETE"]),
            Route("/{path:path}", receive, methods=["POST"]),
        ]
    )


def bind_free_port(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound listening-ready socket (port 0 picks a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class ServerThread:
    """An ASGI app served by uvicorn on a loopback socket in a background thread."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None
    ) -> None:
        """Serve `app` on `sock` (bound already: an app that must know its own URL is built after
        the port is known), or on a socket bound to `host`:`port`."""
        import uvicorn

        self.sock = sock if sock is not None else bind_free_port(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="auto")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        """http://host:port"""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        """Start and wait until the server accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server thread did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and join the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


class Sink:
    """A running sink: its URL, state and helpers."""

    def __init__(self, state: SinkState, server: ServerThread) -> None:
        self.state = state
        self.server = server

    @property
    def url(self) -> str:
        """The hook URL (POST target)."""
        return f"{self.server.url}/hook"

    @property
    def received(self) -> list[dict[str, Any]]:
        """A copy of what arrived so far."""
        with self.state._cond:
            return list(self.state.received)

    def wait_count(self, n: int, timeout: float = 10.0, delivered_only: bool = False) -> list[dict[str, Any]]:
        """Block until n arrivals."""
        return self.state.wait_count(n, timeout, delivered_only)

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until a condition on the arrivals holds."""
        return self.state.wait_for(predicate, timeout)

    @classmethod
    @contextlib.contextmanager
    def running(
        cls, secret: str | None = None, behaviour: Behaviour | None = None, port: int = 0
    ) -> Iterator[Sink]:
        """Start a sink on a free loopback port for the duration of the block."""
        state = SinkState(secret=secret, behaviour=behaviour or Behaviour())
        server = ServerThread(create_sink_app(state), port=port).start()
        try:
            yield cls(state, server)
        finally:
            server.stop()
