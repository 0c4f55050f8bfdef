"""One write per answer: a response head waits for its body, never longer than a loop turn."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from envoice_mock.cli.serving import HeadWithBody, MockServer
from envoice_mock.config import Settings
from envoice_mock.runtime.wiring import build_runtime

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recorder:
    """A transport that records each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_head_and_body_go_out_in_one_write() -> None:
    async def scenario() -> list[bytes]:
        rec = Recorder()
        out = HeadWithBody(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
        out.write(HEAD)
        out.write(b"ok")
        await asyncio.sleep(0)
        return rec.writes

    assert asyncio.run(scenario()) == [HEAD + b"ok"]


def test_a_head_without_body_goes_out_on_the_next_turn() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        rec = Recorder()
        out = HeadWithBody(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
        out.write(HEAD)
        before = list(rec.writes)
        await asyncio.sleep(0)
        return before, rec.writes

    assert asyncio.run(scenario()) == ([], [HEAD])


def test_continue_passes_through_and_close_flushes() -> None:
    async def scenario() -> tuple[list[bytes], bool]:
        rec = Recorder()
        out = HeadWithBody(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
        out.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        out.write(HEAD)
        out.close()
        return rec.writes, rec.closed

    assert asyncio.run(scenario()) == ([b"HTTP/1.1 100 Continue\r\n\r\n", HEAD], True)


async def _slow_stream() -> AsyncIterator[bytes]:
    await asyncio.sleep(0.05)
    yield b"late"


def _app() -> Starlette:
    async def plain(request: Request) -> Response:
        return Response(b"hello", media_type="text/plain")

    async def empty(request: Request) -> Response:
        return Response(status_code=204)

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(_slow_stream(), media_type="text/plain")

    return Starlette(
        routes=[
            Route("/plain", plain, methods=["GET", "HEAD"]),
            Route("/empty", empty),
            Route("/stream", stream),
        ]
    )


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[int]:
    options = getattr(request, "param", {})
    server = MockServer(_app(), build_runtime(Settings()), log_config=None, access_log=False, **options)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _exchange(port: int, request: bytes, until: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request)
        data = b""
        while until not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_real_answers_are_whole(served: int) -> None:
    get = _exchange(served, b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n", b"hello")
    assert get.startswith(b"HTTP/1.1 200") and get.endswith(b"hello")
    head = _exchange(served, b"HEAD /plain HTTP/1.1\r\nhost: x\r\n\r\n", b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
    empty = _exchange(served, b"GET /empty HTTP/1.1\r\nhost: x\r\n\r\n", b"\r\n\r\n")
    assert empty.startswith(b"HTTP/1.1 204")
    streamed = _exchange(served, b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n", b"0\r\n\r\n")
    assert streamed.startswith(b"HTTP/1.1 200") and b"late" in streamed


@pytest.mark.parametrize("served", [{"timeout_keep_alive": 0.3}], indirect=True)
def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(served: int) -> None:
    # The request deadline (10 s) is far off: what closes it is the keep-alive timeout alone.
    with socket.create_connection(("127.0.0.1", served), timeout=5) as conn:
        conn.sendall(b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n")
        answered = time.monotonic()
        data = b""
        while chunk := conn.recv(65536):  # the answer, then the end of the connection
            data += chunk
        closed_after = time.monotonic() - answered
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"hello")
    assert 0.2 < closed_after < 3
