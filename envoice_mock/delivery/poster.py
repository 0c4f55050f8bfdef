"""Sending one delivery over HTTP: the `Poster` seam and its aiohttp implementation.

A poster answers an `Outcome`: the receiver's `Answer`, or a `Failure` with the delivery log's
error text. It never raises for a network problem, so nothing above it knows which HTTP
library is in use (the engine catches no library's exceptions; a fake poster in a test is as
good as the real one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import aiohttp

from envoice_mock.delivery.records import Answer, Failure, Outcome

log = logging.getLogger("envoice_mock.delivery.webhooks")

MAX_ANSWER_BYTES = 4096  # of a receiver's answer body read and kept in the delivery log; the rest is dropped


class Poster(Protocol):
    """Sends one delivery; answers the receiver's Answer or a Failure (never raises but on cancellation)."""

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome: ...
    async def close(self) -> None: ...


def timeout_failure(seconds: float) -> Failure:
    """The failure of an attempt that got no answer within `seconds`."""
    return Failure(f"no answer within {seconds:g}s (timeout)", timed_out=True)


class AiohttpPoster:
    """Pooled keep-alive HTTP/1.1 over aiohttp (measured several times faster than httpx here)."""

    def __init__(self, timeout: float, max_connections: int = 256) -> None:
        self.seconds = timeout
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        # Told of every answer (request headers, status, answer body): the dashboard's attempt detail.
        self.on_answer: Callable[[dict[str, str], int, bytes], None] | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """POST; aiohttp's errors become Failures with the delivery log's texts."""
        try:
            return await self._post(url, body, headers)
        except TimeoutError:
            return timeout_failure(self.seconds)
        except aiohttp.ClientConnectorError as exc:
            if exc.os_error:
                return Failure(f"connection failed: {exc.os_error.strerror or exc}")
            return Failure("connection refused")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Failure(f"{type(exc).__name__}: {exc}")

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST; read at most MAX_ANSWER_BYTES of the answer. A longer answer is not read: its
        connection is closed instead of going back to the pool."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0, use_dns_cache=True)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self.timeout,
                trust_env=False,
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
            kept = bytearray()
            while len(kept) <= MAX_ANSWER_BYTES:
                chunk = await response.content.read(MAX_ANSWER_BYTES + 1 - len(kept))
                if not chunk:
                    break
                kept += chunk
            truncated = len(kept) > MAX_ANSWER_BYTES
            if truncated:
                response.close()  # drop the connection and whatever is still coming on it
            if self.on_answer is not None:
                self.on_answer(headers, response.status, bytes(kept[:MAX_ANSWER_BYTES]))
            return Answer(response.status, bytes(kept[:MAX_ANSWER_BYTES]), truncated)

    async def close(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None
