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

The engine knows the store only through the activities it is handed and `Account.key`.
Chaos (scenarios) plugs in through `chaos`, an object with `plan()` and `on_enqueue()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from .clock import Clock, iso, parse_iso, webhook_timestamp
from .config import Settings
from .fakedata import SeededSource
from .faults import ApiFault
from .ids import webhook_id
from .signing import sign, standard_signature, whsec

MAX_WEBHOOKS = 10
MAX_LOG = 20_000  # delivery attempts kept per account (the oldest are dropped first)
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


@dataclass(order=True)
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


class Poster(Protocol):
    """Sends one delivery; answers the HTTP status. Raises TimeoutError or OSError-like errors."""

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int: ...
    async def close(self) -> None: ...


class AiohttpPoster:
    """Pooled keep-alive HTTP/1.1 over aiohttp (measured several times faster than httpx here)."""

    def __init__(self, timeout: float, max_connections: int = 256) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        # Told of every answer (request headers, status, answer body): the dashboard's attempt detail.
        self.on_answer: Callable[[dict[str, str], int, bytes], None] | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST and read the (small) answer so the connection goes back to the pool."""
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
            answer = await response.read()
            if self.on_answer is not None:
                self.on_answer(headers, response.status, answer)
            return response.status

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
        self.deliveries: dict[str, deque[dict[str, Any]]] = {}  # newest MAX_LOG attempts per account
        self.chaos: Chaos | None = None
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._poster: Poster | None = poster
        self._jobs: list[Job] = []
        self._order = itertools.count()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._limits: dict[str, asyncio.Semaphore] = {}
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
            created_on=iso(self.clock.now()),
            since_activity=account.activities[-1]["Id"] if account.activities else 0,
        )
        hooks[hook.id] = self._by_id[hook.id] = hook
        if self.journal:
            with self.journal.transaction():  # the id counter is saved with the webhook
                self._save(hook)
                self.journal.save_account(account)
        return hook.describe()

    def remove(self, account: AccountLike, hook_id: str) -> None:
        """Unregister a webhook; its queued attempts are dropped."""
        hooks = self.hooks.get(account.key, {})
        if hook_id not in hooks:
            raise ApiFault(404, "NotFound", f"There is no webhook {hook_id!r}.", field="id")
        del hooks[hook_id]
        self._by_id.pop(hook_id, None)
        self._jobs = [j for j in self._jobs if j.hook_id != hook_id]
        heapq.heapify(self._jobs)
        if self.journal:
            self.journal.delete_webhook(account.key, hook_id)

    def describe(self, account: AccountLike) -> list[dict[str, Any]]:
        """Every webhook of the account."""
        return [h.describe() for h in self.hooks.get(account.key, {}).values()]

    def forget_activities(self, account: AccountLike) -> None:
        """After a reset: the account's history starts again; webhooks keep their URLs."""
        for hook in self.hooks.get(account.key, {}).values():
            hook.since_activity = account.activities[-1]["Id"] if account.activities else 0
            hook.delivered.clear()
            hook.retrying.clear()
            hook.held.clear()
            hook.tries.clear()
            self._set_state(hook, "healthy")
            hook.catching_up = False
            self._save(hook)
        ids = {h for h in self.hooks.get(account.key, {})}
        self._jobs = [j for j in self._jobs if j.hook_id not in ids]
        heapq.heapify(self._jobs)

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
            hook.held[activity["Id"]] = activity
            return
        now = self.clock.seconds()
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
        """Attempts queued or in flight (for one account, or all)."""
        ids = None if account is None else set(self.hooks.get(account.key, {}))
        queued = sum(1 for j in self._jobs if ids is None or j.hook_id in ids)
        held = sum(
            len(h.held)
            for key, hs in self.hooks.items()
            for h in hs.values()
            if account is None or key == account.key
        )
        return queued + held + len(self._inflight)

    def next_due(self) -> float | None:
        """Clock seconds of the next queued attempt, if any."""
        return self._jobs[0].due if self._jobs else None

    def log(
        self,
        account: AccountLike,
        webhook: str | None = None,
        activity: int | None = None,
        outcome: str | None = None,
    ) -> list[dict[str, Any]]:
        """Delivery attempts of an account, oldest first, optionally filtered."""
        rows = self.deliveries.get(account.key, ())
        return [
            r
            for r in rows
            if (webhook is None or r["WebhookId"] == webhook)
            and (activity is None or r["ActivityId"] == activity)
            and (outcome is None or r["Outcome"] == outcome)
        ]

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
        now = self.clock.now()
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
        self._wake = asyncio.Event()
        if self._poster is None:
            self._poster = AiohttpPoster(self.settings.delivery_timeout)
        self._resume_after_restart()
        self._task = asyncio.create_task(self._run(), name="envoice-mock-dispatcher")

    async def stop(self) -> None:
        """Stop dispatching; queued attempts stay queued (and, with a state file, persisted)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._poster is not None:
            await self._poster.close()

    async def settle_due(self, timeout: float = 30.0) -> None:
        """Wait until no attempt is due now and none is in flight (virtual-time friendly)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._dispatch_due()
            if not self._inflight:
                if not self._jobs or self._jobs[0].due > self.clock.seconds():
                    return
                continue
            await asyncio.wait(list(self._inflight), timeout=max(0.0, deadline - time.monotonic()))

    async def run_until_idle(
        self,
        max_virtual: float = 86400.0,
        timeout: float = 120.0,
        on_advance: Callable[[], Any] | None = None,
    ) -> None:
        """Drive virtual time: deliver, jump to the next due attempt, repeat, until nothing is queued
        (or `max_virtual` seconds have passed on the clock)."""
        start = self.clock.seconds()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.settle_due(timeout=max(0.1, deadline - time.monotonic()))
            nxt = self.next_due()
            if nxt is None or nxt - start > max_virtual:
                return
            self.clock.advance(max(0.0, nxt - self.clock.seconds()))
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
        """Queue an attempt at `due` (clock seconds), after everything already queued for then."""
        now = self.clock.seconds()
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
        job.due = self.clock.seconds()
        job.order = next(self._order)
        self._push(job)

    def _push(self, job: Job) -> None:
        heapq.heappush(self._jobs, job)
        self._poke()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._dispatch_due()
            wait: float | None = None
            if self._jobs:
                wait = self.clock.real_delay(self._jobs[0].due - self.clock.seconds())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=None if wait is None else max(wait, 0.001))

    def _dispatch_due(self) -> None:
        now = self.clock.seconds()
        while self._jobs and self._jobs[0].due <= now:
            job = heapq.heappop(self._jobs)
            task = asyncio.ensure_future(self._attempt(job))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    def _limit(self, hook: Webhook) -> asyncio.Semaphore:
        sem = self._limits.get(hook.id)
        if sem is None:
            sem = self._limits[hook.id] = asyncio.Semaphore(max(1, self.settings.delivery_concurrency))
        return sem

    async def _attempt(self, job: Job) -> None:
        hook = self._by_id.get(job.hook_id)
        if hook is None:
            return
        if job.kind in ("live", "retry") and hook.state == "failing":
            hook.retrying.pop(job.activity["Id"], None)
            hook.held[job.activity["Id"]] = job.activity
            return
        plan = self.chaos.plan(hook, job) if self.chaos else Plan()
        if plan.delay > 0:
            due = self.clock.seconds() + plan.delay
            marks = (*job.marks, *plan.marks)
            self._queue(hook, job.activity, due, job.kind, job.attempt, marks, scheduled=job.scheduled)
            return
        async with self._limit(hook):
            record = await self._send(hook, job, plan)
        self._after(hook, job, record["StatusCode"], record["Error"])
        record["State"] = hook.state
        for listener in self.listeners:
            listener(record)
        for _ in range(plan.duplicates):
            self._queue(hook, job.activity, self.clock.seconds(), "duplicate", marks=("duplicate",))

    async def _send(self, hook: Webhook, job: Job, plan: Plan) -> dict[str, Any]:
        delivery_id = self._source("delivery", str(self.boot), hook.id).uuid()
        attempt = hook.tries[job.activity["Id"]] = hook.tries.get(job.activity["Id"], 0) + 1
        body, headers = self.build_request(
            hook, job, delivery_id, corrupt=plan.corrupt_signature, attempt=attempt
        )
        sent_at = self.clock.now()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        if plan.status is not None:
            status = plan.status
        elif plan.error is not None:
            error = {
                "timeout": f"no answer within {self.settings.delivery_timeout:g}s (timeout)",
                "refused": "connection refused",
            }.get(plan.error, plan.error)
        else:
            assert self._poster is not None
            try:
                status = await self._poster.post(hook.url, body, headers)
            except TimeoutError:
                error = f"no answer within {self.settings.delivery_timeout:g}s (timeout)"
            except aiohttp.ClientConnectorError as exc:
                error = (
                    f"connection failed: {exc.os_error.strerror or exc}"
                    if exc.os_error
                    else "connection refused"
                )
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        duration = (time.perf_counter() - started) * 1000
        record = {
            "DeliveryId": delivery_id,
            "WebhookId": hook.id,
            "Url": hook.url,
            "ActivityId": job.activity["Id"],
            "ActivityType": job.activity["Type"],
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
            "Body": body.decode(),
        }
        log = self.deliveries.get(hook.account)
        if log is None:
            log = self.deliveries[hook.account] = deque(maxlen=MAX_LOG)
        log.append(record)
        return record

    def _after(self, hook: Webhook, job: Job, status: int | None, error: str | None) -> None:
        aid = job.activity["Id"]
        now = self.clock.seconds()
        if status == 200:
            hook.delivered.add(aid)
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
            self._set_state(hook, "failing")
            hook.catching_up = False
            hook.held[aid] = job.activity
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
            self._save(hook)
            return
        # Exhausted: the webhook is failing; everything not yet delivered is held for catch-up.
        hook.retrying.pop(aid, None)
        hook.held[aid] = job.activity
        self._set_state(hook, "failing")
        for other, activity in hook.retrying.items():
            hook.held.setdefault(other, activity)
        hook.retrying.clear()
        self._schedule_probe(hook, now)
        self._save(hook)

    def _set_state(self, hook: Webhook, state: str) -> None:
        if hook.state != state:
            hook.state = state
            hook.history.append([webhook_timestamp(self.clock.now()), state])

    def _schedule_probe(self, hook: Webhook, now: float) -> None:
        if hook.next_probe is not None and hook.next_probe > now:
            return
        hook.next_probe = now + self.settings.probe_interval
        oldest = self._oldest_held(hook)
        if oldest is not None:
            self._queue(hook, oldest, hook.next_probe, "probe", marks=("probe",))

    def _oldest_held(self, hook: Webhook) -> dict[str, Any] | None:
        if not hook.held:
            return None
        return min(hook.held.values(), key=chronological)

    def _start_catch_up(self, hook: Webhook) -> None:
        hook.catching_up = bool(hook.held)
        self._continue_catch_up(hook)

    def _continue_catch_up(self, hook: Webhook) -> None:
        nxt = self._oldest_held(hook)
        if nxt is None:
            hook.catching_up = False
            return
        hook.catching_up = True
        self._queue(hook, nxt, self.clock.seconds(), "catchup", marks=("catchup",))

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
        """Queue what restored webhooks still owe: at least once, never zero."""
        if not self.journal:
            return
        for key, hooks in self.hooks.items():
            activities = self.journal.activities_for(key)
            for hook in hooks.values():
                owed = [
                    a for a in activities if a["Id"] > hook.since_activity and a["Id"] not in hook.delivered
                ]
                owed.sort(key=chronological)
                hook.retrying.clear()
                if hook.state == "failing":
                    hook.held = {a["Id"]: a for a in owed}
                    hook.next_probe = None
                    self._schedule_probe(hook, self.clock.seconds())
                else:
                    self._set_state(hook, "healthy")
                    for activity in owed:
                        self.enqueue(hook, activity)


def chronological(activity: dict[str, Any]) -> tuple[datetime, int]:
    """Sort key: CreatedOn, then Id."""
    return parse_iso(activity.get("CreatedOn") or "1970-01-01T00:00:00+00:00"), int(activity["Id"])


def _at(clock: Clock, seconds: float) -> str:
    return webhook_timestamp(clock.origin + timedelta(seconds=seconds))
