"""Every id the server hands out is unique for the life of a state file, and still seeded."""

from __future__ import annotations

from pathlib import Path

import pytest

from envoice_mock.config import Settings
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.spec import Spec

from .helpers import START, RecordingPoster, client_of, worktype


def frozen(**changes: object) -> Settings:
    """A frozen clock, one retry."""
    base: dict[str, object] = {"clock_start": START, "clock_speed": 0.0, "retry_schedule": (1.0,)}
    return Settings(**{**base, **changes})


def boot(settings: Settings, spec: Spec) -> tuple[Runtime, RecordingPoster]:
    """A runtime whose deliveries are recorded instead of sent."""
    runtime = build_runtime(settings, spec=spec)
    poster = RecordingPoster()
    runtime.webhooks._poster = poster
    return runtime, poster


def one_session(settings: Settings, spec: Spec, hook: bool = True) -> dict[str, list[object]]:
    """Start a server on the settings, register a webhook, make changes, settle, stop."""
    runtime, poster = boot(settings, spec)
    with client_of(runtime) as c:
        hook_id = (
            c.post("/_mock/webhooks", json={"Url": "http://127.0.0.1:9/h"}).json()["Id"] if hook else None
        )
        wt = worktype(c)
        c.post("/api/worktype/update", json={"Id": wt, "Title": "Renamed"})
        invoice = c.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"]
        c.post(f"/_mock/invoice/{invoice}/view")
        c.post("/_mock/deliveries/settle")
        activities = [a["Id"] for a in c.get("/_mock/activities").json()]
        hooks = [h["Id"] for h in c.get("/_mock/webhooks").json()]
    return {
        "wt": [wt],
        "hook": [hook_id],
        "hooks": hooks,
        "activities": activities,
        "deliveries": [h["X-Envoice-Delivery"] for h in poster.headers],
        "messages": [h["webhook-id"] for h in poster.headers],
    }


def test_ids_survive_a_clean_restart_without_reuse(tmp_path: Path, spec: Spec) -> None:
    settings = frozen(state_file=tmp_path / "state.sqlite")
    first = one_session(settings, spec)
    second = one_session(settings, spec)
    assert first["wt"] != second["wt"]
    assert first["hook"] != second["hook"] and sorted(second["hooks"]) == sorted(
        first["hook"] + second["hook"]
    )
    # The second session still lists the first one's activities: every id appears once.
    assert len(second["activities"]) == len(set(second["activities"]))
    assert set(first["activities"]) < set(second["activities"])
    deliveries = first["deliveries"] + second["deliveries"]
    assert deliveries and len(deliveries) == len(set(deliveries))
    # webhook-id is the same for retries of one message, never for two messages.
    assert not set(first["messages"]) & set(second["messages"])


def test_the_activity_counter_is_saved_with_the_activity(tmp_path: Path, spec: Spec) -> None:
    settings = frozen(state_file=tmp_path / "state.sqlite")
    runtime, _ = boot(settings, spec)
    with client_of(runtime) as c:
        worktype(c)
        invoice = c.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"]
        c.post(f"/_mock/invoice/{invoice}/view")  # an activity after the last row write
        last = c.get("/_mock/activities").json()[-1]["Id"]
    runtime, _ = boot(settings, spec)
    with client_of(runtime) as c:
        c.post(f"/_mock/invoice/{invoice}/view")
        activities = c.get("/_mock/activities").json()
    assert activities[-1]["Id"] > last
    assert len({a["Id"] for a in activities}) == len(activities)


def test_same_seed_from_a_fresh_start_gives_the_same_ids(tmp_path: Path, spec: Spec) -> None:
    in_memory = one_session(frozen(), spec)
    again = one_session(frozen(), spec)
    on_file = one_session(frozen(state_file=tmp_path / "fresh.sqlite"), spec)
    assert in_memory == again == on_file


def test_reset_does_not_restart_activity_ids(spec: Spec) -> None:
    runtime, poster = boot(frozen(), spec)
    with client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": "http://127.0.0.1:9/h"})
        first_wt = worktype(c)
        invoice = c.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"]
        c.post(f"/_mock/invoice/{invoice}/view")
        c.post("/_mock/deliveries/settle")
        before = {a["Id"] for a in c.get("/_mock/activities").json()}
        assert c.post("/_mock/reset").status_code == 200
        invoice = c.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"]
        c.post(f"/_mock/invoice/{invoice}/view")
        c.post("/_mock/deliveries/settle")
        after = {a["Id"] for a in c.get("/_mock/activities").json()}
        wt = worktype(c)
    assert not before & after
    delivered = [h["X-Envoice-Delivery"] for h in poster.headers]
    assert len(delivered) == 2 == len(set(delivered))
    messages = [h["webhook-id"] for h in poster.headers]
    assert len(set(messages)) == 2
    assert wt != first_wt  # document ids are not handed out again either


@pytest.mark.parametrize("kind", ["activity", "document"])
def test_ids_are_unique_within_one_server(kind: str, spec: Spec) -> None:
    runtime, _ = boot(frozen(), spec)
    with client_of(runtime) as c:
        ids = [worktype(c, f"W{i}") for i in range(20)]
        activities = [a["Id"] for a in c.get("/_mock/activities").json()]
    values = ids if kind == "document" else activities
    assert len(values) == len(set(values))


def test_ids_survive_kill_9_without_reuse(tmp_path: Path) -> None:
    from .helpers import ServerProcess

    state = str(tmp_path / "state.sqlite")
    seen: dict[str, list[object]] = {"activities": [], "worktypes": [], "hooks": []}
    for _ in range(2):
        server = ServerProcess("--state-file", state, "--clock-start", "2024-03-01T12:00:00Z")
        c = server.client
        seen["hooks"].append(c.post("/_mock/webhooks", json={"Url": "http://127.0.0.1:9/h"}).json()["Id"])
        seen["worktypes"].append(c.post("/api/worktype/new", json={"Title": "K"}).json())
        invoice = c.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"]
        assert c.post(f"/_mock/invoice/{invoice}/view").status_code == 200
        seen["activities"] = [a["Id"] for a in c.get("/_mock/activities").json()]
        server.kill()
    for name, values in seen.items():
        assert len(values) == len(set(values)), name


def colliding_keys(seed: int, count: int) -> list[str]:
    """`count` keys whose hashed id block is the same."""
    from envoice_mock.fakedata import derive_seed

    by_slot: dict[int, list[str]] = {}
    for i in range(100_000):
        key = f"key-{i}"
        slot = derive_seed(seed, "account", key) % 900
        by_slot.setdefault(slot, []).append(key)
        if len(by_slot[slot]) == count:
            return by_slot[slot]
    raise AssertionError("no collision found")


def test_accounts_never_share_an_id_block(spec: Spec) -> None:
    settings = frozen(any_key=True)
    keys = colliding_keys(settings.seed, 3)
    runtime = build_runtime(settings, spec=spec)
    with client_of(runtime) as c:
        invoices = [
            set(
                r["Id"]
                for r in c.get("/api/invoice/all", headers={"x-auth-key": k, "x-auth-secret": "s"}).json()[
                    "Result"
                ]
            )
            for k in keys
        ]
    assert not invoices[0] & invoices[1] and not invoices[1] & invoices[2] and not invoices[0] & invoices[2]
    bases = [runtime.store.accounts[k].id_base for k in keys]
    assert len(set(bases)) == 3
    # The first of them keeps the block its key hashes to: no collision, no change.
    alone = build_runtime(settings, spec=spec).store.add_account(keys[0], "s")
    assert alone.id_base == bases[0]


def test_id_blocks_stay_distinct_across_a_restart_and_a_reset(tmp_path: Path, spec: Spec) -> None:
    settings = frozen(state_file=tmp_path / "state.sqlite")
    keys = colliding_keys(settings.seed, 2)
    runtime = build_runtime(settings, spec=spec)
    first = runtime.store.add_account(keys[0], "s").id_base
    runtime.close()
    runtime = build_runtime(settings, spec=spec)
    second = runtime.store.add_account(keys[1], "s").id_base
    again = runtime.store.reset(runtime.store.accounts[keys[1]]).id_base
    runtime.close()
    assert first != second == again


def test_an_account_that_outgrows_its_block_gets_a_free_one(tmp_path: Path, spec: Spec) -> None:
    settings = frozen(state_file=tmp_path / "state.sqlite")
    runtime = build_runtime(settings, spec=spec)
    store = runtime.store
    account = store.accounts["sandbox-key"]
    neighbour_key = next(
        f"n{i}" for i in range(100_000) if store.id_block(f"n{i}") == account.id_base + 100_000
    )
    neighbour = store.add_account(neighbour_key, "s")
    account.sequences["worktype"] = 99_998
    made = [store.create(account, "worktype", {"Title": f"W{i}"})["Id"] for i in range(3)]
    assert made[0] == account.id_base + 99_999
    assert len(set(made)) == 3
    taken = set(range(neighbour.id_base, neighbour.id_base + 100_000))
    assert not set(made) & taken
    runtime.close()
    restored = build_runtime(settings, spec=spec)
    again = restored.store.create(restored.store.accounts["sandbox-key"], "worktype", {"Title": "W"})["Id"]
    assert again == made[-1] + 1
    blocks = list(restored.store.accounts["sandbox-key"].blocks)
    fresh = restored.store.reset(restored.store.accounts["sandbox-key"])
    assert fresh.blocks == blocks != []  # a reset keeps the blocks its ids came from
    after_reset = restored.store.create(fresh, "worktype", {"Title": "W"})["Id"]
    assert blocks[0] < again < after_reset < blocks[0] + 100_000
    restored.close()
