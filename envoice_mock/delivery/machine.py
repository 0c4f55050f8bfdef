"""The webhook state machine: what an attempt's outcome does to a webhook, as a pure function.

    healthy --first failure--> retrying --schedule exhausted--> failing
    failing --probe answered 200--> healthy, catching up (oldest held first, one at a time)
    catching up --nothing left held--> healthy, live deliveries resume
    catching up / probing --failure--> failing (a new probe after the probe interval)

A webhook's `Status` is its state, whether it is catching up, and whether it is stalled (its
last attempt timed out, so only retries and probes go out until a receiver answers again).
`after_attempt` maps (status, event) to the next status and the `Action`s the engine carries
out on its queues, the journal and the held activities. No I/O, no asyncio, no clock here:
the engine reads the clock and does the actions.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from envoice_mock.delivery.records import FAILING, HEALTHY, RETRYING, HookState

UNCOUNTED = frozenset({"duplicate", "replay"})  # attempts of activities already delivered or counted
PROBING = frozenset({"probe", "catchup"})  # attempts made while recovering from failing


class Status(NamedTuple):
    """What the machine knows of one webhook (immutable; a NamedTuple as it is built per attempt)."""

    state: HookState = HookState.HEALTHY
    catching_up: bool = False
    stalled: bool = False


class Ended(NamedTuple):
    """Event: an attempt of one activity ended."""

    kind: str  # live | retry | probe | catchup | replay | duplicate
    attempt: int  # the job's attempt number (1 for a first attempt)
    status: int | None  # the receiver's HTTP status; None when there was no answer
    timed_out: bool = False
    retrying_left: bool = False  # another activity (not this one) is between retries
    held_left: bool = False  # another activity (not this one) is held for catch-up


class Action(Enum):
    """What the engine does after a transition, in the order given."""

    COUNT_DELIVERED = "count delivered"  # an owed activity arrived: count it, forget its tries
    ACKNOWLEDGE = "acknowledge"  # no longer retried nor held; journal it as delivered
    CANCEL_PROBE = "cancel probe"  # no probe is due any more
    CATCH_UP_NEXT = "catch up next"  # send the oldest held activity (a catch-up attempt)
    COUNT_FAILED = "count failed"
    RETRY = "retry"  # keep the activity between retries; its next attempt after `Step.retry_in`
    HOLD = "hold"  # keep the activity for catch-up (not between retries any more)
    HOLD_RETRYING = "hold retrying"  # hold every activity that was between retries
    SCHEDULE_PROBE = "schedule probe"  # a probe after the probe interval (unless one is due later)
    SAVE = "save"  # journal the webhook's state


# The actions as plain module names (an Enum attribute costs ~100 ns on Python 3.11; read per delivery).
COUNT_DELIVERED = Action.COUNT_DELIVERED
ACKNOWLEDGE = Action.ACKNOWLEDGE
CANCEL_PROBE = Action.CANCEL_PROBE
CATCH_UP_NEXT = Action.CATCH_UP_NEXT
COUNT_FAILED = Action.COUNT_FAILED
RETRY = Action.RETRY
HOLD = Action.HOLD
HOLD_RETRYING = Action.HOLD_RETRYING
SCHEDULE_PROBE = Action.SCHEDULE_PROBE
SAVE = Action.SAVE


class Step(NamedTuple):
    """The machine's answer: the next status and what to do."""

    status: Status
    actions: tuple[Action, ...]
    retry_in: float = 0.0  # seconds until the retry, with RETRY


def holds_new(state: HookState, catching_up: bool, kind: str) -> bool:
    """Whether a new activity's first attempt is held rather than queued (failing or catching up)."""
    return kind == "live" and (state is FAILING or catching_up)


def holds_taken(state: HookState, kind: str) -> bool:
    """Whether an attempt taken from the queue is held rather than sent (the webhook is failing)."""
    return kind in ("live", "retry") and state is FAILING


def after_attempt(status: Status, event: Ended, retry_schedule: tuple[float, ...]) -> Step:
    """The transition for an attempt's outcome."""
    if event.status is not None and status.stalled:
        status = Status(status.state, status.catching_up, stalled=False)  # the receiver answers again
    if event.status == 200:
        return _delivered(status, event)
    return _failed(status, event, retry_schedule)


_DELIVERED = (COUNT_DELIVERED, ACKNOWLEDGE, SAVE)
_ACKNOWLEDGED = (ACKNOWLEDGE, SAVE)  # a replay or duplicate: counted before


def _delivered(status: Status, event: Ended) -> Step:
    if event.kind not in PROBING:  # the common case, kept cheap: it runs for every delivery
        if status.state is RETRYING and not event.retrying_left:
            status = Status(HEALTHY, status.catching_up, status.stalled)
        return Step(status, _ACKNOWLEDGED if event.kind in UNCOUNTED else _DELIVERED)
    actions = [COUNT_DELIVERED, ACKNOWLEDGE]
    state = status.state
    if event.kind == "probe":
        state = HEALTHY
        actions.append(CANCEL_PROBE)
    if event.held_left:
        actions.append(CATCH_UP_NEXT)
    if state is RETRYING and not event.retrying_left:
        state = HEALTHY
    actions.append(SAVE)
    return Step(Status(state, event.held_left, status.stalled), tuple(actions))


def _failed(status: Status, event: Ended, retry_schedule: tuple[float, ...]) -> Step:
    if event.kind in UNCOUNTED:
        return Step(status, (COUNT_FAILED,))
    if event.kind in PROBING:
        failing = Status(FAILING, catching_up=False, stalled=False)
        return Step(failing, (COUNT_FAILED, HOLD, SCHEDULE_PROBE, SAVE))
    if event.attempt <= len(retry_schedule):
        state = RETRYING if status.state is HEALTHY else status.state
        # After a timeout, first attempts wait until this retry gets an answer: one timeout per step.
        stalled = status.stalled or event.timed_out
        return Step(
            Status(state, status.catching_up, stalled),
            (COUNT_FAILED, RETRY, SAVE),
            retry_in=retry_schedule[event.attempt - 1],
        )
    # Exhausted: the webhook is failing; everything not yet delivered is held for catch-up.
    # What waits in the queue is held as it is taken, at no cost, so it is not stalled.
    failing = Status(FAILING, status.catching_up, stalled=False)
    actions = (COUNT_FAILED, HOLD, HOLD_RETRYING, SCHEDULE_PROBE, SAVE)
    return Step(failing, actions)
