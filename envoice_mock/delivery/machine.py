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

from dataclasses import dataclass
from enum import Enum

from envoice_mock.delivery.records import HookState

UNCOUNTED = frozenset({"duplicate", "replay"})  # attempts of activities already delivered or counted
PROBING = frozenset({"probe", "catchup"})  # attempts made while recovering from failing


@dataclass(frozen=True, slots=True)
class Status:
    """What the machine knows of one webhook."""

    state: HookState = HookState.HEALTHY
    catching_up: bool = False
    stalled: bool = False


@dataclass(frozen=True, slots=True)
class Ended:
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


@dataclass(frozen=True, slots=True)
class Step:
    """The machine's answer: the next status and what to do."""

    status: Status
    actions: tuple[Action, ...]
    retry_in: float = 0.0  # seconds until the retry, with Action.RETRY


def holds_new(status: Status, kind: str) -> bool:
    """Whether a new activity's first attempt is held rather than queued (failing or catching up)."""
    return kind == "live" and (status.state is HookState.FAILING or status.catching_up)


def holds_taken(status: Status, kind: str) -> bool:
    """Whether an attempt taken from the queue is held rather than sent (the webhook is failing)."""
    return kind in ("live", "retry") and status.state is HookState.FAILING


def after_attempt(status: Status, event: Ended, retry_schedule: tuple[float, ...]) -> Step:
    """The transition for an attempt's outcome."""
    if event.status is not None:
        status = Status(status.state, status.catching_up, stalled=False)  # the receiver answers again
    if event.status == 200:
        return _delivered(status, event)
    return _failed(status, event, retry_schedule)


def _delivered(status: Status, event: Ended) -> Step:
    actions = [] if event.kind in UNCOUNTED else [Action.COUNT_DELIVERED]
    actions.append(Action.ACKNOWLEDGE)
    state, catching_up = status.state, status.catching_up
    if event.kind == "probe":
        state = HookState.HEALTHY
        actions.append(Action.CANCEL_PROBE)
    if event.kind in PROBING:
        catching_up = event.held_left
        if catching_up:
            actions.append(Action.CATCH_UP_NEXT)
    if state is HookState.RETRYING and not event.retrying_left:
        state = HookState.HEALTHY
    actions.append(Action.SAVE)
    return Step(Status(state, catching_up, status.stalled), tuple(actions))


def _failed(status: Status, event: Ended, retry_schedule: tuple[float, ...]) -> Step:
    if event.kind in UNCOUNTED:
        return Step(status, (Action.COUNT_FAILED,))
    if event.kind in PROBING:
        failing = Status(HookState.FAILING, catching_up=False, stalled=False)
        return Step(failing, (Action.COUNT_FAILED, Action.HOLD, Action.SCHEDULE_PROBE, Action.SAVE))
    if event.attempt <= len(retry_schedule):
        state = HookState.RETRYING if status.state is HookState.HEALTHY else status.state
        # After a timeout, first attempts wait until this retry gets an answer: one timeout per step.
        stalled = status.stalled or event.timed_out
        return Step(
            Status(state, status.catching_up, stalled),
            (Action.COUNT_FAILED, Action.RETRY, Action.SAVE),
            retry_in=retry_schedule[event.attempt - 1],
        )
    # Exhausted: the webhook is failing; everything not yet delivered is held for catch-up.
    # What waits in the queue is held as it is taken, at no cost, so it is not stalled.
    failing = Status(HookState.FAILING, status.catching_up, stalled=False)
    actions = (Action.COUNT_FAILED, Action.HOLD, Action.HOLD_RETRYING, Action.SCHEDULE_PROBE, Action.SAVE)
    return Step(failing, actions)
