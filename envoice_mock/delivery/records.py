"""The delivery layer's records: a webhook, a queued attempt, chaos's plan for an attempt, a
receiver's answer or a failure, and the delivery-log record.

Plain data with no behaviour beyond describing itself; every other delivery module imports
these from here (so no module needs the engine's to name them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict

from envoice_mock.clock import parse_iso
from envoice_mock.signing import whsec

Activity = dict[str, Any]  # an activity as the store records it (Id, Type, Message, CreatedOn, ...)


class HookState(StrEnum):
    """A webhook's delivery state (a str, so it is stored and shown as its value)."""

    HEALTHY = "healthy"
    RETRYING = "retrying"
    FAILING = "failing"


# The states as plain module names: an Enum attribute costs ~100 ns on Python 3.11, and these are
# read for every delivery.
HEALTHY, RETRYING, FAILING = HookState.HEALTHY, HookState.RETRYING, HookState.FAILING


@dataclass(slots=True)
class Webhook:
    """One registered URL of an account, with its delivery state."""

    id: str
    account: str
    url: str
    secret: str
    created_on: str
    since_activity: int
    state: HookState = HookState.HEALTHY
    delivered: set[int] = field(default_factory=set)
    retrying: dict[int, Activity] = field(default_factory=dict)  # activity id -> activity, between retries
    held: dict[int, Activity] = field(default_factory=dict)  # activity id -> activity, while failing
    catching_up: bool = False
    next_probe: float | None = None
    attempts_failed: int = 0
    history: list[list[str]] = field(default_factory=list)  # [when, state] at each change
    tries: dict[int, int] = field(default_factory=dict)  # activity id -> attempts sent so far

    def __post_init__(self) -> None:
        self.state = HookState(self.state)  # a state file stores it as text

    def describe(self) -> dict[str, Any]:
        """The control API's view of this webhook."""
        return {
            "Id": self.id,
            "Url": self.url,
            "State": self.state.value,
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
    activity: Activity = field(compare=False)
    attempt: int = field(compare=False, default=1)
    kind: str = field(compare=False, default="live")  # live | retry | probe | catchup | replay | duplicate
    scheduled: float = field(compare=False, default=0.0)
    marks: tuple[str, ...] = field(compare=False, default=())


@dataclass(slots=True)
class Plan:
    """What chaos does to one attempt."""

    status: int | None = None  # answer this status without sending
    error: str | None = None  # "timeout" | "refused": fail without sending
    delay: float = 0.0  # virtual seconds to hold the attempt back
    corrupt_signature: bool = False
    duplicates: int = 0
    marks: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Answer:
    """A receiver's answer: the status and at most MAX_ANSWER_BYTES of the body."""

    status: int
    body: bytes = b""
    truncated: bool = False


@dataclass(slots=True)
class Failure:
    """An attempt that got no answer: the delivery log's `Error` text, and whether it timed out."""

    error: str
    timed_out: bool = False


Outcome = Answer | Failure  # what a Poster answers for one delivery


class DeliveryRecord(TypedDict, total=False):
    """One attempt as the delivery log and the delivery listeners see it.

    A TypedDict rather than a dataclass: listeners (the event stream, the benchmark) and the
    log's row codec read it by key, and `Seq` / `State` are added after the attempt."""

    Seq: int
    DeliveryId: str
    WebhookId: str
    Url: str
    ActivityId: int
    ActivityType: str | None
    ActivityCreatedOn: str | None
    Attempt: int
    Kind: str
    ScheduledAt: str
    SentAt: str
    StatusCode: int | None
    Error: str | None
    DurationMs: float
    Outcome: str
    Chaos: list[str]
    Body: str
    Answer: str | None
    AnswerTruncated: bool
    State: str


def chronological(activity: Activity) -> tuple[datetime, int]:
    """Sort key: CreatedOn, then Id."""
    return parse_iso(activity.get("CreatedOn") or "1970-01-01T00:00:00+00:00"), int(activity["Id"])
