"""Per-account scenario runs, and limits that stop one caller from taking the server down."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from envoice_mock.config import Settings
from envoice_mock.runtime.wiring import build_runtime
from envoice_mock.sink import Sink
from envoice_mock.spec import Spec

from .helpers import AUTH, client_of, eventually

OTHER = {"x-auth-key": "other", "x-auth-secret": "other-secret"}


@pytest.fixture
def two(settings: Settings, spec: Spec) -> Any:
    """A client on a server with a second account."""
    with client_of(build_runtime(settings.with_(accounts=(("other", "other-secret"),)), spec=spec)) as c:
        yield c


def wait_done(c: TestClient, run_id: str) -> dict[str, Any]:
    """Poll a scenario run until it is no longer running (bounded)."""
    return eventually(
        lambda: (
            (status := c.get(f"/_mock/scenarios/runs/{run_id}").json()).get("Status") != "running" and status
        ),
        timeout=60,
        what=f"scenario run {run_id} to finish",
    )


def test_scenario_runs_belong_to_their_account_and_ids_are_not_guessable(two: TestClient) -> None:
    with Sink.running(secret=AUTH["x-auth-secret"]) as sink:
        started = two.post("/_mock/scenarios/invoice-lifecycle/run", json={"target": sink.url, "seed": 3})
        assert started.status_code == 202
        run_id = started.json()["RunId"]
        again = two.post("/_mock/scenarios/invoice-lifecycle/run", json={"target": sink.url, "seed": 3})
        assert again.json()["RunId"] != run_id
        assert re.fullmatch(r"run_[0-9a-f]{24}", run_id)
        assert two.get(f"/_mock/scenarios/runs/{run_id}", headers=OTHER).status_code == 404
        assert two.get(f"/_mock/scenarios/runs/{run_id}").status_code == 200
        for rid in (run_id, again.json()["RunId"]):
            wait_done(two, rid)


def test_total_clock_advance_is_limited(client: TestClient) -> None:
    for _ in range(3):
        response = client.post("/_mock/clock/advance", json={"duration": "36500d"})
        if response.status_code != 200:
            break
    assert response.status_code == 400
    assert "limit" in response.text.lower() and "ClockLimit" in response.text
    assert client.get("/_mock/health").status_code == 200
    idle = client.post("/_mock/deliveries/idle", json={"max": "36500d"})
    assert idle.status_code in (200, 400) and client.get("/_mock/health").status_code == 200


@pytest.mark.parametrize(
    ("directive", "limit"),
    [
        ({"duplicate": {"copies": 300_000}}, "copies"),
        ({"duplicate": {"count": 10**9}}, "count"),
        ({"fail": {"attempts": 10**9}}, "attempts"),
        ({"reorder": {"window": 10**6}}, "window"),
        ({"delay": {"count": 10**9}}, "count"),
        ({"corrupt_signature": {"count": 10**9}}, "count"),
        ({"corrupt_signature": {"every": 10**9}}, "every"),
        ({"replay": {"last": 10**9}}, "last"),
    ],
)
def test_every_chaos_parameter_is_limited(client: TestClient, directive: dict[str, Any], limit: str) -> None:
    response = client.post("/_mock/chaos", json=directive)
    assert response.status_code == 400
    message = response.json()["ErrorMessages"][0]["FaultMessage"]
    assert f".{limit} " in message and "at most" in message


def test_a_replay_of_more_than_the_limit_is_refused(client: TestClient, runtime: Any) -> None:
    client.post("/_mock/webhooks", json={"Url": "http://127.0.0.1:9/h"})
    account = runtime.store.accounts["sandbox-key"]
    invoice = max(account.table("invoice"))
    for _ in range(1001):
        runtime.store.record_event(account, "invoice", invoice, "viewed")
    response = client.post("/_mock/chaos", json={"replay": {}})
    assert response.status_code == 400 and "replay.last" in response.text
    assert client.post("/_mock/chaos", json={"replay": {"last": 5}}).json() == {"Replayed": 5}


def test_the_number_of_chaos_rules_is_limited(client: TestClient) -> None:
    answers = [client.post("/_mock/chaos", json={"fail": {"attempts": 1}}).status_code for _ in range(51)]
    assert answers[:50] == [200] * 50 and answers[50] == 429
    assert client.delete("/_mock/chaos").status_code == 200
    assert client.post("/_mock/chaos", json={"fail": {"attempts": 1}}).status_code == 200


def test_any_key_accounts_are_limited(settings: Settings, spec: Spec) -> None:
    runtime = build_runtime(settings.with_(any_key=True, max_accounts=3), spec=spec)
    with client_of(runtime) as c:
        for i in range(2):  # sandbox-key is the first of three
            assert c.get(
                "/api/worktype/all", headers={"x-auth-key": f"k{i}", "x-auth-secret": "s"}
            ).is_success
        refused = c.get("/api/worktype/all", headers={"x-auth-key": "k9", "x-auth-secret": "s"})
        assert refused.status_code == 429
        assert "--max-accounts" in refused.text and refused.json()["IsFaulted"] is True
        assert c.get("/api/worktype/all", headers={"x-auth-key": "k0", "x-auth-secret": "s"}).is_success


def test_a_clock_start_near_the_end_of_the_calendar_is_refused() -> None:
    from envoice_mock.config import SettingsError, parse_instant

    assert parse_instant("8999-01-01T00:00:00Z").year == 8999
    with pytest.raises(SettingsError, match="9000"):
        parse_instant("9999-12-31T00:00:00Z")


def test_max_accounts_comes_from_the_environment() -> None:
    from envoice_mock.config import SettingsError, settings_from_env

    assert settings_from_env({"ENVOICE_MOCK_MAX_ACCOUNTS": "10"}).max_accounts == 10
    assert Settings().max_accounts >= 1000
    with pytest.raises(SettingsError):
        Settings(max_accounts=0)
