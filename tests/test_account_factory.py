"""--any-key accounts are seeded off the event loop: others are served meanwhile, data unchanged."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest

from envoice_mock.api.account_factory import AccountFactory
from envoice_mock.api.app import create_app
from envoice_mock.config import Settings
from envoice_mock.runtime.wiring import build_runtime
from envoice_mock.spec import Spec

from .helpers import AUTH

NEW = {"x-auth-key": "fresh-key", "x-auth-secret": "fresh-secret"}


def tables(account: Any) -> str:
    """An account's rows and activities as comparable text."""
    return json.dumps([account.tables, account.activities, account.sequences], sort_keys=True)


def test_a_seeding_in_progress_does_not_hold_up_another_account(
    settings: Settings, spec: Spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    real = AccountFactory._seed

    def slow_seed(self: AccountFactory, *args: Any) -> Any:
        assert gate.wait(30), "the test never opened the gate"
        return real(self, *args)

    monkeypatch.setattr(AccountFactory, "_seed", slow_seed)
    runtime = build_runtime(settings.with_(any_key=True), spec=spec)

    async def scenario() -> tuple[bool, int, int]:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as c:
            new = asyncio.create_task(c.get("/api/worktype/all", headers=NEW))
            other = await asyncio.wait_for(c.get("/api/worktype/all", headers=AUTH), 30)
            still_seeding = not new.done()
            gate.set()
            return still_seeding, other.status_code, (await asyncio.wait_for(new, 30)).status_code

    try:
        still_seeding, other_status, new_status = asyncio.run(scenario())
    finally:
        gate.set()
    assert still_seeding and other_status == 200 and new_status == 200


def test_off_loop_seeding_gives_the_same_data_as_inline_seeding(settings: Settings, spec: Spec) -> None:
    runtime = build_runtime(settings.with_(any_key=True), spec=spec)

    async def first_calls() -> list[int]:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as c:
            answers = await asyncio.gather(*(c.get("/api/worktype/all", headers=NEW) for _ in range(5)))
            return [a.status_code for a in answers]

    assert asyncio.run(first_calls()) == [200] * 5  # five first calls at once: one account
    inline = build_runtime(settings, spec=spec).store.add_account(NEW["x-auth-key"], NEW["x-auth-secret"])
    adopted = runtime.store.accounts[NEW["x-auth-key"]]
    assert tables(adopted) == tables(inline)
    invoice = max(adopted.table("invoice").values(), key=lambda r: r["Id"])
    assert runtime.store.shares[invoice["AccessToken"]] == (NEW["x-auth-key"], "invoice", invoice["Id"])
