"""Garbage collection paced for a server whose store only grows: short pauses, bounded memory.

Measured (`bench/peers_bench.py`-like loads under wrk: `POST invoice/new` at 32 connections,
p99; two rounds each): CPython's collector with the young threshold at 50,000 (what the server
used before): 21 ms; collector off: 7.7-7.9 ms; young collections every 5,000 allocations
with their survivors frozen, as here: 10.4-12 ms. What the collector walked again and again
were the rows the store keeps for good and the journal's recent requests, none of them garbage.

So every collection freezes what survived it (`gc.freeze`): out of the collector's view, each
young collection walks only what was allocated since the one before (a few milliseconds),
and nothing is walked twice. A cycle that dies after it was frozen (the objects of a
connection that was open at a freeze) would never be found, though (~100 bytes per closed
connection, measured under 50,000 connections that each sent one request; a request itself
leaves no cyclic garbage, measured for reads, writes, faults, 404s and 405s). So `maintain`
(called by the server ten times a second, on the event loop between requests) unfreezes
everything and collects once:
- when the server has been idle for a second (no allocations to speak of) after anything was
  frozen: nobody waits for it then;
- under a load that never pauses for a second, only every ten minutes: a full collection
  walks the whole heap (0.7 us per object: 230 ms for the 330,000 objects of 40,000 invoices,
  seconds for millions), so it is a pause every request in flight waits for. An earlier rule,
  a full collection whenever the heap may have grown eightfold, paused a 5-second window of
  `invoice/new` for 230 ms and set its p99 (bench/README.md); what a busy server leaves
  uncollected meanwhile is the few closed connections' cycles.
"""

from __future__ import annotations

import gc
from typing import Any

from envoice_mock import survivors

YOUNG = 5_000  # tracked allocations (net) between young collections
IDLE_TICKS = 10  # maintain() calls with no activity before an idle full collection
BUSY_TICKS = 6_000  # maintain() calls (ten minutes) of load without an idle second: collect anyway


class GcPacer:
    """Freezes the survivors of every collection; collects fully when idle, or after ten minutes
    of load that never paused."""

    def __init__(
        self, young: int = YOUNG, idle_ticks: int = IDLE_TICKS, busy_ticks: int = BUSY_TICKS
    ) -> None:
        self.young = young
        self.idle_ticks = idle_ticks
        self.busy_ticks = busy_ticks
        self._quiet = 0  # maintain() calls in a row that saw no activity
        self._seen: tuple[int, int] = (0, 0)
        self.ticks_since_full = 0  # maintain() calls since the last full collection
        self.since_full = 0  # young collections since (each froze what survived it)
        self.full_collections = 0
        self.installed = False

    def install(self) -> None:
        """Collect and freeze what start-up built, then pace every collection from now on."""
        gc.collect()
        gc.freeze()
        self.since_full = 0
        self.ticks_since_full = 0
        # The older generations never fill up (each collection freezes its survivors).
        gc.set_threshold(self.young, 1_000, 1_000)
        if self._collected not in gc.callbacks:
            gc.callbacks.append(self._collected)
        survivors.FREEZING = True  # objects known to live long may be frozen as they arrive
        self.installed = True

    def uninstall(self) -> None:
        """Give the collector back its defaults (tests, embedding)."""
        if self._collected in gc.callbacks:
            gc.callbacks.remove(self._collected)
        survivors.FREEZING = False
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)
        self.installed = False

    def _collected(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            gc.freeze()
            self.since_full += 1

    def due(self) -> bool:
        """Whether a full collection is due now (and notes this call's view of activity)."""
        seen = (self.since_full, gc.get_count()[0])
        busy = seen[0] != self._seen[0] or abs(seen[1] - self._seen[1]) > 50
        self._seen = seen
        self._quiet = 0 if busy else self._quiet + 1
        self.ticks_since_full += 1
        if self.since_full == 0:
            return False
        return self._quiet >= self.idle_ticks or self.ticks_since_full >= self.busy_ticks

    def maintain(self) -> int:
        """A full collection when one is due; answers the unreachable objects it found (else 0)."""
        if not self.installed or not self.due():
            return 0
        gc.unfreeze()
        found = gc.collect()
        self.since_full = 0
        self.ticks_since_full = 0
        self.full_collections += 1
        return found


PACER = GcPacer()
