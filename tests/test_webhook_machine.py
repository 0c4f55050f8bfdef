"""The webhook state machine on its own: pure transitions, no sockets, no asyncio, no clock.

The life of a webhook whose receiver goes away and comes back: healthy → retrying → failing
→ probe → catch-up → healthy, one transition per test, then the engine's glue with a fake
poster on a frozen clock (no network, no sleeps).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from envoice_mock.clock import Clock
from envoice_mock.config import Settings
from envoice_mock.delivery.machine import Action, Ended, Status, Step, after_attempt, holds_new, holds_taken
from envoice_mock.delivery.poster import timeout_failure
from envoice_mock.delivery.records import Answer, Failure, HookState, Outcome
from envoice_mock.delivery.webhooks import WebhookEngine

SCHEDULE = (1.0, 5.0, 30.0)
HEALTHY = Status()
RETRYING = Status(HookState.RETRYING)
FAILING = Status(HookState.FAILING)
CATCHING_UP = Status(HookState.HEALTHY, catching_up=True)


def step(status: Status, kind: str, http: int | None, attempt: int = 1, **event: Any) -> Step:
    """One transition for an attempt of `kind` answered `http` (None: no answer)."""
    return after_attempt(status, Ended(kind, attempt, http, **event), SCHEDULE)


def test_healthy_first_failure_is_retrying_with_a_retry_on_the_schedule() -> None:
    out = step(HEALTHY, "live", 500)
    assert out.status == RETRYING
    assert out.actions == (Action.COUNT_FAILED, Action.RETRY, Action.SAVE) and out.retry_in == 1.0


def test_each_retry_waits_the_next_delay_of_the_schedule() -> None:
    assert [step(RETRYING, "retry", 503, attempt=n).retry_in for n in (2, 3)] == [5.0, 30.0]
    assert step(RETRYING, "retry", 503, attempt=3).status == RETRYING


def test_retrying_delivered_with_nothing_else_retrying_is_healthy() -> None:
    out = step(RETRYING, "retry", 200, attempt=2)
    assert out.status == HEALTHY
    assert out.actions == (Action.COUNT_DELIVERED, Action.ACKNOWLEDGE, Action.SAVE)


def test_retrying_stays_retrying_while_another_activity_is_between_retries() -> None:
    assert step(RETRYING, "live", 200, retrying_left=True).status == RETRYING


def test_retrying_schedule_exhausted_is_failing_holding_everything_with_a_probe() -> None:
    out = step(RETRYING, "retry", 500, attempt=len(SCHEDULE) + 1)
    assert out.status == FAILING
    assert out.actions == (
        Action.COUNT_FAILED,
        Action.HOLD,
        Action.HOLD_RETRYING,
        Action.SCHEDULE_PROBE,
        Action.SAVE,
    )


def test_failing_holds_new_activities_and_queued_attempts() -> None:
    failing = HookState.FAILING
    assert (
        holds_new(failing, False, "live") and holds_taken(failing, "live") and holds_taken(failing, "retry")
    )
    assert not holds_new(failing, False, "replay") and not holds_taken(failing, "probe")
    assert not holds_new(HookState.HEALTHY, False, "live") and not holds_taken(HookState.RETRYING, "retry")


def test_failing_probe_refused_stays_failing_with_the_next_probe() -> None:
    out = step(FAILING, "probe", None)
    assert out.status == FAILING
    assert out.actions == (Action.COUNT_FAILED, Action.HOLD, Action.SCHEDULE_PROBE, Action.SAVE)


def test_failing_probe_delivered_is_healthy_and_catches_up_what_was_held() -> None:
    out = step(FAILING, "probe", 200, held_left=True)
    assert out.status == CATCHING_UP
    assert out.actions == (
        Action.COUNT_DELIVERED,
        Action.ACKNOWLEDGE,
        Action.CANCEL_PROBE,
        Action.CATCH_UP_NEXT,
        Action.SAVE,
    )


def test_catching_up_holds_new_activities_until_it_is_done() -> None:
    assert holds_new(CATCHING_UP.state, True, "live") and not holds_taken(CATCHING_UP.state, "live")


def test_catch_up_sends_the_next_held_activity_after_each_delivery() -> None:
    out = step(CATCHING_UP, "catchup", 200, held_left=True)
    assert out.status == CATCHING_UP and Action.CATCH_UP_NEXT in out.actions


def test_catch_up_of_the_last_held_activity_is_healthy_again() -> None:
    out = step(CATCHING_UP, "catchup", 200, held_left=False)
    assert out.status == HEALTHY and Action.CATCH_UP_NEXT not in out.actions
    assert not holds_new(out.status.state, out.status.catching_up, "live")


def test_a_probe_with_nothing_else_held_is_healthy_at_once() -> None:
    assert step(FAILING, "probe", 200).status == HEALTHY


def test_catch_up_failure_is_failing_again() -> None:
    out = step(CATCHING_UP, "catchup", 502, held_left=True)
    assert out.status == FAILING and Action.SCHEDULE_PROBE in out.actions


def test_a_timeout_stalls_first_attempts_until_a_receiver_answers() -> None:
    stalled = step(HEALTHY, "live", None, timed_out=True).status
    assert stalled == Status(HookState.RETRYING, stalled=True)
    assert step(stalled, "retry", None, attempt=2).status.stalled  # refused: still no answer
    assert not step(stalled, "retry", 500, attempt=2).status.stalled  # an answer, even an error
    exhausted = step(stalled, "retry", None, attempt=len(SCHEDULE) + 1, timed_out=True)
    assert exhausted.status == FAILING  # held as taken from now on: nothing to stall


@pytest.mark.parametrize("kind", ["replay", "duplicate"])
def test_replays_and_duplicates_count_but_never_change_the_state(kind: str) -> None:
    for status in (HEALTHY, RETRYING, FAILING):
        assert step(status, kind, 500) == Step(status, (Action.COUNT_FAILED,))
        delivered = step(status, kind, 200, retrying_left=True)
        assert delivered.status == status and Action.COUNT_DELIVERED not in delivered.actions


def test_an_empty_schedule_goes_from_healthy_straight_to_failing() -> None:
    assert after_attempt(HEALTHY, Ended("live", 1, 500), ()).status == FAILING


# --- the engine's glue: a fake poster on a frozen clock ---------------------------------------


class FakePoster:
    """Answers from a script of outcomes (then 200), and keeps what it was sent; no network."""

    def __init__(self, *script: Outcome) -> None:
        self.script = list(script)
        self.sent: list[int] = []  # activity ids, in order

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """The next scripted outcome."""
        self.sent.append(int(headers["webhook-id"].rsplit("_", 1)[1]))
        return self.script.pop(0) if self.script else Answer(200)

    async def close(self) -> None:
        """Nothing to close."""


class FakeAccount:
    """Just enough of an account for the engine."""

    key = "acct"
    secret = "s3cret"

    def __init__(self) -> None:
        self.activities: list[dict[str, Any]] = []
        self._ids = 0

    def next_id(self, sequence: str) -> int:
        """Sequential ids."""
        self._ids += 1
        return self._ids

    def record(self, engine: WebhookEngine) -> None:
        """A new activity, handed to the engine as the store does."""
        n = len(self.activities) + 1
        activity = {
            "Id": n,
            "Type": "Created",
            "Message": f"#{n}",
            "CreatedOn": f"2024-03-01T12:00:{n:02d}+00:00",
        }
        self.activities.append(activity)
        engine.on_activity(self, activity)


def test_the_engine_walks_the_whole_cycle_with_a_fake_poster_and_clock() -> None:
    clock = Clock(origin=datetime(2024, 3, 1, 12, tzinfo=UTC), speed=0.0)
    down = [Failure("connection refused")] * (len(SCHEDULE) + 2)  # schedule + first probe
    poster = FakePoster(*down)
    engine = WebhookEngine(Settings(retry_schedule=SCHEDULE, probe_interval=60.0), clock, poster=poster)
    account = FakeAccount()
    engine.add(account, "http://127.0.0.1:9/hook")

    async def run() -> list[str]:
        await engine.start()
        states = []
        account.record(engine)  # 1: refused, retried on the schedule, exhausted
        await engine.settle_due()
        states.append(engine.describe(account)[0]["State"])
        for delay in SCHEDULE:
            clock.advance(delay)
            await engine.settle_due()
            states.append(engine.describe(account)[0]["State"])
        account.record(engine)  # 2 and 3 arrive while failing: held, not sent
        account.record(engine)
        await engine.settle_due()
        await engine.run_until_idle()  # probe refused, next probe answered, catch-up 2, 3
        states.append(engine.describe(account)[0]["State"])
        account.record(engine)  # 4: live again
        await engine.settle_due()
        await engine.stop()
        return states

    states = asyncio.run(run())
    hook = engine.describe(account)[0]
    assert states == ["retrying", "retrying", "retrying", "failing", "healthy"]
    assert [state for _, state in hook["History"]] == ["retrying", "failing", "healthy"]
    assert poster.sent == [1, 1, 1, 1, 1, 1, 2, 3, 4]  # 4 attempts, 2 probes, catch-up in order, live
    assert hook["Delivered"] == 4 and hook["Pending"] == 0 and not hook["CatchingUp"]
    kinds = [d["Kind"] for d in engine.log(account)]
    assert kinds == ["live", "retry", "retry", "retry", "probe", "probe", "catchup", "catchup", "live"]


def test_a_fake_poster_timeout_is_a_timed_out_failure() -> None:
    assert timeout_failure(2.5) == Failure("no answer within 2.5s (timeout)", timed_out=True)
