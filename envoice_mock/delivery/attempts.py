"""One attempt of one delivery, start to end, and what its outcome does to the webhook.

`Attempts.handle` takes a job from the dispatcher: holds it if the webhook is failing, or asks
chaos for a plan, builds and signs the request, posts it, logs the record, tells the
listeners, and applies the state machine's step (retry, hold, probe, catch-up) to the
webhook and the queues. Everything it needs of the engine it reads through `Host` at the
moment it needs it (the journal, the poster and chaos are plugged in after construction).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, Protocol

from envoice_mock.clock import Clock, webhook_timestamp
from envoice_mock.config import Settings
from envoice_mock.delivery import machine
from envoice_mock.delivery.held import HeldOrder
from envoice_mock.delivery.log import DeliveryLog
from envoice_mock.delivery.machine import (
    ACKNOWLEDGE,
    CANCEL_PROBE,
    CATCH_UP_NEXT,
    COUNT_DELIVERED,
    COUNT_FAILED,
    HOLD,
    HOLD_RETRYING,
    RETRY,
    SAVE,
    SCHEDULE_PROBE,
    Ended,
    Status,
    Step,
)
from envoice_mock.delivery.outbox import Outbox
from envoice_mock.delivery.poster import Poster, timeout_failure
from envoice_mock.delivery.records import (
    HEALTHY,
    Activity,
    Answer,
    DeliveryRecord,
    Failure,
    HookState,
    Job,
    Plan,
    Webhook,
)
from envoice_mock.fakedata import SeededSource

log = logging.getLogger("envoice_mock.delivery.webhooks")


class Chaos(Protocol):
    """Delivery faults injected by scenarios (see chaos.py)."""

    def plan(self, hook: Webhook, job: Job) -> Plan: ...
    def on_enqueue(self, hook: Webhook, jobs: list[Job]) -> list[Job]: ...


class Host(Protocol):
    """What an attempt needs of the engine, read when needed."""

    settings: Settings
    clock: Clock
    journal: Any
    chaos: Chaos | None
    listeners: list[Callable[[DeliveryRecord], None]]
    delivery_log: DeliveryLog
    outbox: Outbox
    boot: int
    _poster: Poster | None

    def build_request(
        self, hook: Webhook, job: Job, delivery_id: str, corrupt: bool = False, attempt: int = 0
    ) -> tuple[bytes, dict[str, str]]: ...

    def _queue(
        self,
        hook: Webhook,
        activity: Activity,
        due: float,
        kind: str,
        attempt: int = 1,
        marks: tuple[str, ...] = (),
        scheduled: float | None = None,
    ) -> None: ...


class Attempts:
    """Attempts and their effects; owns each webhook's stalled flag, delivered count and held order."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.stalled: set[str] = set()  # hooks whose last attempt timed out: retries and probes only
        self.delivered: dict[str, int] = {}  # hook id -> activities delivered (ids live in the journal)
        self.held = HeldOrder()
        self._ids: dict[str, SeededSource] = {}

    def status(self, hook: Webhook) -> Status:
        """The state machine's view of a webhook."""
        return Status(hook.state, hook.catching_up, hook.id in self.stalled)

    def handle(self, hook: Webhook, job: Job) -> Coroutine[Any, Any, None] | None:
        """A job the dispatcher took: held at once if the webhook is failing (None), else the
        attempt to await (no coroutine for a held job: holding a backlog costs no task switches)."""
        if machine.holds_taken(hook.state, job.kind):
            hook.retrying.pop(job.activity["Id"], None)
            self.held.hold(hook, job.activity)
            self.host.outbox.release(job)
            return None
        return self._attempt(hook, job)

    async def _attempt(self, hook: Webhook, job: Job) -> None:
        host = self.host
        released = False
        try:
            internal: Exception | None = None
            plan = Plan()
            try:
                if host.chaos:
                    plan = host.chaos.plan(hook, job)
            except Exception as exc:  # a bug in chaos: this attempt fails, like any other failure
                internal = exc
            if plan.delay > 0 and internal is None:
                due = host.clock.seconds(hook.account) + plan.delay
                marks = (*job.marks, *plan.marks)
                host._queue(hook, job.activity, due, job.kind, job.attempt, marks, scheduled=job.scheduled)
                return
            try:
                record, timed_out = await self._send(hook, job, plan, internal)
            except asyncio.CancelledError:  # stopping: the attempt stays owed, due at once on the next start
                now = host.clock.seconds(hook.account)
                host._queue(hook, job.activity, now, job.kind, job.attempt, job.marks)
                raise
            host.outbox.release(job)
            released = True
            try:
                self._after(hook, job, record["StatusCode"], timed_out)
            except Exception:
                log.exception("webhook engine error after delivery %s", record["DeliveryId"])
            record["State"] = hook.state.value
            self._publish(hook, record)
            for _ in range(plan.duplicates):
                now = host.clock.seconds(hook.account)
                host._queue(hook, job.activity, now, "duplicate", marks=("duplicate",))
        finally:
            if not released:
                host.outbox.release(job)

    def _publish(self, hook: Webhook, record: DeliveryRecord) -> None:
        """Log the attempt and tell every listener (a failing listener is logged, not fatal)."""
        self.host.delivery_log.append(hook.account, record)
        for listener in self.host.listeners:
            try:
                listener(record)
            except Exception:
                log.exception("delivery listener failed")

    async def _send(
        self, hook: Webhook, job: Job, plan: Plan, internal: Exception | None = None
    ) -> tuple[DeliveryRecord, bool]:
        """One attempt; never raises but on cancellation. Answers the log record and whether it timed out."""
        host = self.host
        delivery_id = self._source("delivery", str(host.boot), hook.id).uuid()
        attempt = hook.tries[job.activity["Id"]] = hook.tries.get(job.activity["Id"], 0) + 1
        sent_at = host.clock.now(hook.account)
        started = time.perf_counter()
        body = b""
        outcome: Answer | Failure | None = None
        try:
            if internal is not None:
                raise internal
            body, headers = host.build_request(
                hook, job, delivery_id, corrupt=plan.corrupt_signature, attempt=attempt
            )
        except Exception as exc:  # the engine's own bug: a failed attempt, retried on the schedule
            outcome = Failure(f"internal error: {type(exc).__name__}: {exc}")
            log.error(
                "delivery %s of activity %s failed inside the mock",
                delivery_id,
                job.activity.get("Id"),
                exc_info=exc,
            )
        else:
            outcome = self._planned(plan)
            if outcome is None:
                try:
                    assert host._poster is not None
                    outcome = await host._poster.post(hook.url, body, headers)
                except Exception as exc:  # the poster translates network errors; anything else is its bug
                    log.error("delivery %s failed inside the mock", delivery_id, exc_info=exc)
                    outcome = Failure(f"internal error: {type(exc).__name__}: {exc}")
        duration = (time.perf_counter() - started) * 1000
        record = delivery_record(
            host.clock.origin, hook, job, plan, delivery_id, attempt, sent_at, body, outcome, duration
        )
        return record, isinstance(outcome, Failure) and outcome.timed_out

    def _planned(self, plan: Plan) -> Answer | Failure | None:
        """What chaos decided instead of sending, if anything."""
        if plan.status is not None:
            return Answer(plan.status)
        if plan.error == "timeout":
            return Failure(timeout_failure(self.host.settings.delivery_timeout).error)
        if plan.error is not None:
            return Failure({"refused": "connection refused"}.get(plan.error, plan.error))
        return None

    def _after(self, hook: Webhook, job: Job, status: int | None, timed_out: bool = False) -> None:
        """Apply the state machine's step for this attempt's outcome."""
        aid = job.activity["Id"]
        retrying_left = len(hook.retrying) > (aid in hook.retrying)
        held_left = len(hook.held) > (aid in hook.held)
        event = Ended(job.kind, job.attempt, status, timed_out, retrying_left, held_left)
        before = Status(hook.state, hook.catching_up, hook.id in self.stalled)
        step = machine.after_attempt(before, event, self.host.settings.retry_schedule)
        self._apply(hook, job, step)

    def _apply(self, hook: Webhook, job: Job, step: Step) -> None:
        host, aid = self.host, job.activity["Id"]
        now = host.clock.seconds(hook.account)
        self.set_state(hook, step.status.state)
        hook.catching_up = step.status.catching_up
        if step.status.stalled:
            self.stalled.add(hook.id)
        else:
            self.stalled.discard(hook.id)
        for action in step.actions:
            if action is COUNT_DELIVERED:
                self.delivered[hook.id] = self.delivered.get(hook.id, 0) + 1
                hook.tries.pop(aid, None)
            elif action is ACKNOWLEDGE:
                hook.retrying.pop(aid, None)
                hook.held.pop(aid, None)
                if host.journal:
                    host.journal.mark_delivered(hook.account, hook.id, aid)
            elif action is SAVE:
                self.save(hook)
            elif action is COUNT_FAILED:
                hook.attempts_failed += 1
            elif action is RETRY:
                hook.retrying[aid] = job.activity
                host._queue(hook, job.activity, now + step.retry_in, "retry", job.attempt + 1, job.marks)
            elif action is HOLD:
                hook.retrying.pop(aid, None)
                self.held.hold(hook, job.activity)
            elif action is HOLD_RETRYING:
                for other, activity in hook.retrying.items():
                    if other not in hook.held:
                        self.held.hold(hook, activity)
                hook.retrying.clear()
            elif action is SCHEDULE_PROBE:
                self.schedule_probe(hook, now)
            elif action is CANCEL_PROBE:
                hook.next_probe = None
            elif action is CATCH_UP_NEXT:
                self._catch_up_next(hook)

    def _catch_up_next(self, hook: Webhook) -> None:
        nxt = self.held.oldest(hook)
        if nxt is None:  # the machine was told something is held, so this is a safety net
            hook.catching_up = False
            return
        self.host._queue(hook, nxt, self.host.clock.seconds(hook.account), "catchup", marks=("catchup",))

    def set_state(self, hook: Webhook, state: HookState) -> None:
        """Change a webhook's state, noting when in its history."""
        if hook.state != state:
            hook.state = state
            hook.history.append([webhook_timestamp(self.host.clock.now(hook.account)), state.value])

    def schedule_probe(self, hook: Webhook, now: float) -> None:
        """Queue a probe (the oldest held activity) after the probe interval, unless one is due later."""
        if hook.next_probe is not None and hook.next_probe > now:
            return
        hook.next_probe = now + self.host.settings.probe_interval
        oldest = self.held.oldest(hook)
        if oldest is not None:
            self.host._queue(hook, oldest, hook.next_probe, "probe", marks=("probe",))

    def reset(self, hook: Webhook, since_activity: int) -> None:
        """Start a webhook's history again after `since_activity` (healthy, owed nothing)."""
        hook.since_activity = since_activity
        hook.delivered.clear()
        hook.retrying.clear()
        hook.held.clear()
        hook.tries.clear()
        hook.catching_up = False
        self.delivered.pop(hook.id, None)
        self.held.forget(hook.id)
        self.stalled.discard(hook.id)
        self.set_state(hook, HEALTHY)
        self.save(hook)

    def save(self, hook: Webhook) -> None:
        """Journal a webhook's registration and state (with a state file)."""
        if self.host.journal:
            self.host.journal.save_webhook(hook)

    def _source(self, *namespace: str) -> SeededSource:
        """The seeded id source of a namespace, built once (ids depend only on seed and order)."""
        key = ":".join(namespace)
        source = self._ids.get(key)
        if source is None:
            source = self._ids[key] = SeededSource(self.host.settings.seed, *namespace)
        return source


def delivery_record(
    origin: datetime,
    hook: Webhook,
    job: Job,
    plan: Plan,
    delivery_id: str,
    attempt: int,
    sent_at: datetime,
    body: bytes,
    outcome: Answer | Failure,
    duration_ms: float,
) -> DeliveryRecord:
    """The delivery log's record of one attempt (`origin`: the clock's, for ScheduledAt)."""
    answer = outcome if isinstance(outcome, Answer) else None
    status = answer.status if answer else None
    if plan.status is not None:
        answer = None  # chaos answered without sending: there is no answer body
    return {
        "DeliveryId": delivery_id,
        "WebhookId": hook.id,
        "Url": hook.url,
        "ActivityId": job.activity["Id"],
        "ActivityType": job.activity.get("Type"),
        "ActivityCreatedOn": job.activity.get("CreatedOn"),
        "Attempt": attempt,
        "Kind": job.kind,
        "ScheduledAt": webhook_timestamp(origin + timedelta(seconds=job.scheduled)),
        "SentAt": webhook_timestamp(sent_at),
        "StatusCode": status,
        "Error": outcome.error if isinstance(outcome, Failure) else None,
        "DurationMs": round(duration_ms, 3),
        "Outcome": "delivered" if status == 200 else "failed",
        "Chaos": [*job.marks, *plan.marks],
        "Body": body.decode(errors="replace"),
        "Answer": answer.body.decode(errors="replace") if answer else None,
        "AnswerTruncated": answer.truncated if answer else False,
    }
