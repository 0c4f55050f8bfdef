"""A real server process, killed with SIGKILL in the middle of retries, loses no delivery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from envoice_mock.sink import Behaviour, Sink

from .helpers import AUTH, ServerProcess


@pytest.fixture
def failing_sink() -> Iterator[Sink]:
    """A receiver that fails until told otherwise."""
    with Sink.running(secret=AUTH["x-auth-secret"], behaviour=Behaviour(fail_first=10**6)) as sink:
        yield sink


def test_kill_9_mid_retries_then_restart_delivers_everything(tmp_path: Path, failing_sink: Sink) -> None:
    state = str(tmp_path / "state.sqlite")
    args = ("--state-file", state, "--webhook", failing_sink.url, "--retry-schedule", "0.2,60")
    server = ServerProcess(*args)
    try:
        invoice_id = server.client.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"]
        server.client.post("/api/invoice/sendtoaccountant", json={"Id": invoice_id}).raise_for_status()
        server.client.post(
            "/api/invoice/changestatus", json={"Id": invoice_id, "Status": "Void"}
        ).raise_for_status()
        owed = [a["Id"] for a in server.client.get("/_mock/activities", params={"since": 0}).json()][-2:]
        # Wait until the retry has been tried (attempt 2 failed): now a 60 s retry is pending.
        failing_sink.wait_for(lambda rs: sum(1 for r in rs if r["Attempt"] == 2) >= 2, timeout=15)
    finally:
        server.kill()
    failing_sink.state.behaviour.fail_first = 0  # the receiver recovers while the mock is down
    server = ServerProcess(*args)
    try:
        arrivals = failing_sink.wait_for(
            lambda rs: {r["ActivityId"] for r in rs if r["Answered"] == 200} >= set(owed), timeout=15
        )
        health = server.client.get(
            "/api/invoice/status", params={"id": invoice_id}, headers={"x-mock-enum-style": "string"}
        ).json()
        hooks = server.client.get("/_mock/webhooks").json()
    finally:
        server.stop()
    assert health == "Void"  # the data survived too
    delivered = [r for r in arrivals if r["Answered"] == 200]
    # Both owed activities arrive (in either order if several are in flight per webhook).
    assert sorted(json.loads(r["Body"])["Activity"]["Id"] for r in delivered[:2]) == sorted(owed)
    assert all(r["SignatureValid"] for r in delivered)
    assert hooks[0]["Url"] == failing_sink.url
