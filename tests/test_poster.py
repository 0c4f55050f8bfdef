"""The aiohttp poster is a seam: network trouble comes back as the project's Failure, never as
one of aiohttp's exceptions (real loopback sockets, no sleeps)."""

from __future__ import annotations

import asyncio
import socket

from envoice_mock.delivery.poster import AiohttpPoster
from envoice_mock.delivery.records import Answer, Failure, Outcome

from .helpers import RawReceiver


def post_once(url: str, timeout: float = 5.0) -> Outcome:
    """One POST through a fresh poster, closed afterwards."""

    async def run() -> Outcome:
        poster = AiohttpPoster(timeout)
        try:
            return await poster.post(url, b"{}", {"Content-Type": "application/json"})
        finally:
            await poster.close()

    return asyncio.run(run())


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_is_a_failure_not_an_exception() -> None:
    outcome = post_once(f"http://127.0.0.1:{closed_port()}/hook")
    assert isinstance(outcome, Failure) and not outcome.timed_out
    assert outcome.error.startswith("connection")


def test_no_answer_in_time_is_a_timed_out_failure() -> None:
    with RawReceiver.running("hang") as hung:
        outcome = post_once(hung.url, timeout=0.2)
    assert outcome == Failure("no answer within 0.2s (timeout)", timed_out=True)


def test_an_answer_is_an_answer() -> None:
    with RawReceiver.running("ok") as ok:
        outcome = post_once(ok.url)
    assert outcome == Answer(200)
