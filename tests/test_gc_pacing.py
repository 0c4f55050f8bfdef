"""The server's garbage-collection pacing: survivors frozen, cycles still found in the end."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from envoice_mock import survivors
from envoice_mock.cli.gcpacing import GcPacer


@pytest.fixture
def pacer() -> Iterator[GcPacer]:
    """A pacer installed for one test; the collector's defaults given back afterwards."""
    was_enabled = gc.isenabled()
    thresholds = gc.get_threshold()
    pacer = GcPacer(young=500, idle_ticks=3, busy_ticks=50)
    pacer.install()
    try:
        yield pacer
    finally:
        pacer.uninstall()
        gc.set_threshold(*thresholds)
        if not was_enabled:
            gc.disable()


class Node:
    """A cycle: it refers to itself."""

    def __init__(self) -> None:
        self.me = self


def test_the_survivors_of_a_young_collection_are_frozen(pacer: GcPacer) -> None:
    before = gc.get_freeze_count()
    kept = [[i] for i in range(2_000)]  # tracked, alive: young collections run on the way
    assert pacer.since_full > 0
    assert gc.get_freeze_count() >= before + 1_000
    assert gc.get_count()[1] == 0  # nothing is left in the middle generation to walk again
    del kept


def test_a_cycle_that_died_after_its_freeze_is_found_once_the_server_is_idle(pacer: GcPacer) -> None:
    cycles = [Node() for _ in range(50)]
    gc.collect(0)  # a young collection: the live cycles are frozen
    assert pacer.since_full > 0
    del cycles  # now garbage, but frozen: no young collection will look at them
    assert gc.collect(0) < 50
    found = 0
    for _ in range(pacer.idle_ticks + 1):  # the server's ticks; nothing else happens meanwhile
        found += pacer.maintain()
    assert found >= 50
    assert pacer.full_collections == 1
    assert pacer.since_full == 0


def test_a_busy_server_is_not_paused_for_a_full_collection_however_its_heap_grows(pacer: GcPacer) -> None:
    kept = []
    for _ in range(pacer.busy_ticks - 1):
        kept.append([[i] for i in range(1_000)])  # the heap grows by far more than eightfold...
        gc.collect(0)  # ...with a young collection between every tick: busy
        pacer.since_full += 10**9 // pacer.young  # as if it had frozen a billion objects
        assert pacer.maintain() == 0
    assert pacer.full_collections == 0
    gc.collect(0)
    pacer.maintain()  # ...until it has been busy for busy_ticks in a row
    assert pacer.full_collections == 1
    del kept


def test_nothing_frozen_since_the_last_full_collection_means_nothing_to_do(pacer: GcPacer) -> None:
    pacer.since_full = 0
    for _ in range(pacer.idle_ticks * 3):
        assert pacer.maintain() == 0
    assert pacer.full_collections == 0


def test_what_is_loaded_for_good_is_frozen_only_under_the_pacer(pacer: GcPacer) -> None:
    loaded = [[i] for i in range(2_000)]  # an adopted account's objects, say
    survivors.settle()
    assert gc.get_count()[0] == 0  # no young collection will walk them
    assert gc.get_freeze_count() >= 2_000
    pacer.uninstall()  # without the pacer nobody collects frozen objects in full: no freezing
    more = [[i] for i in range(2_000)]
    survivors.settle()
    assert gc.get_freeze_count() == 0 and gc.get_count()[0] > 0
    del loaded, more
