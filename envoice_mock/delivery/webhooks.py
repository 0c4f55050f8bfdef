"""The webhook engine: every account's webhooks, their deliveries, retries, catch-up and log.

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

The engine puts the delivery modules together: `registry` (subscriptions), `machine` (the
state machine, pure), `outbox` (queued attempts on the clock), `dispatcher` (the asyncio
loop), `poster` (HTTP), `payload` (body and signatures), `log` (the delivery log). It knows
the store only through the activities it is handed and `Account.key`. Chaos (scenarios) plugs
in through `chaos`, an object with `plan()` and `on_enqueue()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from envoice_mock.clock import Clock
from envoice_mock.config import Settings
from envoice_mock.delivery import machine
from envoice_mock.delivery.attempts import Attempts, Chaos
from envoice_mock.delivery.dispatcher import Dispatcher
from envoice_mock.delivery.log import DeliveryLog
from envoice_mock.delivery.outbox import Outbox
from envoice_mock.delivery.payload import activity_payload, signed_request
from envoice_mock.delivery.poster import MAX_ANSWER_BYTES, AiohttpPoster, Poster
from envoice_mock.delivery.records import (
    Activity,
    Answer,
    DeliveryRecord,
    Failure,
    HookState,
    Job,
    Plan,
    Webhook,
    chronological,
)
from envoice_mock.delivery.registry import AccountLike, WebhookRegistry
from envoice_mock.spec import MAX_WEBHOOKS

__all__ = [  # names other layers and chaos.py import from here
    "MAX_ANSWER_BYTES",
    "MAX_WEBHOOKS",
    "AccountLike",
    "AiohttpPoster",
    "Answer",
    "Chaos",
    "Failure",
    "Job",
    "Plan",
    "Poster",
    "Webhook",
    "WebhookEngine",
    "chronological",
]

log = logging.getLogger("envoice_mock.delivery.webhooks")


class WebhookEngine:
    """Subscriptions, queueing, attempts and the state machine's effects, for every account."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        journal: Any = None,
        poster: Poster | None = None,
        activity_types: tuple[str, ...] = (),
        wall: Callable[[], float] = time.time,
        payload_fields: tuple[str, ...] = (),
    ) -> None:
        self.settings = settings
        self.activity_types = activity_types
        self.payload_fields = payload_fields  # the fixtures' webhook_fields: what a body's Activity carries
        self.clock = clock
        self.journal = journal
        self.wall = wall  # the real time, for the Standard Webhooks timestamp
        self.registry = WebhookRegistry(settings.seed, clock)
        self.hooks = self.registry.hooks  # account key -> id -> webhook
        self.delivery_log = DeliveryLog()  # the newest attempts of each account
        self.chaos: Chaos | None = None
        self.listeners: list[Callable[[DeliveryRecord], None]] = []
        self.outbox = Outbox(clock)
        self.attempts = Attempts(self)
        self.dispatcher = Dispatcher(
            clock,
            self.outbox,
            self.registry.by_id,
            self.attempts.stalled,
            self.attempts.handle,
            settings.delivery_concurrency,
        )
        self._poster: Poster | None = poster
        self._order = itertools.count()
        self._resumed = False
        self.boot: int = getattr(journal, "boot", 1)  # delivery ids of each start of a state file differ

    # --- subscriptions ------------------------------------------------------------------
    def add(self, account: AccountLike, url: Any, secret: Any = None) -> dict[str, Any]:
        """Register a URL for the account (at most 10; http/https only)."""
        hook = self.registry.create(account, url, secret)
        if self.journal:
            with self.journal.transaction():  # the id counter is saved with the webhook
                self.attempts.save(hook)
                self.journal.save_account(account)
        return self._describe(hook)

    def remove(self, account: AccountLike, hook_id: str) -> None:
        """Unregister a webhook; its queued attempts are dropped."""
        self.registry.remove(account.key, hook_id)
        self.outbox.drop({hook_id})
        self.attempts.stalled.discard(hook_id)
        if self.journal:
            self.journal.delete_webhook(account.key, hook_id)

    def describe(self, account: AccountLike) -> list[dict[str, Any]]:
        """Every webhook of the account."""
        return [self._describe(h) for h in self.registry.of(account.key)]

    def _describe(self, hook: Webhook) -> dict[str, Any]:
        """A webhook's view, its Pending count including attempts queued or in flight."""
        return hook.describe() | {
            "Pending": len(hook.held) + self.outbox.owed(hook.id),
            "Delivered": self.attempts.delivered.get(hook.id, 0),
        }

    def restore_webhook(self, hook: Webhook) -> None:
        """Put back a webhook loaded from the journal."""
        self.registry.restore(hook)

    def forget_activities(self, account: AccountLike) -> None:
        """After a reset: the account's history starts again; webhooks keep their URLs."""
        hooks = list(self.registry.of(account.key))
        for hook in hooks:
            self.attempts.reset(hook, account.activities[-1]["Id"] if account.activities else 0)
        self.outbox.drop({h.id for h in hooks})
        self.delivery_log.forget(account.key)

    # --- queueing -----------------------------------------------------------------------
    def on_activity(self, account: AccountLike, activity: Activity) -> None:
        """The store recorded an activity: queue it for every webhook of the account."""
        for hook in self.registry.of(account.key):
            if activity["Id"] > hook.since_activity:
                self.enqueue(hook, activity)

    def enqueue(
        self, hook: Webhook, activity: Activity, kind: str = "live", marks: tuple[str, ...] = ()
    ) -> None:
        """Queue the first attempt of an activity to one webhook (held while the hook is failing)."""
        if machine.holds_new(hook.state, hook.catching_up, kind):
            self.attempts.held.hold(hook, activity)
            return
        now = self.clock.seconds(hook.account)
        jobs = [Job(now, next(self._order), hook.id, activity, 1, kind, now, marks)]
        if self.chaos and kind == "live":
            jobs = self.chaos.on_enqueue(hook, jobs)
        for job in jobs:
            self._push(job)

    def replay(self, hook: Webhook, activities: list[Activity], marks: tuple[str, ...] = ("replay",)) -> int:
        """Send past activities again (in the order given)."""
        for activity in activities:
            self.enqueue(hook, activity, kind="replay", marks=marks)
        return len(activities)

    def push_now(self, job: Job) -> None:
        """Queue an attempt due now, after everything already due (chaos releases reordered jobs so)."""
        hook = self.registry.get(job.hook_id)
        if hook is None:
            return
        job.due = self.clock.seconds(hook.account)
        job.order = next(self._order)
        self._push(job)

    def _queue(
        self,
        hook: Webhook,
        activity: Activity,
        due: float,
        kind: str,
        attempt: int = 1,
        marks: tuple[str, ...] = (),
        scheduled: float | None = None,
    ) -> None:
        """Queue an attempt at `due` (the account's clock seconds), after everything already queued then."""
        now = self.clock.seconds(hook.account)
        order = next(self._order)
        self._push(
            Job(due, order, hook.id, activity, attempt, kind, now if scheduled is None else scheduled, marks)
        )

    def _push(self, job: Job) -> None:
        hook = self.registry.get(job.hook_id)
        if hook is None:
            return
        self.outbox.push(hook.account, job)
        self.dispatcher.poke()

    # --- what is owed, and what happened -------------------------------------------------
    def pending_count(self, account: AccountLike | None = None) -> int:
        """What the account's webhooks (or all) are owed: the sum of their `Pending` counts."""
        hooks = self.registry.of(None if account is None else account.key)
        return sum(len(h.held) + self.outbox.owed(h.id) for h in hooks)

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
    def activity_payload(self, activity: Activity) -> dict[str, Any]:
        """The Activity object as the webhook body carries it (Type as the enum's index)."""
        return activity_payload(activity, self.activity_types, self.payload_fields)

    def build_request(
        self, hook: Webhook, job: Job, delivery_id: str, corrupt: bool = False, attempt: int = 0
    ) -> tuple[bytes, dict[str, str]]:
        """The signed body and headers of one attempt (`attempt`: the activity's n-th to this hook)."""
        return signed_request(
            secret=hook.secret,
            msg_id=f"msg_{hook.id}_{job.activity['Id']}",
            activity=self.activity_payload(job.activity),
            sent_at=self.clock.now(hook.account),
            unix=int(self.wall()),
            delivery_id=delivery_id,
            attempt=attempt or job.attempt,
            corrupt=corrupt,
        )

    # --- running ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the dispatcher (idempotent); queue what a state file says is still owed."""
        if self.dispatcher.running:
            return
        self.dispatcher.open()
        if self._poster is None:
            self._poster = AiohttpPoster(self.settings.delivery_timeout)
        self._resume_after_restart()
        self.dispatcher.launch()

    async def stop(self) -> None:
        """Stop dispatching at once: attempts in flight are abandoned (an abandoned attempt was not
        acknowledged, so with a state file it is owed and sent again after a restart)."""
        await self.dispatcher.stop()
        if self._poster is not None:
            with contextlib.suppress(Exception):  # closing is best effort: the process is on its way out
                await asyncio.wait_for(self._poster.close(), timeout=2.0)
            self._poster = None

    def stop_soon(self) -> None:
        """From any thread or a signal handler: stop sending, abandon attempts in flight, and let
        every settle/idle wait return now (the server is shutting down)."""
        self.dispatcher.stop_soon()

    async def settle_due(self, account: str | None = None, timeout: float = 30.0) -> None:
        """Wait until no attempt (of one account, or any) is due now and none is in flight."""
        await self.dispatcher.settle_due(account, timeout)

    async def run_until_idle(
        self,
        max_virtual: float = 86400.0,
        timeout: float = 120.0,
        on_advance: Callable[[], Any] | None = None,
        account: str | None = None,
    ) -> None:
        """Drive virtual time (one account's, or the server's) until nothing is queued or
        `max_virtual` seconds have passed (see Dispatcher.run_until_idle)."""
        await self.dispatcher.run_until_idle(max_virtual, timeout, on_advance, account)

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
                self.attempts.delivered[hook.id] = len(hook.delivered)
                hook.delivered = set()  # the journal keeps the ids; memory keeps the count
                hook.retrying.clear()
                if hook.state is HookState.FAILING:
                    hook.held = {}
                    for activity in owed:
                        self.attempts.held.hold(hook, activity)
                    hook.next_probe = None
                    self.attempts.schedule_probe(hook, self.clock.seconds(hook.account))
                else:
                    self.attempts.set_state(hook, HookState.HEALTHY)
                    for activity in owed:
                        self.enqueue(hook, activity)
