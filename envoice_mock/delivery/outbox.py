"""Queued delivery attempts: one timer heap per account, one ready lane per webhook.

Every account runs on its own time line (the server's clock plus the account's offset), so
its attempts wait in its own heap, keyed by when they fall due on that time line. A due
attempt moves to its webhook's lane, where the dispatcher takes it when the webhook has a
free slot: retries, probes and catch-up first (so a retry is never stuck behind a backlog of
first attempts), then the rest in the order they fell due.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable

from envoice_mock.clock import Clock
from envoice_mock.delivery.records import Job

URGENT = frozenset({"retry", "probe", "catchup"})  # taken before first attempts, even while stalled
UNOWED = frozenset({"probe", "catchup"})  # attempts of an activity already counted as held


class Outbox:
    """Timers per account, lanes per webhook, and how many attempts each webhook is owed."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._timers: dict[str, list[Job]] = {}  # account key -> heap by (due, order)
        self._lanes: dict[str, list[tuple[int, float, int, Job]]] = {}  # hook id -> ready heap
        self._owed: Counter[str] = Counter()  # hook id -> owed attempts queued or in flight

    def push(self, account: str, job: Job) -> None:
        """Queue an attempt on the account's time line."""
        heapq.heappush(self._timers.setdefault(account, []), job)
        if job.kind not in UNOWED:
            self._owed[job.hook_id] += 1

    def release(self, job: Job) -> None:
        """An attempt taken from a lane is over (sent, held or dropped)."""
        if job.kind not in UNOWED:
            left = self._owed[job.hook_id] - 1
            if left > 0:
                self._owed[job.hook_id] = left
            else:
                self._owed.pop(job.hook_id, None)

    def promote(self, account: str | None = None) -> set[str]:
        """Move what fell due (for one account, or all) into the webhooks' lanes; answers their ids."""
        touched: set[str] = set()
        keys: Iterable[str] = (account,) if account is not None else list(self._timers)
        for key in keys:
            heap = self._timers.get(key)
            if not heap:
                continue
            now = self.clock.seconds(key)
            while heap and heap[0].due <= now:
                job = heapq.heappop(heap)
                rank = 0 if job.kind in URGENT else 1
                heapq.heappush(self._lanes.setdefault(job.hook_id, []), (rank, job.due, job.order, job))
                touched.add(job.hook_id)
            if not heap:
                del self._timers[key]
        return touched

    def has_ready(self, hook_id: str, urgent_only: bool = False) -> bool:
        """Whether `take` would answer an attempt."""
        lane = self._lanes.get(hook_id)
        return lane is not None and bool(lane) and not (urgent_only and lane[0][0] != 0)

    def take(self, hook_id: str, urgent_only: bool = False) -> Job | None:
        """The next ready attempt of a webhook (only retries, probes, catch-up when `urgent_only`)."""
        lane = self._lanes.get(hook_id)
        if not lane or (urgent_only and lane[0][0] != 0):
            return None
        job = heapq.heappop(lane)[3]
        if not lane:
            del self._lanes[hook_id]
        return job

    def ready_hooks(self) -> list[str]:
        """Webhooks with attempts waiting in their lanes."""
        return list(self._lanes)

    def take_all(self, hook_id: str) -> list[Job]:
        """Empty a webhook's lane (in lane order)."""
        lane = self._lanes.pop(hook_id, [])
        return [entry[3] for entry in sorted(lane)]

    def drop(self, hook_ids: set[str]) -> None:
        """Forget every queued attempt of these webhooks."""
        for key in list(self._timers):
            heap = [j for j in self._timers[key] if j.hook_id not in hook_ids]
            if heap:
                heapq.heapify(heap)
                self._timers[key] = heap
            else:
                del self._timers[key]
        for hook_id in hook_ids:
            self._lanes.pop(hook_id, None)
            self._owed.pop(hook_id, None)

    def owed(self, hook_id: str) -> int:
        """Attempts of new activities queued, ready or in flight for a webhook."""
        return self._owed.get(hook_id, 0)

    def next_in(self, account: str | None = None) -> float | None:
        """Virtual seconds until the next timer (of one account, or of any), or None."""
        keys: Iterable[str] = (account,) if account is not None else self._timers
        deltas = [self._timers[key][0].due - self.clock.seconds(key) for key in keys if self._timers.get(key)]
        return min(deltas) if deltas else None

    def has_timers(self, account: str | None = None) -> bool:
        """Whether anything waits on a timer (for one account, or any)."""
        return bool(self._timers.get(account) if account is not None else self._timers)
