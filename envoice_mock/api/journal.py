"""The request journal behind `/_mock/requests`: every API call an account made, newest first.

An ASGI middleware notes each `/api/*` call (method, path, query, headers, body, status,
timing and the start of the answer) under the account whose key and secret it carried, in a
bounded per-account ring. Entries are kept compact (raw bytes) and decoded, with secrets
redacted, only when someone reads them. Control-plane writes (`POST`/`DELETE /_mock/*`) are
not journaled but published on the event bus as `control` events, so a dashboard sees them;
neither are the dashboard's own reads (header `x-envoice-mock-ui: 1`).
"""

from __future__ import annotations

import fnmatch
import hmac
import json
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from envoice_mock.api.codecs import MAX_XML_DEPTH
from envoice_mock.api.credentials import credentials
from envoice_mock.api.events import EventBus
from envoice_mock.api.sent import SentStatus
from envoice_mock.faults import ApiFault
from envoice_mock.inputs import check_text

LIMIT = 1000  # entries kept per account (the oldest are dropped first)
BODY_CAP = 16 * 1024  # request bytes kept per entry
ANSWER_CAP = 2048  # response bytes kept per entry
JSON_DEPTH = MAX_XML_DEPTH  # a body nested deeper is shown as text only, as XML bodies are refused
REDACTED = "<redacted>"
UI_HEADER = b"x-envoice-mock-ui"  # the dashboard's own reads are not the account's calls
SECRET_HEADERS = frozenset({b"x-auth-secret", b"authorization", b"cookie", b"proxy-authorization"})


@dataclass(slots=True)
class Entry:
    """One API call as it came in (raw); `as_dict()` decodes and redacts it."""

    id: int
    at: float  # clock seconds (formatted only when read)
    method: str
    path: str
    query: bytes
    headers: Sequence[tuple[bytes, bytes]]
    body: bytes
    body_size: int
    status: int
    duration_ms: float
    answer: bytes

    @property
    def normal_path(self) -> str:
        """The path as routing sees it: lower case, no trailing slash."""
        return self.path.rstrip("/").lower() or "/"

    def as_dict(self, stamp: Callable[[float], str]) -> dict[str, Any]:
        """The JSON view: headers with secrets redacted, body as text and (when JSON) parsed."""
        text = self.body.decode("utf-8", "replace")
        parsed: Any = None
        if text:
            try:
                parsed = json.loads(text)
                check_text(parsed)  # a refused body may hold text no answer can carry
                if nested_deeper(parsed, JSON_DEPTH):  # nor nesting the XML encoder cannot walk
                    parsed = None
            except (ValueError, RecursionError, ApiFault):
                parsed = None
        return {
            "Id": self.id,
            "At": stamp(self.at),
            "Method": self.method,
            "Path": self.path,
            "Query": {
                k: v if len(v) > 1 else v[0] for k, v in parse_qs(self.query.decode("latin-1")).items()
            },
            "Headers": redact(self.headers),
            "Body": text,
            "Json": parsed,
            "BodyTruncated": self.body_size > len(self.body),
            "Status": self.status,
            "DurationMs": round(self.duration_ms, 3),
            "Response": self.answer.decode("utf-8", "replace"),
        }

    def summary(self, stamp: Callable[[float], str]) -> dict[str, Any]:
        """A short view for the event stream."""
        return {
            "Id": self.id,
            "At": stamp(self.at),
            "Method": self.method,
            "Path": self.path,
            "Query": self.query.decode("latin-1"),
            "Status": self.status,
            "DurationMs": round(self.duration_ms, 3),
        }


class Summary:
    """An entry's event body, built when a reader first wants it (a closure would leave four
    objects per request for the garbage collector to walk; this leaves one)."""

    __slots__ = ("entry", "stamp")

    def __init__(self, entry: Entry, stamp: Callable[[float], str]) -> None:
        self.entry = entry
        self.stamp = stamp

    def __call__(self) -> dict[str, Any]:
        return self.entry.summary(self.stamp)


def nested_deeper(value: Any, limit: int) -> bool:
    """Whether lists and objects in `value` nest more than `limit` levels deep (walked without
    recursion, so any depth can be measured)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth >= limit:
                return True
            stack.extend((x, depth + 1) for x in item)
    return False


def redact(headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers as a dict (repeats joined), with secrets replaced by a marker."""
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("latin-1").lower()
        text = REDACTED if name.lower() in SECRET_HEADERS else value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


class RequestFilter:
    """Which entries a query wants: method, path (exact or glob with *), status (200 or 4xx)."""

    def __init__(self, method: str | None = None, path: str | None = None, status: str | None = None) -> None:
        self.method = method.upper() if method else None
        self.path = (path.rstrip("/").lower() or "/") if path else None
        self.glob = self.path is not None and any(c in self.path for c in "*?[")
        self.status = status.lower() if status else None
        if self.status is not None and not (
            (self.status.isdigit() and len(self.status) == 3)
            or (len(self.status) == 3 and self.status[0].isdigit() and self.status[1:] == "xx")
        ):
            raise ValueError("status must be a code such as 201 or a class such as 4xx")

    def __call__(self, entry: Entry) -> bool:
        if self.method is not None and entry.method != self.method:
            return False
        if self.path is not None:
            if self.glob:
                if not fnmatch.fnmatchcase(entry.normal_path, self.path):
                    return False
            elif entry.normal_path != self.path:
                return False
        if self.status is not None:
            code = str(entry.status)
            return code == self.status if self.status.isdigit() else code[0] == self.status[0]
        return True


class RequestJournal:
    """Per-account rings of the newest `limit` API calls."""

    def __init__(self, stamp: Callable[[float], str] = str, limit: int = LIMIT) -> None:
        self.stamp = stamp  # clock seconds -> the instant as text
        self.limit = limit
        self._entries: dict[str, deque[Entry]] = {}
        self._next: dict[str, int] = {}

    def add(self, account: str, entry: Entry) -> Entry:
        """Number and keep an entry (ids count up per account, never reused)."""
        entry.id = self._next.get(account, 0) + 1
        self._next[account] = entry.id
        ring = self._entries.get(account)
        if ring is None:
            ring = self._entries[account] = deque(maxlen=self.limit)
        ring.append(entry)
        return entry

    def query(self, account: str, keep: Callable[[Entry], bool], since: int = 0) -> list[Entry]:
        """Matching entries newer than `since`, newest first."""
        ring = self._entries.get(account, ())
        return [e for e in reversed(ring) if e.id > since and keep(e)]

    def clear(self, account: str) -> None:
        """Forget an account's entries (ids keep counting up)."""
        self._entries.pop(account, None)


class CallNotes:
    """Journals answered API calls (and tells the event bus) under the account they carried."""

    def __init__(
        self, journal: RequestJournal, bus: EventBus, store: Any, now: Callable[[str], float]
    ) -> None:
        self.journal = journal
        self.bus = bus
        self.store = store
        self.now = now

    def account_of(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """The key of the account these headers authenticate as, or None."""
        key, secret = credentials(headers)
        if key is None or secret is None:
            return None
        account = self.store.accounts.get(key)
        if account is None or not hmac.compare_digest(account.secret.encode(), secret.encode("latin-1")):
            return None
        return key

    def note(
        self,
        scope: Scope,
        body: bytes,
        size: int,
        status: int,
        duration_ms: float,
        answer: bytes,
        account: str | None = None,
    ) -> None:
        """Journal one answered API call under the account it authenticated as (if any; given
        as `account` when the caller already checked): the first BODY_CAP bytes of its
        `size`-byte body, the first ANSWER_CAP of the answer. The dashboard's own reads are not
        journaled."""
        headers = scope["headers"]
        if (UI_HEADER, b"1") in headers:
            return
        if account is None:
            account = self.account_of(headers)
        if account is None:
            return
        entry = Entry(
            0,
            self.now(account),
            scope["method"],
            scope["path"],
            scope.get("query_string", b""),
            tuple(headers),  # a tuple of tuples of bytes: the collector stops tracking it
            body[:BODY_CAP],
            size,
            status or 500,
            duration_ms,
            answer[:ANSWER_CAP],
        )
        self.journal.add(account, entry)
        self.bus.publish(account, "request", Summary(entry, self.journal.stamp))


class JournalMiddleware:
    """Notes every authenticated `/api/*` call that reaches the app in the journal (and on the
    event bus), and publishes successful control-plane writes as `control` events. (The API's
    operations are served, and noted, before the app: api/operations.py.)"""

    def __init__(self, app: ASGIApp, notes: CallNotes) -> None:
        self.app = app
        self.notes = notes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        lowered = path[:7].lower()
        if lowered.startswith("/api/"):
            await self._journal(scope, receive, send)
        elif lowered == "/_mock/" and scope["method"] in ("POST", "DELETE", "PUT", "PATCH"):
            await self._control(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _journal(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        body = bytearray()
        size = 0
        answer = bytearray()
        status = 0

        async def receive_noting() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                size += len(chunk)
                if len(body) < BODY_CAP:
                    body.extend(chunk[: BODY_CAP - len(body)])
            return message

        async def send_noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and len(answer) < ANSWER_CAP:
                answer.extend(message.get("body", b"")[: ANSWER_CAP - len(answer)])
            await send(message)

        try:
            await self.app(scope, receive_noting, send_noting)
        finally:
            duration_ms = (time.perf_counter() - started) * 1000
            self.notes.note(scope, bytes(body), size, status, duration_ms, bytes(answer))

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = SentStatus(send)
        await self.app(scope, receive, sent)
        if 200 <= sent.status < 300:
            account = self.notes.account_of(scope["headers"])
            if account is not None:
                self.notes.bus.publish(
                    account,
                    "control",
                    {"Method": scope["method"], "Path": scope["path"], "Status": sent.status},
                )
