"""Seeding new accounts in worker processes, so that seeding never holds the server's GIL.

Seeding one account is 15-40 ms of pure-Python CPU (faker, pricing, histories: a few hundred
rows and activities written through the store's rules). In a thread of the server it holds the
GIL against the event loop; in another process it does not. `SeedPool` keeps a small pool of
worker processes (spawned on first use, niced below the server) that each seed an account into
a private store built from the live spec and settings, with the clock frozen at the instant the
key was first seen: the data are exactly what inline seeding gives (same seed, same key, same
bytes). The account comes back pickled in small parts, loaded one at a time between other
requests (about a millisecond in all, never more than a few tens of microseconds at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from envoice_mock.clock import Clock
from envoice_mock.config import Settings
from envoice_mock.domain.seeding import seed_account
from envoice_mock.domain.store import Account, Store
from envoice_mock.runtime.persistence import EncodedAccount, encode_account
from envoice_mock.spec import Spec
from envoice_mock.survivors import settle

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

Shares = dict[str, tuple[str, str, int]]
Seeded = tuple[Account, Shares, EncodedAccount | None]  # the account, its share tokens, its journal rows

NICENESS = 19  # the lowest priority: a worker barely slows the server down when both want one CPU
STOP_GRACE = 5.0  # seconds a worker gets to finish its seeding at close before it is killed
PARENT_CHECK = 1.0  # seconds between a worker's checks that the server still lives
# The pool's manager and feeder threads share the GIL with the event loop: a loop that gave it up
# for a system call waited up to the interpreter's switch interval (5 ms) to get it back.
SWITCH_INTERVAL = 0.0005
START_TIMEOUT = 30.0  # seconds the workers may take to start (imports, faker) before they are given up
GIVE_UP_AFTER = 2  # pools that broke in a row (none seeded anything) before processes are given up

__all__ = ["BrokenProcessPool", "NoWorkers", "SeedPool", "Seeded", "pack", "seed_privately", "unpack"]


class NoWorkers(OSError):
    """Worker processes cannot be used here (every pool started broke before it seeded anything)."""


def seed_privately(
    spec: Spec, settings: Settings, now: datetime, key: str, secret: str, id_base: int
) -> Seeded:
    """Seed `key`'s account into a private store whose clock stands still at `now`: the account
    (detached from that store), the share tokens of its documents and, under --state-file,
    its rows as the journal writes them (encoded here, not on the event loop)."""
    scratch = Store(spec, settings, Clock(origin=now, speed=0.0), seeder=seed_account)
    account = scratch.add_account(key, secret, id_base=id_base)
    account.allocate = None  # the live store's registry gives it its own when it adopts the account
    return account, scratch.shares, encode_account(account) if settings.state_file else None


# --- in a worker process ----------------------------------------------------------------------
_context: tuple[Spec, Settings] | None = None


def _start_worker(spec: Spec, settings: Settings) -> None:
    """A worker's start: ignore Ctrl-C (the server stops it), exit with the server even when it
    is killed, step back, warm the faker."""
    global _context
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    with contextlib.suppress(OSError, AttributeError):
        os.nice(NICENESS)
    _context = spec, settings
    seed_privately(spec, settings, datetime.fromisoformat("2024-01-01T00:00:00+00:00"), "warm-up", "-", 1)


def _exit_with(server: int) -> None:
    # A killed server never tells its workers; they notice that they were handed to another parent.
    while os.getppid() == server:
        time.sleep(PARENT_CHECK)
    os._exit(0)


def _seed_in_worker(key: str, secret: str, id_base: int, now: datetime) -> bytes:
    assert _context is not None, "the worker was not started by SeedPool"
    return pack(seed_privately(*_context, now, key, secret, id_base))


# --- an account in small parts ------------------------------------------------------------------
PART = 25  # rows, activities or share tokens per part of a packed account


def pack(seeded: Seeded) -> bytes:
    """An account and its share tokens as a stream of small pickles, each shared object pickled
    once (one pickler's memo), so that loading them can pause between parts."""
    account, shares, encoded = seeded
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dump(replace(account, tables={}, activities=[], doc_activities={}, allocate=None))
    for kind, rows in account.tables.items():
        pickler.dump(("table", kind, []))  # an empty table too
        dump_parts(pickler, ("table", kind), list(rows.items()))
    dump_parts(pickler, ("activities",), account.activities)
    dump_parts(pickler, ("documents",), list(account.doc_activities.items()))
    dump_parts(pickler, ("shares",), list(shares.items()))
    if encoded is not None:
        dump_parts(pickler, ("objects",), encoded[0])
        dump_parts(pickler, ("activity rows",), encoded[1])
    return out.getvalue()


async def unpack(packed: bytes) -> Seeded:
    """The account of `pack`, loaded part by part: waiting requests run between two parts (a
    part takes some 20 microseconds, the whole account about a millisecond)."""
    unpickler = pickle.Unpickler(io.BytesIO(packed))
    account: Account = unpickler.load()
    shares: Shares = {}
    objects: list[tuple[str, int, str]] = []
    activity_rows: list[tuple[int, str]] = []
    while True:
        settle()  # the part just loaded lives as long as the account
        await asyncio.sleep(0)
        try:
            what, *part = unpickler.load()
        except EOFError:
            return account, shares, (objects, activity_rows) if objects or activity_rows else None
        if what == "table":
            account.tables.setdefault(part[0], {}).update(part[1])
        elif what == "activities":
            account.activities.extend(part[0])
        elif what == "documents":
            account.doc_activities.update(part[0])
        elif what == "shares":
            shares.update(part[0])
        elif what == "objects":
            objects.extend(part[0])
        else:
            activity_rows.extend(part[0])


def dump_parts(pickler: pickle.Pickler, tag: tuple[str, ...], items: list[Any]) -> None:
    """Pickle `items` as `(*tag, part)` in parts of at most PART."""
    for start in range(0, len(items), PART):
        pickler.dump((*tag, items[start : start + PART]))


def default_workers() -> int:
    """One worker per CPU this process may use, less one for the server (at least one, at most 4)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 2
    return max(1, min(4, cpus - 1))


# --- in the server ----------------------------------------------------------------------------
class SeedPool:
    """Worker processes that seed accounts; started by the first `seed`, stopped by `close`."""

    def __init__(self, spec: Spec, settings: Settings, workers: int | None = None) -> None:
        self.spec = spec
        self.settings = settings
        self.workers = workers or default_workers()
        self._executor: ProcessPoolExecutor | None = None
        self._starting: asyncio.Future[ProcessPoolExecutor] | None = None
        self._broken_in_a_row = 0

    async def seed(self, key: str, secret: str, id_base: int, now: datetime) -> Seeded:
        """Seed an account in a worker. BrokenProcessPool when a worker died (the next call starts
        a fresh pool); OSError when no process can be started (NoWorkers once pools keep breaking
        before they seed anything: a worker that cannot even start, say)."""
        if self._broken_in_a_row >= GIVE_UP_AFTER:
            raise NoWorkers(f"{GIVE_UP_AFTER} pools of seeding processes broke before seeding an account")
        if self._starting is None:
            self._starting = asyncio.ensure_future(asyncio.to_thread(self._start))
            self._starting.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved
        starting = self._starting
        try:
            executor = await asyncio.shield(starting)
            packed = await asyncio.wrap_future(executor.submit(_seed_in_worker, key, secret, id_base, now))
        except (BrokenProcessPool, OSError):
            if self._starting is starting:  # the first to hear of it drops the pool; the next call starts one
                self._starting = None
                self._broken_in_a_row += 1
                self._drop(grace=0.0)
            raise
        self._broken_in_a_row = 0
        return await unpack(packed)

    def _start(self) -> ProcessPoolExecutor:
        """Start the workers and wait until they are ready. In a thread: starting a process blocks
        until the child has read its start-up data (the spec), a third of a second."""
        sys.setswitchinterval(SWITCH_INTERVAL)
        executor = self._executor = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded server
            initializer=_start_worker,
            initargs=(self.spec, self.settings),
        )
        try:
            ready = [executor.submit(os.getpid) for _ in range(self.workers)]  # each starts a worker
            for future in ready:
                future.result(timeout=START_TIMEOUT)
        except TimeoutError:
            raise NoWorkers(f"the seeding processes did not start within {START_TIMEOUT:g} s") from None
        except (BrokenProcessPool, OSError):
            raise
        except Exception as exc:  # the spec or settings cannot be handed to a process, say
            raise NoWorkers(f"the seeding processes cannot start: {type(exc).__name__}: {exc}") from exc
        return executor

    def _drop(self, grace: float) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            _stop(executor, grace)

    def pids(self) -> list[int]:
        """The process ids of the running workers (none before the first `seed`)."""
        return [p.pid for p in _processes(self._executor) if p.pid is not None]

    def close(self) -> None:
        """Stop the workers: queued seedings are cancelled, a running one gets STOP_GRACE seconds."""
        self._starting = None
        self._drop(grace=STOP_GRACE)


def _stop(executor: ProcessPoolExecutor, grace: float) -> None:
    """Shut a pool down and wait for it (its queues' semaphores are released now: the server may
    end by its own signal, with no exit hooks), but never hang on a stuck worker: one still
    running after `grace` seconds is killed."""
    killer = threading.Timer(grace, _kill, args=(_processes(executor),))
    killer.start()
    try:
        executor.shutdown(wait=True, cancel_futures=True)
    finally:
        killer.cancel()


def _kill(processes: list[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.kill()


def _processes(executor: ProcessPoolExecutor | None) -> list[BaseProcess]:
    # The executor has no public list of its processes; stopping a stuck one needs it.
    return list((getattr(executor, "_processes", None) or {}).values())
