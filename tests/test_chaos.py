"""Each chaos directive observably does what it says, on a real receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from envoice_mock.delivery.chaos import ChaosError, parse_directive
from envoice_mock.runtime.wiring import build_runtime
from envoice_mock.sink import Sink

from .helpers import SECRET, client_of, frozen, new_invoice


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A receiver that verifies (and, when forged, rejects) signatures."""
    with Sink.running(secret=SECRET) as s:
        yield s


@pytest.fixture
def c(sink: Sink) -> Iterator[TestClient]:
    """A client whose account has the sink registered, one attempt at a time."""
    with client_of(build_runtime(frozen(delivery_concurrency=1, retry_schedule=(5.0, 5.0, 5.0)))) as client:
        assert client.post("/_mock/webhooks", json={"Url": sink.url}).status_code == 201
        yield client


def chaos(c: TestClient, directive: dict[str, Any]) -> dict[str, Any]:
    """Install a directive."""
    response = c.post("/_mock/chaos", json=directive)
    assert response.status_code == 200, response.text
    return response.json()


def settle(c: TestClient) -> list[dict[str, Any]]:
    """Deliver everything (virtual time) and return the log."""
    c.post("/_mock/deliveries/idle")
    return c.get("/_mock/deliveries").json()


def test_fail_with_a_status_then_recover(c: TestClient, sink: Sink) -> None:
    chaos(c, {"fail": {"attempts": 2, "status": 502}})
    new_invoice(c)
    log = settle(c)
    failed = [d for d in log if d["Outcome"] == "failed"]
    assert [d["StatusCode"] for d in failed] == [502, 502]
    assert all("chaos:fail" in d["Chaos"] for d in failed)
    assert [(d["Kind"], d["Outcome"]) for d in log] == [
        ("live", "failed"),
        ("retry", "failed"),
        ("retry", "delivered"),
    ]
    assert len(sink.received) == 1  # the failures never left the mock: the receiver "was down"


@pytest.mark.parametrize("error", ["timeout", "refused"])
def test_fail_as_timeout_or_refused(c: TestClient, error: str) -> None:
    chaos(c, {"fail": {"attempts": 1, "error": error}})
    new_invoice(c)
    first = settle(c)[0]
    assert first["StatusCode"] is None and error in first["Error"]


def test_fail_for_a_duration(c: TestClient) -> None:
    chaos(c, {"fail": {"for": "6s"}})
    new_invoice(c)
    log = settle(c)
    by_activity: dict[int, list[str]] = {}
    for d in log:
        by_activity.setdefault(d["ActivityId"], []).append(d["Outcome"])
    assert all(
        outcomes == ["failed", "failed", "delivered"] or outcomes == ["failed", "delivered"]
        for outcomes in by_activity.values()
    )


def test_reorder_reverse(c: TestClient, sink: Sink) -> None:
    chaos(c, {"reorder": {"window": 3, "mode": "reverse"}})
    invoice = new_invoice(c)
    c.post("/api/invoice/sendtoaccountant", json={"Id": invoice["Id"]})
    c.post("/api/invoice/sendtoaccountant", json={"Id": invoice["Id"]})
    settle(c)
    ids = [a["ActivityId"] for a in sink.received]
    assert ids == sorted(ids, reverse=True)
    assert sink.received[-1]["OutOfOrder"] and all(
        "chaos:reorder:reverse" in d["Chaos"] for d in c.get("/_mock/deliveries").json()
    )


def test_reorder_flushes_a_partial_window_on_wait(c: TestClient, sink: Sink) -> None:
    chaos(c, {"reorder": {"window": 10, "mode": "shuffle"}})
    new_invoice(c)
    c.post("/_mock/deliveries/settle")
    assert sink.received == []  # held, waiting for the window to fill
    settle(c)
    assert len(sink.received) == 1


def test_duplicate_same_activity_new_delivery_id(c: TestClient, sink: Sink) -> None:
    chaos(c, {"duplicate": {"count": 1, "copies": 2}})
    new_invoice(c)
    settle(c)
    arrivals = sink.received
    assert [a["ActivityId"] for a in arrivals] == [arrivals[0]["ActivityId"]] * 3
    assert len({a["Delivery"] for a in arrivals}) == 3
    assert [a["Duplicate"] for a in arrivals] == [False, True, True]


def test_delay_fixed_moves_the_attempt_later(c: TestClient) -> None:
    chaos(c, {"delay": {"seconds": "90s"}})
    new_invoice(c)
    first = settle(c)[0]
    assert first["SentAt"] == "2024-03-01T12:01:30.0000000Z" and "chaos:delay" in first["Chaos"]


def test_delay_range_is_seeded(c: TestClient) -> None:
    chaos(c, {"delay": {"range": ["10s", "20s"], "count": 1}})
    new_invoice(c)
    sent = settle(c)[0]["SentAt"]
    assert "2024-03-01T12:00:10" <= sent <= "2024-03-01T12:00:20"


def test_corrupt_signature_is_rejected_then_retried_genuine(c: TestClient, sink: Sink) -> None:
    chaos(c, {"corrupt_signature": {"count": 1}})
    new_invoice(c)
    settle(c)
    first, second = sink.received
    assert first["SignatureValid"] is False and first["Answered"] == 401
    assert second["SignatureValid"] is True and second["Answered"] == 200
    assert first["ActivityId"] == second["ActivityId"]


def test_replay_resends_past_activities_in_the_order_asked(c: TestClient, sink: Sink) -> None:
    invoice = new_invoice(c)
    c.post("/api/invoice/sendtoclient", json={"Id": invoice["Id"]})
    settle(c)
    original = [a["ActivityId"] for a in sink.received]
    result = chaos(c, {"replay": {"order": "reverse"}})
    settle(c)
    replayed = [a["ActivityId"] for a in sink.received[len(original) :]]
    assert result == {"Replayed": 3} and replayed == original[::-1]
    assert all("replay" in d["Chaos"] for d in c.get("/_mock/deliveries").json()[3:])


def test_clear_removes_rules(c: TestClient) -> None:
    chaos(c, {"fail": {"attempts": 5}})
    assert c.delete("/_mock/chaos").json() == {"Cleared": True}
    new_invoice(c)
    assert [d["Outcome"] for d in settle(c)] == ["delivered"]


@pytest.mark.parametrize(
    ("directive", "message"),
    [
        ({"explode": {}}, "unknown chaos directive"),
        ({"fail": {"status": 200}}, "status must be an HTTP status other than 200"),
        ({"fail": {"error": "gremlins"}}, "error must be timeout or refused"),
        ({"reorder": {"window": 1}}, "window must be a whole number >= 2"),
        ({"delay": {"range": ["9s", "1s"]}}, "high is below low"),
        ({"replay": {"order": "sideways"}}, "order must be chronological, shuffled or reverse"),
        ({"fail": {}, "delay": {}}, "a chaos directive is one of"),
    ],
)
def test_bad_directives_are_400_faults(c: TestClient, directive: dict[str, Any], message: str) -> None:
    response = c.post("/_mock/chaos", json=directive)
    assert response.status_code == 400
    assert message in response.json()["ErrorMessages"][0]["FaultMessage"]


def test_parse_directive_accepts_flags() -> None:
    assert parse_directive({"clear": None}) == ("clear", {})
    with pytest.raises(ChaosError):
        parse_directive("fail")


def test_chaos_of_one_account_spares_another(sink: Sink) -> None:
    runtime = build_runtime(frozen(accounts=(("b", "b-secret"),)))
    other = {"x-auth-key": "b", "x-auth-secret": "b-secret"}
    with client_of(runtime) as client, Sink.running(secret="b-secret") as sink_b:
        client.post("/_mock/webhooks", json={"Url": sink.url})
        client.post("/_mock/webhooks", json={"Url": sink_b.url}, headers=other)
        client.post("/_mock/chaos", json={"fail": {"attempts": 100}})
        oid = client.get("/api/invoice/all", headers=other).json()["Result"][0]["Id"]
        client.post("/api/invoice/sendtoaccountant", json={"Id": oid}, headers=other)
        client.post("/_mock/deliveries/settle", headers=other)  # settle is per account: B's deliveries
        assert [json.loads(a["Body"])["Activity"]["InvoiceId"] for a in sink_b.received] == [oid]
