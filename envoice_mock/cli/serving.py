"""The mock under uvicorn: a deadline for every request, and a shutdown that does not wait on receivers.

* Request deadline: a connection must deliver each complete request (head and body) within
  `Settings.request_timeout` of being opened, or of the previous answer; otherwise it is
  closed. uvicorn's keep-alive timeout alone never fires on a connection that opens and sends
  nothing, nor on one that trickles a request byte by byte.
* One write per answer: uvicorn writes a response's head and its body with two `transport.write`
  calls, two send(2) system calls (a quarter of the server's time under load, by py-spy). The
  head is held and goes out with the body, or on the loop's next turn when no body follows.
* The standard asyncio event loop, not uvloop: under load uvloop accepted about one new
  connection per loop turn, so with 256 busy keep-alive connections newcomers waited in the
  listen queue for seconds (bench/peers_bench.py: p99 3.6 s, max 5 s, a health check 5 s).
  The asyncio loop accepts everything pending at once (max 117 ms), at the same requests/s.
* Shutdown: on SIGTERM/SIGINT the webhook engine stops at once (attempts in flight are
  abandoned; with a state file what they owed stays owed and is sent after a restart), so
  `settle`/`idle` calls in progress answer and connections close; requests still running after
  the delivery timeout plus two seconds are cancelled.
"""

from __future__ import annotations

import asyncio
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from envoice_mock.cli.gcpacing import PACER
from envoice_mock.runtime.wiring import Runtime


class HeadWithBody:
    """The transport a response cycle writes to: holds a response head until the body's first
    write (same task step) and sends both at once; a head nobody follows goes out on the loop's
    next turn. `100 Continue` and everything else pass straight through."""

    __slots__ = ("held", "loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.held: bytes | None = None

    def write(self, data: bytes) -> None:
        """Send `data`, after a held head; hold it if it is a final response's head."""
        if (
            self.held is None
            and data.endswith(b"\r\n\r\n")
            and data.startswith(b"HTTP/1.1 ")
            and data[9:10] != b"1"
        ):
            self.held = data
            self.loop.call_soon(self.flush)
            return
        if self.held is not None:
            data, self.held = self.held + data, None
        self.transport.write(data)

    def flush(self) -> None:
        """Send a held head now."""
        if self.held is not None:
            data, self.held = self.held, None
            if not self.transport.is_closing():
                self.transport.write(data)

    def close(self) -> None:
        """Send what is held, then close."""
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        """Whether the connection is closing."""
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, closing connections that do not finish a request in time, or
    that stay idle past the keep-alive timeout after an answer.

    Both limits are kept as times on the connection and checked by one timer, re-armed only
    when it fires (or when a limit falls before it): a timer started and cancelled for every
    request (uvicorn's keep-alive timer, and ours) was 6-8% of the server's time under load."""

    request_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request."""
        super().connection_made(transport)
        self._timer: asyncio.TimerHandle | None = None
        self._idle_until: float | None = None  # keep-alive: closed if nothing arrives by then
        self._due: float | None = None  # the request under way must be complete by then
        self._arm(self.loop.time() + self.request_timeout)

    def data_received(self, data: bytes) -> None:
        """Something arrived: the connection is not idle."""
        self._idle_until = None
        super().data_received(data)

    def on_headers_complete(self) -> None:
        """A new response cycle: it writes through a HeadWithBody."""
        super().on_headers_complete()
        cycle = getattr(self, "cycle", None)
        if cycle is not None and not isinstance(cycle.transport, HeadWithBody):
            cycle.transport = HeadWithBody(self.transport, self.loop)

    def on_message_complete(self) -> None:
        """The request is all here: the application may take its time."""
        self._due = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """Answered: the next request gets its own deadline, and an idle connection is closed
        after the keep-alive timeout (uvicorn's own timer is not started)."""
        now = self.loop.time()
        if self.pipeline or self.transport.is_closing():
            super().on_response_complete()  # the next pipelined request starts (no keep-alive wait)
        else:
            self.server_state.total_requests += 1
            self._unset_keepalive_if_required()
            self.flow.resume_reading()
            self._idle_until = now + self.timeout_keep_alive
        cycle = self.cycle  # the newest request read: answered, or still arriving, or waiting
        if not self.transport.is_closing() and (cycle is None or cycle.response_complete or cycle.more_body):
            self._arm(now + self.request_timeout)  # not for a request all here, waiting its turn

    def connection_lost(self, exc: Exception | None) -> None:
        """Gone: no deadline to keep."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def _arm(self, due: float) -> None:
        self._due = due
        first = due if self._idle_until is None else min(due, self._idle_until)
        timer = self._timer
        if timer is not None:
            if timer.when() <= first:
                return  # it fires first and re-arms for what is left then
            timer.cancel()
        self._timer = self.loop.call_at(first, self._check)

    def _check(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        limits = [t for t in (self._due, self._idle_until) if t is not None]
        if any(t <= now for t in limits):
            self.transport.close()
        elif limits:
            self._timer = self.loop.call_at(min(limits), self._check)


def deadline_protocol(request_timeout: float) -> type[DeadlineProtocol]:
    """The protocol class with this request deadline."""
    return type("DeadlineProtocol", (DeadlineProtocol,), {"request_timeout": request_timeout})


class MockServer(uvicorn.Server):
    """uvicorn.Server for a runtime: request deadlines, and a prompt stop on SIGTERM/SIGINT."""

    def __init__(self, app: Any, runtime: Runtime, **options: Any) -> None:
        settings = runtime.settings
        config = uvicorn.Config(
            app,
            lifespan="on",
            loop="asyncio",
            proxy_headers=False,  # nothing reads the client address; one layer less per request
            http=deadline_protocol(settings.request_timeout),
            timeout_graceful_shutdown=int(settings.delivery_timeout) + 2,
            **options,
        )
        super().__init__(config)
        self.runtime = runtime

    async def on_tick(self, counter: int) -> bool:
        """uvicorn's tick (every 0.1 s): a full garbage collection when one is due (cli/gcpacing.py)."""
        PACER.maintain()
        return await super().on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop delivering at once, then let uvicorn close connections and run the lifespan end."""
        self.runtime.webhooks.stop_soon()
        super().handle_exit(sig, frame)
