"""Activities held for catch-up while a webhook is failing, oldest first.

Each webhook's `held` map keeps the activities; this index keeps their chronological order
(CreatedOn, then Id) in a heap per webhook, so catch-up takes the oldest in O(log n) and a
whole catch-up stays linear.
"""

from __future__ import annotations

import heapq
from datetime import datetime

from envoice_mock.delivery.records import Activity, Webhook, chronological


class HeldOrder:
    """The chronological order of every webhook's held activities."""

    def __init__(self) -> None:
        self._heaps: dict[str, list[tuple[tuple[datetime, int], int]]] = {}  # hook id -> heap

    def hold(self, hook: Webhook, activity: Activity) -> None:
        """Keep an activity for catch-up, remembering its chronological place."""
        if activity["Id"] not in hook.held:
            heapq.heappush(self._heaps.setdefault(hook.id, []), (chronological(activity), activity["Id"]))
        hook.held[activity["Id"]] = activity

    def oldest(self, hook: Webhook) -> Activity | None:
        """The held activity first in time (CreatedOn, then Id), or None."""
        if not hook.held:
            self._heaps.pop(hook.id, None)
            return None
        order = self._heaps.get(hook.id) or []
        while order and order[0][1] not in hook.held:
            heapq.heappop(order)
        if not order:  # held filled some other way: index it afresh
            order = self._heaps[hook.id] = [(chronological(a), i) for i, a in hook.held.items()]
            heapq.heapify(order)
        return hook.held[order[0][1]]

    def forget(self, hook_id: str) -> None:
        """Drop a webhook's order (its held map was emptied)."""
        self._heaps.pop(hook_id, None)
