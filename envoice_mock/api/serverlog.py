"""What a running server logs: a line per request, per delivery attempt, per webhook state change."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from envoice_mock.api.sent import SentStatus

http_log = logging.getLogger("envoice_mock.http")
delivery_log = logging.getLogger("envoice_mock.delivery")
webhook_log = logging.getLogger("envoice_mock.webhook")

QUIET_PATHS = frozenset({"/_mock/health"})  # health checks every few seconds log at debug level


class RequestLog:
    """ASGI middleware: `METHOD path status ms account=KEY` once a response has been sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not http_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        watch = SentStatus(send)
        try:
            await self.app(scope, receive, watch)
        finally:
            status = watch.status
            path = scope["path"]
            level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
            if http_log.isEnabledFor(level):
                ms = (time.perf_counter() - started) * 1000
                account = _header(scope, b"x-auth-key") or "-"
                http_log.log(
                    level,
                    "%s %s %s %.1fms account=%s",
                    scope["method"],
                    path,
                    status or "-",
                    ms,
                    account,
                    extra={
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "ms": round(ms, 2),
                        "account": account,
                    },
                )


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


class DeliveryLog:
    """A delivery listener of the webhook engine: a line per attempt and per state change."""

    def __init__(self, states: dict[str, str] | None = None) -> None:
        self.states: dict[str, str] = dict(states or {})

    def __call__(self, record: Mapping[str, Any]) -> None:
        """Log one finished attempt (a record of the delivery log); a logging fault never stops deliveries."""
        try:
            self._log(record)
        except Exception:
            delivery_log.exception("could not log delivery %s", record.get("DeliveryId"))

    def _log(self, record: Mapping[str, Any]) -> None:
        hook = record["WebhookId"]
        answer = record["StatusCode"] if record["StatusCode"] is not None else record["Error"]
        before = self.states.get(hook, "healthy")
        after = record.get("State") or before
        change = f" webhook {before} → {after}" if after != before else ""
        delivery_log.info(
            "activity %s (%s) → webhook %s attempt %s %s: %s%s",
            record["ActivityId"],
            record["ActivityType"],
            hook,
            record["Attempt"],
            record["Kind"],
            answer,
            change,
            extra={
                "activity": record["ActivityId"],
                "activity_type": record["ActivityType"],
                "webhook": hook,
                "attempt": record["Attempt"],
                "kind": record["Kind"],
                "status": record["StatusCode"],
                "error": record["Error"],
                "outcome": record["Outcome"],
                "state": after,
            },
        )
        if after != before:
            self.states[hook] = after
            level = logging.WARNING if after == "failing" else logging.INFO
            webhook_log.log(
                level,
                "webhook %s %s is now %s (was %s)",
                hook,
                record["Url"],
                after,
                before,
                extra={"webhook": hook, "url": record["Url"], "state": after, "previous": before},
            )
