"""The delivery log: every attempt of an account, newest MAX_LOG kept in memory, as compact rows.

A row is a tuple in FIELDS order (about a quarter of the memory of a dict with the same keys);
it becomes a dict only when read. `Seq` numbers an account's attempts 1, 2, 3, ... and is the
cursor of `GET /_mock/deliveries?since=<Seq>&limit=N`.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from typing import Any

from envoice_mock.delivery.records import DeliveryRecord

MAX_LOG = 10_000  # attempts kept per account (the oldest are dropped first)
FIELDS = (
    "Seq",
    "DeliveryId",
    "WebhookId",
    "Url",
    "ActivityId",
    "ActivityType",
    "ActivityCreatedOn",
    "Attempt",
    "Kind",
    "ScheduledAt",
    "SentAt",
    "StatusCode",
    "Error",
    "DurationMs",
    "Outcome",
    "Chaos",
    "Body",
    "Answer",
    "AnswerTruncated",
    "State",
)
_INDEX = {name: i for i, name in enumerate(FIELDS)}


class DeliveryLog:
    """Per-account attempt rows, oldest first."""

    def __init__(self, keep: int = MAX_LOG) -> None:
        self.keep = keep
        self._rows: dict[str, deque[tuple[Any, ...]]] = {}
        self._seq: dict[str, int] = {}

    def append(self, account: str, record: DeliveryRecord) -> None:
        """Log one attempt (its `Seq` is set here)."""
        seq = self._seq[account] = self._seq.get(account, 0) + 1
        record["Seq"] = seq
        rows = self._rows.get(account)
        if rows is None:
            rows = self._rows[account] = deque(maxlen=self.keep)
        rows.append(tuple(tuple(v) if isinstance(v, list) else v for v in (record.get(f) for f in FIELDS)))

    def rows(
        self,
        account: str,
        since: int = 0,
        webhook: str | None = None,
        activity: int | None = None,
        outcome: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Attempts after Seq `since`, oldest first, filtered."""
        rows = self._rows.get(account)
        if not rows:
            return
        start = max(0, since - rows[0][0] + 1)
        hook_i, act_i, out_i = _INDEX["WebhookId"], _INDEX["ActivityId"], _INDEX["Outcome"]
        for row in itertools.islice(rows, start, None):
            if (
                (webhook is None or row[hook_i] == webhook)
                and (activity is None or row[act_i] == activity)
                and (outcome is None or row[out_i] == outcome)
            ):
                out = dict(zip(FIELDS, row, strict=True))
                out["Chaos"] = list(out["Chaos"] or ())
                yield out

    def forget(self, account: str) -> None:
        """Drop an account's rows (Seq keeps counting)."""
        self._rows.pop(account, None)
