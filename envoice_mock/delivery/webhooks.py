"""The webhook engine: subscriptions, an outbox, an async dispatcher, retries, catch-up, a log.

Every activity the store records is queued for each of the account's webhooks registered
before it happened. Attempts run on the injectable clock's time line:

* live: the first attempt at once; on anything but HTTP 200 one retry after each delay of
  the retry schedule. Later activities are attempted meanwhile, so a receiver can see them
  out of order, as in real life.
* failing: when an activity exhausts the schedule the webhook is `failing`; new activities
  are held, and one probe (the oldest held activity) is sent every probe interval.
* catch-up: when a probe gets 200 the webhook is `healthy` again and receives everything it
  missed, in chronological order (CreatedOn, then Id), before live deliveries resume.
* stalled: after an attempt times out, the webhook gets only retries (and probes) until a
  receiver answers again, so a receiver that never answers costs one timeout per step of the
  schedule, not one per queued activity, and reaches `failing` on the schedule.

Anything that goes wrong inside an attempt, the engine's own bugs included, is a failed
attempt: logged with the error and retried on the schedule. Each account's attempts wait on
that account's own time line (see outbox.py).

The engine knows the store only through the activities it is handed and `Account.key`.
Chaos (scenarios) plugs in through `chaos`, an object with `plan()` and `on_enqueue()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from envoice_mock.clock import Clock, iso, parse_iso, webhook_timestamp
from envoice_mock.config import Settings
from envoice_mock.delivery.log import DeliveryLog
from envoice_mock.delivery.outbox import Outbox
from envoice_mock.fakedata import SeededSource
from envoice_mock.faults import ApiFault
from envoice_mock.ids import webhook_id
from envoice_mock.signing import sign, standard_signature, whsec

log = logging.getLogger("envoice_mock.delivery.webhooks")

MAX_WEBHOOKS = 10
MAX_ANSWER_BYTES = 4096  # of a receiver's answer body read and kept in the delivery log; the rest is dropped
PAYLOAD_FIELDS = (
    "Message",
    "Link",
    "Type",
    "InvoiceNumber",
    "InvoiceId",
    "OrderNumber",
    "OrderId",
    "Id",
    "CreatedOn",
)


class AccountLike(Protocol):
    """What the engine needs of an account."""

    key: str
    secret: str
    activities: list[dict[str, Any]]

    def next_id(self, sequence: str) -> int: ...


@dataclass
class Webhook:
    """One registered URL of an account, with its delivery state."""

    id: str
    account: str
    url: str
    secret: str
    created_on: str
    since_activity: int
    state: str = "healthy"  # healthy | retrying | failing
    delivered: set[int] = field(default_factory=set)
    retrying: dict[int, dict[str, Any]] = field(
        default_factory=dict
    )  # activity id -> activity, between retries
    held: dict[int, dict[str, Any]] = field(default_factory=dict)  # activity id -> activity, while failing
    catching_up: bool = False
    next_probe: float | None = None
    attempts_failed: int = 0
    history: list[list[str]] = field(default_factory=list)  # [when, state] at each change
    tries: dict[int, int] = field(default_factory=dict)  # activity id -> attempts sent so far

    def describe(self) -> dict[str, Any]:
        """The control API's view of this webhook."""
        return {
            "Id": self.id,
            "Url": self.url,
            "State": self.state,
            "CatchingUp": self.catching_up,
            "Pending": len(self.retrying) + len(self.held),
            "Delivered": len(self.delivered),
            "Failed": self.attempts_failed,
            "Secret": self.secret,
            "StandardWebhooksSecret": whsec(self.secret),
            "CreatedOn": self.created_on,
            "History": [list(h) for h in self.history],
        }


@dataclass(order=True, slots=True)
class Job:
    """An attempt (or probe) due at `due` seconds on the clock's time line."""

    due: float
    order: int
    hook_id: str = field(compare=False)
    activity: dict[str, Any] = field(compare=False)
    attempt: int = field(compare=False, default=1)
    kind: str = field(compare=False, default="live")  # live | retry | probe | catchup | replay | duplicate
    scheduled: float = field(compare=False, default=0.0)
    marks: tuple[str, ...] = field(compare=False, default=())


@dataclass
class Plan:
    """What chaos does to one attempt."""

    status: int | None = None  # answer this status without sending
    error: str | None = None  # "timeout" | "refused": fail without sending
    delay: float = 0.0  # virtual seconds to hold the attempt back
    corrupt_signature: bool = False
    duplicates: int = 0
    marks: list[str] = field(default_factory=list)


@dataclass
class Answer:
    """A receiver's answer: the status and at most MAX_ANSWER_BYTES of the body."""

    status: int
    body: bytes = b""
    truncated: bool = False


class Poster(Protocol):
    """Sends one delivery; answers the receiver's Answer. Raises TimeoutError or OSError-like errors."""

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer: ...
    async def close(self) -> None: ...


class AiohttpPoster:
    """Pooled keep-alive HTTP/1.1 over aiohttp (measured several times faster than httpx here)."""

    def __init__(self, timeout: float, max_connections: int = 256) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        # Told of every answer (request headers, status, answer body): the dashboard's attempt detail.
        self.on_answer: Callable[[dict[str, str], int, bytes], None] | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
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


class Chaos(Protocol):
    """Delivery faults injected by scenarios (see chaos.py)."""

    def plan(self, hook: Webhook, job: Job) -> Plan: ...
    def on_enqueue(self, hook: Webhook, jobs: list[Job]) -> list[Job]: ...


class WebhookEngine:
    """Subscriptions, outbox and dispatcher for every account."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        journal: Any = None,
        poster: Poster | None = None,
        activity_types: tuple[str, ...] = (),
    ) -> None:
        self.settings = settings
        self.activity_types = activity_types
        self.clock = clock
        self.journal = journal
        self.hooks: dict[str, dict[str, Webhook]] = {}  # account key -> id -> webhook
        self.delivery_log = DeliveryLog()  # the newest attempts of each account
        self.chaos: Chaos | None = None
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.outbox = Outbox(clock)
        self._poster: Poster | None = poster
        self._order = itertools.count()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[asyncio.Task[None], str] = {}  # attempt task -> account key
        self._busy: Counter[str] = Counter()  # hook id -> workers running
        self._delivered: Counter[str] = Counter()  # hook id -> activities delivered (ids live in the journal)
        self._held_order: dict[str, list[tuple[tuple[datetime, int], int]]] = {}  # hook id -> heap
        self._stalled: set[str] = set()  # hooks whose last attempt timed out: retries and probes only
        self._stopping = False
        self._resumed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids: dict[str, SeededSource] = {}
        self._by_id: dict[str, Webhook] = {}  # every account's webhooks, by id
        self.boot = getattr(journal, "boot", 1)  # delivery ids of each start of a state file differ
        clock.on_advance(self._poke)

    # --- subscriptions ------------------------------------------------------------------
    def add(self, account: AccountLike, url: Any, secret: Any = None) -> dict[str, Any]:
        """Register a URL for the account (at most 10; http/https only)."""
        if not isinstance(url, str) or not url.strip():
            raise ApiFault(400, "Required", "is required (an http:// or https:// URL)", field="Url")
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiFault(400, "InvalidValue", f"{url!r} is not an http:// or https:// URL", field="Url")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ApiFault(400, "InvalidValue", "must be a non-empty string", field="Secret")
        hooks = self.hooks.setdefault(account.key, {})
        if len(hooks) >= MAX_WEBHOOKS:
            raise ApiFault(
                400, "WebhookLimit", f"An account can register at most {MAX_WEBHOOKS} webhooks.", field="Url"
            )
        hook = Webhook(
            id=webhook_id(self.settings.seed, account.key, account.next_id("webhook")),
            account=account.key,
            url=url,
            secret=secret or account.secret,
            created_on=iso(self.clock.now(account.key)),
            since_activity=account.activities[-1]["Id"] if account.activities else 0,
        )
        hooks[hook.id] = self._by_id[hook.id] = hook
        if self.journal:
            with self.journal.transaction():  # the id counter is saved with the webhook
                self._save(hook)
                self.journal.save_account(account)
        return self._describe(hook)

    def remove(self, account: AccountLike, hook_id: str) -> None:
        """Unregister a webhook; its queued attempts are dropped."""
        hooks = self.hooks.get(account.key, {})
        if hook_id not in hooks:
            raise ApiFault(404, "NotFound", f"There is no webhook {hook_id!r}.", field="id")
        del hooks[hook_id]
        self._by_id.pop(hook_id, None)
        self.outbox.drop({hook_id})
        self._stalled.discard(hook_id)
        if self.journal:
            self.journal.delete_webhook(account.key, hook_id)

    def describe(self, account: AccountLike) -> list[dict[str, Any]]:
        """Every webhook of the account."""
        return [self._describe(h) for h in self.hooks.get(account.key, {}).values()]

    def _describe(self, hook: Webhook) -> dict[str, Any]:
        """A webhook's view, its Pending count including attempts queued or in flight."""
        return hook.describe() | {
            "Pending": len(hook.held) + self.outbox.owed(hook.id),
            "Delivered": self._delivered[hook.id],
        }

    def forget_activities(self, account: AccountLike) -> None:
        """After a reset: the account's history starts again; webhooks keep their URLs."""
        for hook in self.hooks.get(account.key, {}).values():
            hook.since_activity = account.activities[-1]["Id"] if account.activities else 0
            hook.delivered.clear()
            self._delivered.pop(hook.id, None)
            hook.retrying.clear()
            hook.held.clear()
            self._held_order.pop(hook.id, None)
            hook.tries.clear()
            self._set_state(hook, "healthy")
            hook.catching_up = False
            self._save(hook)
        ids = set(self.hooks.get(account.key, {}))
        self.outbox.drop(ids)
        self.delivery_log.forget(account.key)
        self._stalled -= ids

    # --- the outbox ---------------------------------------------------------------------
    def on_activity(self, account: AccountLike, activity: dict[str, Any]) -> None:
        """The store recorded an activity: queue it for every webhook of the account."""
        for hook in self.hooks.get(account.key, {}).values():
            if activity["Id"] > hook.since_activity:
                self.enqueue(hook, activity)

    def enqueue(
        self,
        hook: Webhook,
        activity: dict[str, Any],
        kind: str = "live",
        marks: tuple[str, ...] = (),
    ) -> None:
        """Queue the first attempt of an activity to one webhook (held while the hook is failing)."""
        if kind == "live" and (hook.state == "failing" or hook.catching_up):
            self._hold(hook, activity)
            return
        now = self.clock.seconds(hook.account)
        jobs = [Job(now, next(self._order), hook.id, activity, 1, kind, now, marks)]
        if self.chaos and kind == "live":
            jobs = self.chaos.on_enqueue(hook, jobs)
        for job in jobs:
            self._push(job)

    def replay(
        self, hook: Webhook, activities: list[dict[str, Any]], marks: tuple[str, ...] = ("replay",)
    ) -> int:
        """Send past activities again (in the order given)."""
        for activity in activities:
            self.enqueue(hook, activity, kind="replay", marks=marks)
        return len(activities)

    def pending_count(self, account: AccountLike | None = None) -> int:
        """What the account's webhooks (or all) are owed: the sum of their `Pending` counts."""
        return sum(
            len(h.held) + self.outbox.owed(h.id)
            for key, hs in self.hooks.items()
            if account is None or key == account.key
            for h in hs.values()
        )

    def next_in(self, account: AccountLike | None = None) -> float | None:
        """Virtual seconds until the account's next queued attempt (or anyone's), if any."""
        return self.outbox.next_in(None if account is None else account.key)

    def log(
        self,
        account: AccountLike,
        webhook: str | None = None,
        activity: int | None = None,
        outcome: str | None = None,
        since: int = 0,
    ) -> Iterator[dict[str, Any]]:
        """Delivery attempts of an account after Seq `since`, oldest first, optionally filtered."""
        return self.delivery_log.rows(account.key, since, webhook, activity, outcome)

    # --- payloads -----------------------------------------------------------------------
    def activity_payload(self, activity: dict[str, Any]) -> dict[str, Any]:
        """The Activity object as the webhook body carries it (Type as the enum's index)."""
        out: dict[str, Any] = {}
        for name in PAYLOAD_FIELDS:
            value = activity.get(name)
            if name == "Type":
                value = self.activity_types.index(value) if value in self.activity_types else value
            elif name == "CreatedOn" and value:
                value = webhook_timestamp(parse_iso(value))
            elif name in ("InvoiceId", "OrderId") and value is None:
                value = 0
            out[name] = value
        return out

    def build_request(
        self, hook: Webhook, job: Job, delivery_id: str, corrupt: bool = False, attempt: int = 0
    ) -> tuple[bytes, dict[str, str]]:
        """The signed body and headers of one attempt (`attempt`: the activity's n-th to this hook)."""
        now = self.clock.now(hook.account)
        timestamp = webhook_timestamp(now)
        activity = self.activity_payload(job.activity)
        signature = sign(hook.secret, timestamp, activity)
        if corrupt:
            signature = signature[::-1]
        body = json.dumps(
            {"Signature": signature, "Timestamp": timestamp, "Activity": activity},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        msg_id = f"msg_{hook.id}_{job.activity['Id']}"
        # The Standard Webhooks timestamp is the real send time, so receivers that check its
        # freshness (as the standardwebhooks library does, within 5 minutes) accept deliveries
        # even from a virtual clock; the body's Timestamp stays on the mock's clock.
        unix = int(time.time())
        std = standard_signature(hook.secret, msg_id, unix, body)
        if corrupt:
            std = "v1," + std[3:][::-1]
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "envoice-mock-webhooks/1",
            "X-Envoice-Signature": signature,
            "X-Envoice-Delivery": delivery_id,
            "X-Envoice-Attempt": str(attempt or job.attempt),
            "webhook-id": msg_id,
            "webhook-timestamp": str(unix),
            "webhook-signature": std,
        }
        return body, headers

    # --- the dispatcher -----------------------------------------------------------------
    async def start(self) -> None:
        """Start the dispatcher task (idempotent)."""
        if self._task is not None:
            return
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._poster is None:
            self._poster = AiohttpPoster(self.settings.delivery_timeout)
        self._resume_after_restart()
        for hook_id in self.outbox.ready_hooks():  # left waiting by an earlier stop
            self._pump(hook_id)
        self._task = asyncio.create_task(self._run(), name="envoice-mock-dispatcher")

    async def stop(self) -> None:
        """Stop dispatching at once: attempts in flight are abandoned (an abandoned attempt was not
        acknowledged, so with a state file it is owed and sent again after a restart)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        tasks = list(self._inflight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._poster is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._poster.close(), timeout=2.0)
            self._poster = None

    def stop_soon(self) -> None:
        """From any thread or a signal handler: stop sending, abandon attempts in flight, and let
        every settle/idle wait return now (the server is shutting down)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._abandon)

    def _abandon(self) -> None:
        self._stopping = True
        for task in list(self._inflight):
            task.cancel()
        self._poke()

    async def settle_due(self, account: str | None = None, timeout: float = 30.0) -> None:
        """Wait until no attempt (of one account, or any) is due now and none is in flight."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stopping:
            self._dispatch_due(account)
            tasks = [t for t, key in self._inflight.items() if account is None or key == account]
            if not tasks:
                nxt = self.outbox.next_in(account)
                if nxt is None or nxt > 0:
                    return
                continue
            await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))

    async def run_until_idle(
        self,
        max_virtual: float = 86400.0,
        timeout: float = 120.0,
        on_advance: Callable[[], Any] | None = None,
        account: str | None = None,
    ) -> None:
        """Drive virtual time (one account's, or the server's): deliver, jump to the next due
        attempt, repeat, until nothing is queued or `max_virtual` seconds have passed."""
        start = self.clock.seconds(account)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stopping:
            await self.settle_due(account, timeout=max(0.1, deadline - time.monotonic()))
            nxt = self.outbox.next_in(account)
            if nxt is None or self.clock.seconds(account) + nxt - start > max_virtual:
                return
            self.clock.advance(max(0.0, nxt), account)
            if on_advance:
                on_advance()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _queue(
        self,
        hook: Webhook,
        activity: dict[str, Any],
        due: float,
        kind: str,
        attempt: int = 1,
        marks: tuple[str, ...] = (),
        scheduled: float | None = None,
    ) -> None:
        """Queue an attempt at `due` (the account's clock seconds), after everything already queued then."""
        now = self.clock.seconds(hook.account)
        job = Job(
            due,
            next(self._order),
            hook.id,
            activity,
            attempt,
            kind,
            now if scheduled is None else scheduled,
            marks,
        )
        self._push(job)

    def push_now(self, job: Job) -> None:
        """Queue an attempt due now, after everything already due (chaos releases reordered jobs so)."""
        hook = self._by_id.get(job.hook_id)
        if hook is None:
            return
        job.due = self.clock.seconds(hook.account)
        job.order = next(self._order)
        self._push(job)

    def _push(self, job: Job) -> None:
        hook = self._by_id.get(job.hook_id)
        if hook is None:
            return
        self.outbox.push(hook.account, job)
        self._poke()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._dispatch_due()
            nxt = self.outbox.next_in()
            wait = None if nxt is None else self.clock.real_delay(nxt)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=None if wait is None else max(wait, 0.001))

    def _dispatch_due(self, account: str | None = None) -> None:
        for hook_id in self.outbox.promote(account):
            self._pump(hook_id)

    def _pump(self, hook_id: str) -> None:
        """Start workers for the webhook's ready attempts, up to its concurrency."""
        if self._stopping:
            return
        hook = self._by_id.get(hook_id)
        if hook is None:
            for dropped in self.outbox.take_all(hook_id):
                self.outbox.release(dropped)
            return
        limit = max(1, self.settings.delivery_concurrency)
        while self._busy[hook_id] < limit and self.outbox.has_ready(hook_id, hook_id in self._stalled):
            self._busy[hook_id] += 1
            task = asyncio.ensure_future(self._work(hook))
            self._inflight[task] = hook.account
            task.add_done_callback(functools.partial(self._finished, hook_id))

    async def _work(self, hook: Webhook) -> None:
        """One slot of a webhook: attempt ready jobs one after another; held ones cost nothing."""
        while not self._stopping and self._by_id.get(hook.id) is hook:
            job = self.outbox.take(hook.id, urgent_only=hook.id in self._stalled)
            if job is None:
                return
            if job.kind in ("live", "retry") and hook.state == "failing":
                hook.retrying.pop(job.activity["Id"], None)
                self._hold(hook, job.activity)
                self.outbox.release(job)
                continue
            await self._attempt(hook, job)

    def _finished(self, hook_id: str, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._busy[hook_id] -= 1
        if self._busy[hook_id] <= 0:
            del self._busy[hook_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook dispatcher error", exc_info=task.exception())
        self._pump(hook_id)  # what fell due while this worker was finishing

    async def _attempt(self, hook: Webhook, job: Job) -> None:
        released = False
        try:
            internal: Exception | None = None
            plan = Plan()
            try:
                if self.chaos:
                    plan = self.chaos.plan(hook, job)
            except Exception as exc:  # a bug in chaos: this attempt fails, like any other failure
                internal = exc
            if plan.delay > 0 and internal is None:
                due = self.clock.seconds(hook.account) + plan.delay
                marks = (*job.marks, *plan.marks)
                self._queue(hook, job.activity, due, job.kind, job.attempt, marks, scheduled=job.scheduled)
                return
            try:
                record, timed_out = await self._send(hook, job, plan, internal)
            except asyncio.CancelledError:  # stopping: the attempt stays owed, due at once on the next start
                self._queue(
                    hook, job.activity, self.clock.seconds(hook.account), job.kind, job.attempt, job.marks
                )
                raise
            self.outbox.release(job)
            released = True
            try:
                self._after(hook, job, record["StatusCode"], record["Error"], timed_out)
            except Exception:
                log.exception("webhook engine error after delivery %s", record["DeliveryId"])
            record["State"] = hook.state
            self.delivery_log.append(hook.account, record)
            for listener in self.listeners:
                try:
                    listener(record)
                except Exception:
                    log.exception("delivery listener failed")
            for _ in range(plan.duplicates):
                now = self.clock.seconds(hook.account)
                self._queue(hook, job.activity, now, "duplicate", marks=("duplicate",))
        finally:
            if not released:
                self.outbox.release(job)

    async def _send(
        self, hook: Webhook, job: Job, plan: Plan, internal: Exception | None = None
    ) -> tuple[dict[str, Any], bool]:
        """One attempt; never raises but on cancellation. Answers the log record and whether it timed out."""
        delivery_id = self._source("delivery", str(self.boot), hook.id).uuid()
        attempt = hook.tries[job.activity["Id"]] = hook.tries.get(job.activity["Id"], 0) + 1
        sent_at = self.clock.now(hook.account)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        answer: Answer | None = None
        body = b""
        timed_out = False
        timeout_text = f"no answer within {self.settings.delivery_timeout:g}s (timeout)"
        try:
            if internal is not None:
                raise internal
            body, headers = self.build_request(
                hook, job, delivery_id, corrupt=plan.corrupt_signature, attempt=attempt
            )
        except Exception as exc:  # the engine's own bug: a failed attempt, retried on the schedule
            error = f"internal error: {type(exc).__name__}: {exc}"
            log.error(
                "delivery %s of activity %s failed inside the mock",
                delivery_id,
                job.activity.get("Id"),
                exc_info=exc,
            )
        else:
            if plan.status is not None:
                status = plan.status
            elif plan.error is not None:
                error = {"timeout": timeout_text, "refused": "connection refused"}.get(plan.error, plan.error)
            else:
                assert self._poster is not None
                try:
                    answer = await self._poster.post(hook.url, body, headers)
                    status = answer.status
                except TimeoutError:
                    error, timed_out = timeout_text, True
                except aiohttp.ClientConnectorError as exc:
                    error = (
                        f"connection failed: {exc.os_error.strerror or exc}"
                        if exc.os_error
                        else "connection refused"
                    )
                except (aiohttp.ClientError, OSError, ValueError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                except Exception as exc:  # anything else is still a failed attempt
                    error = f"internal error: {type(exc).__name__}: {exc}"
                    log.error("delivery %s failed inside the mock", delivery_id, exc_info=exc)
        duration = (time.perf_counter() - started) * 1000
        record = {
            "DeliveryId": delivery_id,
            "WebhookId": hook.id,
            "Url": hook.url,
            "ActivityId": job.activity["Id"],
            "ActivityType": job.activity.get("Type"),
            "ActivityCreatedOn": job.activity.get("CreatedOn"),
            "Attempt": attempt,
            "Kind": job.kind,
            "ScheduledAt": _at(self.clock, job.scheduled),
            "SentAt": webhook_timestamp(sent_at),
            "StatusCode": status,
            "Error": error,
            "DurationMs": round(duration, 3),
            "Outcome": "delivered" if status == 200 else "failed",
            "Chaos": [*job.marks, *plan.marks],
            "Body": body.decode(errors="replace"),
            "Answer": answer.body.decode(errors="replace") if answer else None,
            "AnswerTruncated": answer.truncated if answer else False,
        }
        return record, timed_out

    def _after(
        self, hook: Webhook, job: Job, status: int | None, error: str | None, timed_out: bool = False
    ) -> None:
        aid = job.activity["Id"]
        now = self.clock.seconds(hook.account)
        if status is not None:
            self._stalled.discard(hook.id)  # the receiver answers again
        if status == 200:
            if job.kind not in ("duplicate", "replay"):  # owed no more: count it, forget its attempts
                self._delivered[hook.id] += 1
                hook.tries.pop(aid, None)
            hook.retrying.pop(aid, None)
            hook.held.pop(aid, None)
            if self.journal:
                self.journal.mark_delivered(hook.account, hook.id, aid)
            if job.kind == "probe":
                self._set_state(hook, "healthy")
                hook.next_probe = None
                self._start_catch_up(hook)
            elif job.kind == "catchup":
                self._continue_catch_up(hook)
            if hook.state == "retrying" and not hook.retrying:
                self._set_state(hook, "healthy")
            self._save(hook)
            return
        hook.attempts_failed += 1
        if job.kind in ("duplicate", "replay"):
            return
        if job.kind in ("probe", "catchup"):
            self._stalled.discard(hook.id)  # failing: what waits in the lane is held as it is taken
            self._set_state(hook, "failing")
            hook.catching_up = False
            self._hold(hook, job.activity)
            self._schedule_probe(hook, now)
            self._save(hook)
            return
        schedule = self.settings.retry_schedule
        if job.attempt <= len(schedule):
            hook.retrying[aid] = job.activity
            if hook.state == "healthy":
                self._set_state(hook, "retrying")
            self._queue(
                hook, job.activity, now + schedule[job.attempt - 1], "retry", job.attempt + 1, job.marks
            )
            if timed_out:  # first attempts wait until this retry gets an answer: one timeout per step
                self._stalled.add(hook.id)
            self._save(hook)
            return
        # Exhausted: the webhook is failing; everything not yet delivered is held for catch-up.
        hook.retrying.pop(aid, None)
        self._hold(hook, job.activity)
        self._set_state(hook, "failing")
        for other, activity in hook.retrying.items():
            if other not in hook.held:
                self._hold(hook, activity)
        hook.retrying.clear()
        self._stalled.discard(hook.id)  # what waits in the lane is held as it is taken, at no cost
        self._schedule_probe(hook, now)
        self._save(hook)

    def _set_state(self, hook: Webhook, state: str) -> None:
        if hook.state != state:
            hook.state = state
            hook.history.append([webhook_timestamp(self.clock.now(hook.account)), state])

    def _schedule_probe(self, hook: Webhook, now: float) -> None:
        if hook.next_probe is not None and hook.next_probe > now:
            return
        hook.next_probe = now + self.settings.probe_interval
        oldest = self._oldest_held(hook)
        if oldest is not None:
            self._queue(hook, oldest, hook.next_probe, "probe", marks=("probe",))

    def _hold(self, hook: Webhook, activity: dict[str, Any]) -> None:
        """Keep an activity for catch-up, remembering its chronological place."""
        if activity["Id"] not in hook.held:
            heapq.heappush(
                self._held_order.setdefault(hook.id, []), (chronological(activity), activity["Id"])
            )
        hook.held[activity["Id"]] = activity

    def _oldest_held(self, hook: Webhook) -> dict[str, Any] | None:
        """The held activity first in time (CreatedOn, then Id): a heap, so catch-up stays linear."""
        if not hook.held:
            self._held_order.pop(hook.id, None)
            return None
        order = self._held_order.get(hook.id) or []
        while order and order[0][1] not in hook.held:
            heapq.heappop(order)
        if not order:  # held filled some other way: index it afresh
            order = self._held_order[hook.id] = [(chronological(a), i) for i, a in hook.held.items()]
            heapq.heapify(order)
        return hook.held[order[0][1]]

    def _start_catch_up(self, hook: Webhook) -> None:
        hook.catching_up = bool(hook.held)
        self._continue_catch_up(hook)

    def _continue_catch_up(self, hook: Webhook) -> None:
        nxt = self._oldest_held(hook)
        if nxt is None:
            hook.catching_up = False
            return
        hook.catching_up = True
        self._queue(hook, nxt, self.clock.seconds(hook.account), "catchup", marks=("catchup",))

    def _source(self, *namespace: str) -> SeededSource:
        """The seeded id source of a namespace, built once (ids depend only on seed and order)."""
        key = ":".join(namespace)
        source = self._ids.get(key)
        if source is None:
            source = self._ids[key] = SeededSource(self.settings.seed, *namespace)
        return source

    def _save(self, hook: Webhook) -> None:
        if self.journal:
            self.journal.save_webhook(hook)

    def restore_webhook(self, hook: Webhook) -> None:
        """Put back a webhook loaded from the journal."""
        self.hooks.setdefault(hook.account, {})[hook.id] = self._by_id[hook.id] = hook

    def _resume_after_restart(self) -> None:
        """Queue what restored webhooks still owe: at least once, never zero (once per engine)."""
        if not self.journal or self._resumed:
            return
        self._resumed = True
        for key, hooks in self.hooks.items():
            activities = self.journal.activities_for(key)
            for hook in hooks.values():
                owed = [
                    a for a in activities if a["Id"] > hook.since_activity and a["Id"] not in hook.delivered
                ]
                owed.sort(key=chronological)
                self._delivered[hook.id] = len(hook.delivered)
                hook.delivered = set()  # the journal keeps the ids; memory keeps the count
                hook.retrying.clear()
                if hook.state == "failing":
                    hook.held = {}
                    for activity in owed:
                        self._hold(hook, activity)
                    hook.next_probe = None
                    self._schedule_probe(hook, self.clock.seconds(hook.account))
                else:
                    self._set_state(hook, "healthy")
                    for activity in owed:
                        self.enqueue(hook, activity)


def chronological(activity: dict[str, Any]) -> tuple[datetime, int]:
    """Sort key: CreatedOn, then Id."""
    return parse_iso(activity.get("CreatedOn") or "1970-01-01T00:00:00+00:00"), int(activity["Id"])


def _at(clock: Clock, seconds: float) -> str:
    return webhook_timestamp(clock.origin + timedelta(seconds=seconds))
