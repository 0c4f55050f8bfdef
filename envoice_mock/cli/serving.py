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
    """uvicorn's HTTP protocol, closing connections that do not finish a request in time."""

    request_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request."""
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def on_headers_complete(self) -> None:
        """A new response cycle: it writes through a HeadWithBody."""
        super().on_headers_complete()
        cycle = getattr(self, "cycle", None)
        if cycle is not None and not isinstance(cycle.transport, HeadWithBody):
            cycle.transport = HeadWithBody(self.transport, self.loop)

    def on_message_complete(self) -> None:
        """The request is all here: the application may take its time."""
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """Answered: the next request (on a kept-alive connection) gets its own deadline."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Gone: no deadline to keep."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


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
