"""Watching an account: the `/_mock/events` stream, the `/_mock/requests` journal, and the
detail of one delivery attempt (`/_mock/deliveries/{id}`). Authenticated like the control plane.

`install(runtime)` wires the observers once (event bus, request journal, answer capture);
`live_middleware(runtime)` is the journal's ASGI middleware for the app.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from envoice_mock.api.control import guarded
from envoice_mock.api.events import DeliveryObserver, EventBus, TooManySubscribers, observe
from envoice_mock.api.journal import RequestFilter, RequestJournal
from envoice_mock.api.routing import authenticate, respond, runtime_of
from envoice_mock.clock import webhook_timestamp
from envoice_mock.faults import ApiFault
from envoice_mock.signing import standard_signature, verify_signature

if TYPE_CHECKING:
    from envoice_mock.runtime.wiring import Runtime

# Events written at once: the rest wait in the reader's bounded queue, so the server's flow
# control holds a slow reader back and its queue fills (and it is dropped) instead of
# the server buffering without end.
BATCH = 500
# After each write a stream waits this long before the next: events arriving meanwhile go out
# in one write. A dashboard does not need them sooner, and ten of them then cost the server
# a few writes a second each instead of one per event.
COALESCE = 0.05
HEARTBEAT = 15.0  # seconds between keep-alive comments on an idle stream
DETAILS_KEPT = 5000  # attempts whose wire headers and answer are kept for the detail view
ANSWER_SHOWN = 1024  # bytes of a receiver's answer kept


class AnswerCapture:
    """The newest attempts' request headers as sent and the receiver's status and answer start."""

    def __init__(self, limit: int = DETAILS_KEPT) -> None:
        self.limit = limit
        self._seen: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __call__(self, headers: dict[str, str], status: int, answer: bytes) -> None:
        """Called by the poster after each answer."""
        delivery = headers.get("X-Envoice-Delivery")
        if not delivery:
            return
        self._seen[delivery] = {
            "Headers": dict(headers),
            "Status": status,
            "Answer": answer[:ANSWER_SHOWN].decode("utf-8", "replace"),
            "AnswerTruncated": len(answer) > ANSWER_SHOWN,
        }
        if len(self._seen) > self.limit:
            self._seen.popitem(last=False)

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        """What was captured for an attempt, if still kept."""
        return self._seen.get(delivery_id)


@dataclass
class Live:
    """The observers of one runtime."""

    bus: EventBus
    journal: RequestJournal
    deliveries: DeliveryObserver
    answers: AnswerCapture = field(default_factory=AnswerCapture)


def install(runtime: Runtime) -> Live:
    """Hook the event bus and the journal onto a runtime (once)."""
    live: Live | None = runtime.extras.get("live")
    if live is None:
        bus = EventBus()
        observer = observe(bus, runtime.store, runtime.webhooks)
        clock = runtime.clock

        def stamp(seconds: float) -> str:
            return webhook_timestamp(clock.origin + timedelta(seconds=seconds))

        live = runtime.extras["live"] = Live(bus, RequestJournal(stamp), observer)
    return live


def attach_answer_capture(runtime: Runtime) -> None:
    """Once the dispatcher has its poster: note what each receiver answered."""
    poster = getattr(runtime.webhooks, "_poster", None)
    if poster is not None and hasattr(poster, "on_answer"):
        poster.on_answer = install(runtime).answers


def end_streams_on_exit_signals(runtime: Runtime) -> None:
    """Event streams never end by themselves, and uvicorn waits for open responses before it
    exits: chain onto its SIGINT/SIGTERM handlers so that a stop ends every stream at once.
    (Only in the main thread, where the CLI runs uvicorn.)"""
    if threading.current_thread() is not threading.main_thread():
        return
    bus = install(runtime).bus
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if not callable(previous) or getattr(previous, "ends_event_streams", False):
            continue

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            bus.close_all()
            previous(signum, frame)

        handler.ends_event_streams = True  # type: ignore[attr-defined]
        signal.signal(sig, handler)


def close_streams(runtime: Runtime) -> None:
    """End every open event stream of a runtime (before stopping a server in a thread)."""
    live = runtime.extras.get("live")
    if live is not None:
        live.bus.close_all()


def live_of(request: Request) -> Live:
    """The observers of the request's runtime."""
    return install(runtime_of(request))


# --- /_mock/events ----------------------------------------------------------------------------
async def events(request: Request) -> Response:
    """Server-Sent Events: the account's activities, deliveries, webhook states, requests, actions.

    Resumes after `Last-Event-ID` (header, or `lastEventId` query); `types=delivery,webhook`
    narrows the stream. A reader too far behind gets a `reset` event and the live stream.
    """
    account = authenticate(request)
    live = live_of(request)
    types = request.query_params.get("types")
    wanted = frozenset(t.strip() for t in types.split(",") if t.strip()) if types else None
    last = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    if last is not None and not last.strip().isdigit():
        raise ApiFault(
            400, "InvalidValue", "Last-Event-ID must be an event id (a whole number).", field="Last-Event-ID"
        )
    try:
        sub = live.bus.subscribe(account.key, wanted)
    except TooManySubscribers:
        raise ApiFault(
            503, "TooManyStreams", f"This account already has {live.bus.max_subscribers} open event streams."
        ) from None
    backlog = None if last is None else live.bus.since(account.key, int(last))

    async def stream() -> AsyncIterator[bytes]:
        try:
            hello = {"Account": account.key, "LastEventId": live.bus.last_id(account.key)}
            yield f"retry: 1000\nevent: hello\ndata: {json.dumps(hello)}\n\n".encode()
            if last is not None and backlog is None:
                yield b'event: reset\ndata: {"Reason":"too far behind: reload the state"}\n\n'
            for event in backlog or ():
                if wanted is None or event.type in wanted:
                    yield event.wire()
            sent = backlog[-1].id if backlog else 0
            while not sub.overflowed and not sub.closed:
                batch = await sub.next_batch(HEARTBEAT, BATCH)
                if sub.overflowed or sub.closed:
                    break
                if not batch:
                    yield b": keep-alive\n\n"
                    continue
                yield b"".join(e.wire() for e in batch if e.id > sent)
                await asyncio.sleep(COALESCE)
            if sub.overflowed:
                yield b'event: overflow\ndata: {"Reason":"this reader fell behind; reconnect with Last-Event-ID"}\n\n'
            else:
                yield b'event: bye\ndata: {"Reason":"the server is shutting down"}\n\n'
        finally:
            live.bus.unsubscribe(sub)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# --- /_mock/requests --------------------------------------------------------------------------
MAX_PAGE = 500


async def requests_list(request: Request) -> Response:
    """The account's API calls, newest first; filter by method, path, status; page with
    page/pageSize (1-based, default 50) or take only those after `since` (a journal id)."""
    account = authenticate(request)
    q = request.query_params
    try:
        keep = RequestFilter(q.get("method"), q.get("path"), q.get("status"))
    except ValueError as exc:
        raise ApiFault(400, "InvalidValue", str(exc), field="status") from None
    page = _positive(q.get("page"), "page", 1)
    size = min(_positive(q.get("pageSize"), "pageSize", 50), MAX_PAGE)
    since = _positive(q.get("since"), "since", 0, minimum=0)
    live = live_of(request)
    rows = live.journal.query(account.key, keep, since)
    start = (page - 1) * size
    chosen = rows[start : start + size]
    return respond(
        request,
        {
            "TotalCount": len(rows),
            "Count": len(chosen),
            "Result": [e.as_dict(live.journal.stamp) for e in chosen],
        },
    )


def _positive(raw: str | None, name: str, default: int, minimum: int = 1) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < minimum or len(raw) > 9:
        raise ApiFault(400, "InvalidValue", f"{name} must be a whole number, {minimum} or more.", field=name)
    return int(raw)


async def requests_clear(request: Request) -> Response:
    """Forget the account's journal (ids keep counting up)."""
    account = authenticate(request)
    live_of(request).journal.clear(account.key)
    return respond(request, {"Cleared": True})


# --- /_mock/deliveries/{id} -------------------------------------------------------------------
async def delivery_detail(request: Request) -> Response:
    """One attempt: the record, the request as sent, the receiver's answer, signature checks."""
    account = authenticate(request)
    runtime = runtime_of(request)
    delivery_id = request.path_params["id"]
    record = next((r for r in runtime.webhooks.log(account) if r["DeliveryId"] == delivery_id), None)
    if record is None:
        raise ApiFault(404, "NotFound", f"There is no delivery attempt {delivery_id!r} (or it is too old).")
    return respond(request, attempt_detail(runtime, account.key, record))


def attempt_detail(runtime: Runtime, account: str, record: dict[str, Any]) -> dict[str, Any]:
    """The attempt record with what went over the wire and whether its signatures verify."""
    hook = runtime.webhooks.hooks.get(account, {}).get(record["WebhookId"])
    body = record.get("Body", "").encode()
    captured = install(runtime).answers.get(record["DeliveryId"])
    out = dict(record)
    try:
        out["Payload"] = json.loads(body)
    except ValueError:
        out["Payload"] = None
    out["Sent"] = captured is not None or out.get("Answer") is not None
    out["RequestHeaders"] = captured["Headers"] if captured else None
    if "Answer" not in out:  # the delivery log keeps the answer's start itself since it is bounded
        out["Answer"] = captured["Answer"] if captured else None
        out["AnswerTruncated"] = captured["AnswerTruncated"] if captured else False
    out["SignatureValid"] = verify_signature(body, hook.secret) if hook else None
    out["StandardSignatureValid"] = None
    if hook and captured:
        headers = captured["Headers"]
        try:
            expected = standard_signature(
                hook.secret, headers["webhook-id"], int(headers["webhook-timestamp"]), body
            )
            out["StandardSignatureValid"] = expected == headers["webhook-signature"]
        except (KeyError, ValueError):
            out["StandardSignatureValid"] = False
    out["WebhookSecretKnown"] = hook is not None
    return out


def live_routes() -> list[Route]:
    """The routes of this module."""
    return [
        Route("/_mock/events", guarded(events), methods=["GET"]),
        Route("/_mock/requests", guarded(requests_list), methods=["GET"]),
        Route("/_mock/requests", guarded(requests_clear), methods=["DELETE"]),
        Route("/_mock/deliveries/{id}", guarded(delivery_detail), methods=["GET"]),
    ]
