"""Objects known to live long, taken out of the young collections' view at once.

An account seeded in a worker arrives as thousands of objects that will live as long as the
account. Left to the collector, every 5,000 of them made a young collection walk them all
(0.7-2.7 ms, in the middle of someone else's request) only to find them alive. Where the
server paces garbage collection (`cli/gcpacing.py` sets `FREEZING`), they are frozen as they
arrive: frozen objects are still found by the full collections that pacer runs when idle.
Elsewhere (tests, the pytest plugin) nothing is frozen: nobody would collect them in full.
"""

from __future__ import annotations

import gc

FREEZING = False  # set by the server's garbage-collection pacer while it is installed


def settle() -> None:
    """Freeze everything tracked now (when the server's pacer is installed): what was just
    loaded is never walked by a young collection."""
    if FREEZING:
        gc.freeze()
