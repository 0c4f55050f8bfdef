"""What a response said, seen from ASGI middleware: the status it started with."""

from __future__ import annotations

from starlette.types import Message, Send


class SentStatus:
    """A `send` that passes every message on and remembers the response's status (0 until sent)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)
