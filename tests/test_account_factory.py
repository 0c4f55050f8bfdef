"""--any-key accounts are seeded in worker processes: others are served meanwhile, data unchanged,
and a worker that dies, hangs or cannot start never loses an account or hangs the server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from envoice_mock.api import account_factory
from envoice_mock.api.account_factory import AccountFactory
from envoice_mock.api.app import create_app
from envoice_mock.config import Settings
from envoice_mock.runtime import seed_workers
from envoice_mock.runtime.persistence import SqliteJournal
from envoice_mock.runtime.seed_workers import Seeded, SeedPool, pack, seed_privately, unpack
from envoice_mock.runtime.wiring import build_runtime
from envoice_mock.spec import Spec

from .helpers import AUTH, START, ServerProcess, eventually

NEW = {"x-auth-key": "fresh-key", "x-auth-secret": "fresh-secret"}


def tables(account: Any) -> str:
    """An account's rows, activities, ids and floor as comparable text."""
    return json.dumps(
        [account.tables, account.activities, account.sequences, account.sweep_floor, account.id_base],
        sort_keys=True,
    )


def inline(settings: Settings, spec: Spec, key: str, secret: str) -> Any:
    """`key`'s account as inline seeding (no worker) makes it."""
    return build_runtime(settings, spec=spec).store.add_account(key, secret)


class GatedPool(SeedPool):
    """Seeds in the test's own process, once the test opens the gate."""

    def __init__(self, spec: Spec, settings: Settings) -> None:
        super().__init__(spec, settings)
        self.gate = asyncio.Event()
        self.calls = 0

    async def seed(self, key: str, secret: str, id_base: int, now: datetime) -> Seeded:
        self.calls += 1
        await self.gate.wait()
        return seed_privately(self.spec, self.settings, now, key, secret, id_base)


@pytest.fixture
def any_key(settings: Settings) -> Settings:
    return settings.with_(any_key=True)


@pytest.fixture
def factory(any_key: Settings, spec: Spec) -> Iterator[AccountFactory]:
    """A factory with real worker processes over a fresh --any-key store (stopped after)."""
    made = AccountFactory(build_runtime(any_key, spec=spec).store)
    yield made
    made.close()


def test_a_seeding_in_progress_does_not_hold_up_another_account(
    any_key: Settings, spec: Spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools: list[GatedPool] = []
    monkeypatch.setattr(
        account_factory, "SeedPool", lambda *args: pools.append(GatedPool(*args)) or pools[-1]
    )
    app = create_app(runtime=build_runtime(any_key, spec=spec))

    async def scenario() -> tuple[bool, int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as c:
            new = asyncio.create_task(c.get("/api/worktype/all", headers=NEW))
            other = await asyncio.wait_for(c.get("/api/worktype/all", headers=AUTH), 30)
            still_seeding = not new.done()
            (pool,) = pools
            pool.gate.set()
            return still_seeding, other.status_code, (await asyncio.wait_for(new, 30)).status_code

    still_seeding, other_status, new_status = asyncio.run(scenario())
    assert still_seeding and other_status == 200 and new_status == 200


def test_the_first_request_giving_up_does_not_stop_the_seeding_others_wait_for(
    any_key: Settings, spec: Spec
) -> None:
    runtime = build_runtime(any_key, spec=spec)
    pool = GatedPool(spec, any_key)
    made = AccountFactory(runtime.store, pool=pool)

    async def scenario() -> None:
        first = asyncio.create_task(made.ensure("k", "s"))
        second = asyncio.create_task(made.ensure("k", "s"))
        await asyncio.sleep(0)  # both are waiting on the one seeding
        first.cancel()
        pool.gate.set()
        await asyncio.wait_for(second, 30)
        assert first.cancelled()

    asyncio.run(scenario())
    assert pool.calls == 1
    assert tables(runtime.store.accounts["k"]) == tables(inline(any_key, spec, "k", "s"))


def test_many_keys_at_once_get_exactly_the_accounts_inline_seeding_gives(
    factory: AccountFactory, any_key: Settings, spec: Spec
) -> None:
    keys = [f"key-{i}" for i in range(12)]

    async def first_calls() -> None:  # every key asked for three times at once
        await asyncio.wait_for(asyncio.gather(*(factory.ensure(k, f"s-{k}") for k in keys * 3)), 120)

    asyncio.run(first_calls())
    store = factory.store
    assert factory.pool.pids(), "seeded in worker processes"
    bases = {store.accounts[k].id_base for k in keys} | {store.accounts["sandbox-key"].id_base}
    assert len(bases) == len(keys) + 1  # no two accounts share an id block
    for key in keys:
        adopted = store.accounts[key]
        assert tables(adopted) == tables(inline(any_key, spec, key, f"s-{key}"))
        invoice = max(adopted.table("invoice").values(), key=lambda r: r["Id"])
        assert store.shares[invoice["AccessToken"]] == (key, "invoice", invoice["Id"])
        assert adopted.allocate is not None  # it may outgrow its id block like any account


def test_a_packed_account_loads_whole_sharing_its_activities_between_its_logs(
    any_key: Settings, spec: Spec
) -> None:
    account, shares, _ = seed_privately(spec, any_key, START, "k", "s", 100_000)
    account.table("empty")
    loaded, loaded_shares, encoded = asyncio.run(unpack(pack((account, shares, None))))
    assert encoded is None  # no state file
    assert tables(loaded) == tables(account) and list(loaded.tables) == list(account.tables)
    assert loaded_shares == shares and loaded.doc_activities == account.doc_activities
    (_, logged), *_ = loaded.doc_activities.items()
    assert any(logged[0] is activity for activity in loaded.activities)  # one object, as in the store


def test_a_killed_worker_costs_no_account_and_a_fresh_pool_takes_over(
    factory: AccountFactory, any_key: Settings, spec: Spec
) -> None:
    asyncio.run(factory.ensure("before", "s"))
    (pid,) = factory.pool.pids()
    os.kill(pid, signal.SIGKILL)

    async def after_the_kill() -> None:
        await asyncio.wait_for(asyncio.gather(*(factory.ensure(f"after-{i}", "s") for i in range(3))), 60)
        await asyncio.wait_for(factory.ensure("later", "s"), 60)

    asyncio.run(after_the_kill())
    for key in ("after-0", "after-1", "after-2", "later"):
        assert tables(factory.store.accounts[key]) == tables(inline(any_key, spec, key, "s"))
    assert factory.pool.pids() and pid not in factory.pool.pids()


def test_close_does_not_hang_on_a_stuck_worker(
    factory: AccountFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(factory.ensure("k", "s"))
    (pid,) = factory.pool.pids()
    os.kill(pid, signal.SIGSTOP)
    monkeypatch.setattr(seed_workers, "STOP_GRACE", 0.2)
    factory.close()
    assert factory.pool.pids() == []
    with pytest.raises(ChildProcessError):  # killed and reaped
        os.waitpid(pid, os.WNOHANG)


def test_where_no_worker_can_start_accounts_are_seeded_in_a_thread(
    any_key: Settings, spec: Spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []

    def no_processes(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        raise OSError("no semaphores here")

    monkeypatch.setattr(seed_workers, "ProcessPoolExecutor", no_processes)
    made = AccountFactory(build_runtime(any_key, spec=spec).store)
    keys = [f"k{i}" for i in range(6)]

    async def scenario() -> None:
        await asyncio.wait_for(asyncio.gather(*(made.ensure(k, "s") for k in keys[:3])), 60)
        for key in keys[3:]:
            await asyncio.wait_for(made.ensure(key, "s"), 60)

    try:
        asyncio.run(scenario())
    finally:
        made.close()
    assert len(attempts) == seed_workers.GIVE_UP_AFTER  # then it stopped trying
    for key in keys:
        assert tables(made.store.accounts[key]) == tables(inline(any_key, spec, key, "s"))


def stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, parent, ...); None: gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    fields = stat(pid)
    return fields is not None and fields[0] != "Z"


def children(pid: int) -> set[int]:
    """The running processes whose parent is `pid` (Linux /proc)."""
    pids = (int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit())
    return {p for p in pids if (fields := stat(p)) is not None and int(fields[1]) == pid and running(p)}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_any_key_accounts_survive_a_restart_and_sigterm_stops_the_workers(tmp_path: Path) -> None:
    args = ("--any-key", "--state-file", str(tmp_path / "state.sqlite"))
    pages = ("/api/invoice/all?pageSize=100", "/api/client/all", "/api/order/all?pageSize=100")
    server = ServerProcess(*args)
    try:
        before = [server.client.get(p, headers=NEW).content for p in pages]
        workers = children(server.proc.pid)
        assert workers, "the account was seeded in a worker process"
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=20)
    finally:
        server.stop()
    eventually(lambda: not any(running(pid) for pid in workers), what="the workers to exit")
    assert "leaked" not in "".join(server.output)  # the pool's semaphores were released at the stop
    server = ServerProcess(*args)
    try:
        assert [server.client.get(p, headers=NEW).content for p in pages] == before
        assert not children(server.proc.pid)  # restored from the file, not seeded again
    finally:
        server.stop()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_the_workers_of_a_killed_server_exit_too() -> None:
    server = ServerProcess("--any-key")
    try:
        server.client.get("/api/worktype/all", headers=NEW).raise_for_status()
        workers = children(server.proc.pid)
        assert workers, "the account was seeded in a worker process"
    finally:
        server.kill()
    eventually(lambda: not any(running(pid) for pid in workers), what="the orphaned workers to exit")


def test_journal_rows_encoded_in_the_seeding_process_are_those_the_journal_would_write(
    tmp_path: Path, any_key: Settings, spec: Spec
) -> None:
    on_file = any_key.with_(state_file=tmp_path / "state.sqlite")
    account, _, encoded = seed_privately(spec, on_file, START, "k", "s", 100_000)
    assert encoded is not None
    written = []
    for name, given in (("encoded-elsewhere", encoded), ("encoded-here", None)):
        journal = SqliteJournal(tmp_path / f"{name}.sqlite")
        try:
            journal.save_new_account(account, given)
            written.append(
                [
                    journal.db.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
                    for table in ("accounts", "objects", "activities")
                ]
            )
        finally:
            journal.close()
    assert written[0] == written[1] and len(written[0][1]) == sum(len(t) for t in account.tables.values())


def test_a_spec_that_cannot_go_to_a_process_is_seeded_in_a_thread(any_key: Settings, spec: Spec) -> None:
    local = replace(spec, seed={**spec.seed, "made here": lambda: None})  # cannot be pickled
    made = AccountFactory(build_runtime(any_key, spec=local).store)
    try:
        asyncio.run(asyncio.wait_for(made.ensure("k", "s"), 60))
    finally:
        made.close()
    assert tables(made.store.accounts["k"]) == tables(inline(any_key, spec, "k", "s"))
