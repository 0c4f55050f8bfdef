"""Bounded in-memory retention of an account's activities, and a compact form for each.

The newest MAX_ACTIVITIES activities of an account stay in memory (`/_mock/activities`, the
`Activities` of document details, chaos replays); older ones are dropped from memory once the
log is a tenth over the limit (a state file keeps them all). Activities still owed to a webhook
stay referenced by it until delivered. Repeated strings of an activity (its share link, message
and instant are the same for many activities of one document) are stored once.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

MAX_ACTIVITIES = 20_000  # per account, in memory
SHARED_STRINGS = ("Message", "Link", "CreatedOn", "InvoiceNumber", "EstimationNumber", "OrderNumber")
DOC_FIELDS = (("estimation", "EstimationId"), ("order", "OrderId"), ("invoice", "InvoiceId"))


class AccountLike(Protocol):
    """What retention needs of an account."""

    activities: list[dict[str, Any]]
    doc_activities: dict[tuple[str, int], list[dict[str, Any]]]


class Retention:
    """A store listener that keeps each account's activities compact and bounded."""

    def __init__(self, keep: int = MAX_ACTIVITIES) -> None:
        self.keep = keep

    def on_activity(self, account: AccountLike, activity: dict[str, Any]) -> None:
        """Share repeated strings; trim the account's log when it is a tenth over the limit."""
        for name in SHARED_STRINGS:
            value = activity.get(name)
            if type(value) is str:
                activity[name] = sys.intern(value)
        if len(account.activities) > self.keep + self.keep // 10:
            self.trim(account)

    def trim(self, account: AccountLike) -> int:
        """Drop all but the newest `keep` activities from memory; answers how many went."""
        cut = len(account.activities) - self.keep
        if cut <= 0:
            return 0
        dropped = account.activities[:cut]
        del account.activities[:cut]
        first_kept = account.activities[0]["Id"] if account.activities else None
        for activity in dropped:
            key = doc_key(activity)
            rows = account.doc_activities.get(key) if key else None
            if not rows or rows[0] is not activity:
                continue
            keep_from = 0
            while keep_from < len(rows) and (first_kept is None or rows[keep_from]["Id"] < first_kept):
                keep_from += 1
            del rows[:keep_from]
        return cut


def doc_key(activity: dict[str, Any]) -> tuple[str, int] | None:
    """The document an activity belongs to, as the store indexes it."""
    for kind, name in DOC_FIELDS:
        if activity.get(name) is not None and (kind != "invoice" or "EstimationId" not in activity):
            return kind, activity[name]
    return None
