"""The webhook engine against real receivers on loopback sockets."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from envoice_mock.config import Settings
from envoice_mock.runtime.wiring import build_runtime
from envoice_mock.signing import verify_signature, whsec
from envoice_mock.sink import Behaviour, Sink

from .helpers import SECRET, advance, client_of, frozen, new_invoice


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A healthy receiver that verifies our signature."""
    with Sink.running(secret=SECRET) as s:
        yield s


def test_payload_and_both_signatures_verify_independently(sink: Sink) -> None:
    from standardwebhooks.webhooks import Webhook as StandardWebhook

    runtime = build_runtime(Settings(retry_schedule=(1.0,)))  # wall clock: standardwebhooks checks freshness
    with client_of(runtime) as c:
        hook = c.post("/_mock/webhooks", json={"Url": sink.url}).json()
        invoice = new_invoice(c)
        arrival = sink.wait_count(1)[0]
    body = arrival["Body"].encode()
    payload = json.loads(body)
    assert list(payload) == ["Signature", "Timestamp", "Activity"]
    activity = payload["Activity"]
    assert set(activity) == {
        "Message",
        "Link",
        "Type",
        "InvoiceNumber",
        "InvoiceId",
        "OrderNumber",
        "OrderId",
        "Id",
        "CreatedOn",
    }
    assert activity["Type"] == 0  # Created is index 0
    assert activity["InvoiceId"] == invoice["Id"] and activity["InvoiceNumber"] == "WH-1"
    assert activity["Link"].startswith("http://127.0.0.1:8080/invoice/shared?token=")
    assert len(payload["Timestamp"]) == len("2024-01-01T00:00:00.0000000Z") and payload["Timestamp"].endswith(
        "Z"
    )
    # Our signature, recomputed here from the documented formula.
    canonical = json.dumps(activity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hmac.new(
        SECRET.encode(), f"{payload['Timestamp']}.{canonical}".encode(), hashlib.sha256
    ).hexdigest()
    assert payload["Signature"] == expected == arrival["Headers"]["x-envoice-signature"]
    assert verify_signature(body, SECRET) and not verify_signature(body, "wrong")
    # The Standard Webhooks headers, checked by the reference library with the whsec_ secret.
    assert hook["StandardWebhooksSecret"] == whsec(SECRET)
    headers = {k: v for k, v in arrival["Headers"].items() if k.startswith("webhook-")}
    assert StandardWebhook(hook["StandardWebhooksSecret"]).verify(body, headers) == payload
    assert arrival["Headers"]["x-envoice-attempt"] == "1"


def test_every_api_action_reaches_the_receiver_in_order(sink: Sink) -> None:
    with client_of(build_runtime(frozen())) as c:
        c.post("/_mock/webhooks", json={"Url": sink.url})
        invoice = new_invoice(c)
        c.post("/api/invoice/sendtoclient", json={"Id": invoice["Id"]})
        c.post("/api/invoice/changestatus", json={"Id": invoice["Id"], "Status": "Paid"})
        c.post("/_mock/deliveries/settle")
        arrivals = sink.wait_count(4)
    types = [json.loads(a["Body"])["Activity"]["Type"] for a in arrivals]
    assert types == [0, 3, 12, 11]  # Created, SentViaEmail, Unpaid, Paid
    assert all(a["SignatureValid"] for a in arrivals)


def test_retries_follow_the_schedule_then_succeed() -> None:
    with (
        Sink.running(secret=SECRET, behaviour=Behaviour(fail_first=2, fail_status=500)) as sink,
        client_of(build_runtime(frozen())) as c,
    ):
        c.post("/_mock/webhooks", json={"Url": sink.url})
        new_invoice(c)
        sink.wait_count(1)
        advance(c, 1)  # retry 1 after 1 s
        advance(c, 2)  # retry 2 after 2 s more
        log = c.get("/_mock/deliveries").json()
        hooks = c.get("/_mock/webhooks").json()
    assert [(d["Attempt"], d["StatusCode"], d["Outcome"]) for d in log] == [
        (1, 500, "failed"),
        (2, 500, "failed"),
        (3, 200, "delivered"),
    ]
    assert [d["SentAt"] for d in log] == [
        "2024-03-01T12:00:00.0000000Z",
        "2024-03-01T12:00:01.0000000Z",
        "2024-03-01T12:00:03.0000000Z",
    ]
    assert len({d["DeliveryId"] for d in log}) == 3
    assert [a["Attempt"] for a in sink.received] == [1, 2, 3]
    assert hooks[0]["State"] == "healthy" and hooks[0]["Delivered"] == 1 and hooks[0]["Failed"] == 2


def test_later_activities_are_attempted_while_one_is_retrying() -> None:
    with (
        Sink.running(secret=SECRET, behaviour=Behaviour(fail_first=1)) as sink,
        client_of(build_runtime(frozen())) as c,
    ):
        c.post("/_mock/webhooks", json={"Url": sink.url})
        invoice = new_invoice(c)  # Created: first arrival fails
        sink.wait_count(1)
        assert c.get("/_mock/webhooks").json()[0]["State"] == "retrying"
        c.post("/api/invoice/sendtoaccountant", json={"Id": invoice["Id"]})
        sink.wait_count(2)
        advance(c, 1)
        arrivals = sink.wait_count(3)
    ids = [a["ActivityId"] for a in arrivals]
    assert ids[0] == ids[2] and ids[1] > ids[0]
    assert arrivals[2]["OutOfOrder"] is True  # the receiver saw the older activity last


def test_exhaustion_failing_probe_and_chronological_catch_up() -> None:
    behaviour = Behaviour(fail_first=10**6)
    with Sink.running(secret=SECRET, behaviour=behaviour) as sink, client_of(build_runtime(frozen())) as c:
        c.post("/_mock/webhooks", json={"Url": sink.url})
        invoice = new_invoice(c)
        for step in (1, 2, 4):  # the whole schedule fails
            advance(c, step)
        hook = c.get("/_mock/webhooks").json()[0]
        assert hook["State"] == "failing"
        before = len(sink.received)
        c.post("/api/invoice/sendtoclient", json={"Id": invoice["Id"]})  # held, not sent
        c.post("/_mock/deliveries/settle")
        assert len(sink.received) == before
        assert c.get("/_mock/webhooks").json()[0]["Pending"] == 3
        advance(c, 10)  # a probe, still failing
        assert len(sink.received) == before + 1 and sink.received[-1]["Answered"] == 503
        behaviour.fail_first = 0  # the receiver recovers
        advance(c, 10)  # the probe succeeds, then catch-up
        sink.wait_count(before + 4)
        c.post("/_mock/deliveries/settle")
        log = c.get("/_mock/deliveries").json()
        final = c.get("/_mock/webhooks").json()[0]
        activities = c.get("/_mock/activities").json()
    delivered = [d for d in log if d["Outcome"] == "delivered"]
    assert [d["Kind"] for d in delivered] == ["probe", "catchup", "catchup"]
    assert delivered[0]["Attempt"] == 6  # 1 live + 3 retries + a failed probe, then this probe
    ours = [a["Id"] for a in activities if a["InvoiceId"] == invoice["Id"]]
    assert [d["ActivityId"] for d in delivered] == ours  # Created, SentViaEmail, Unpaid: chronological
    assert final["State"] == "healthy" and final["Pending"] == 0 and not final["CatchingUp"]


def test_live_deliveries_resume_after_catch_up(sink: Sink) -> None:
    runtime = build_runtime(frozen(retry_schedule=()))
    with client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": "http://127.0.0.1:9/closed"})  # refused: fails at once
        new_invoice(c)
        c.post("/_mock/deliveries/settle")
        hook = c.get("/_mock/webhooks").json()[0]
        assert hook["State"] == "failing"
        runtime.webhooks.hooks["sandbox-key"][hook["Id"]].url = sink.url  # the receiver comes back
        advance(c, 10)
        sink.wait_count(1)
        c.post("/_mock/deliveries/settle")
        log = c.get("/_mock/deliveries").json()
    assert log[0]["Error"] and log[0]["StatusCode"] is None
    assert [d["Kind"] for d in log[1:]] == ["probe"]


def test_registration_rules() -> None:
    with client_of(build_runtime(frozen())) as c:
        for i in range(10):
            assert c.post("/_mock/webhooks", json={"Url": f"http://127.0.0.1:9/h{i}"}).status_code == 201
        eleventh = c.post("/_mock/webhooks", json={"Url": "http://127.0.0.1:9/h10"})
        assert eleventh.status_code == 400 and eleventh.json()["ErrorMessages"][0]["Code"] == "WebhookLimit"
        hooks = c.get("/_mock/webhooks").json()
        assert len(hooks) == 10 and {h["State"] for h in hooks} == {"healthy"}
        assert c.delete(f"/_mock/webhooks/{hooks[0]['Id']}").status_code == 200
        assert c.delete(f"/_mock/webhooks/{hooks[0]['Id']}").status_code == 404
        for bad in ("ftp://x/y", "not a url", "", None, 5):
            r = c.post("/_mock/webhooks", json={"Url": bad})
            assert r.status_code == 400 and r.json()["IsFaulted"] is True
        assert c.get("/_mock/webhooks", headers={"x-auth-secret": "nope"}).status_code == 401


def test_webhooks_of_one_account_never_see_another(sink: Sink) -> None:
    runtime = build_runtime(frozen(accounts=(("other", "other-secret"),)))
    with client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": sink.url})
        other = {"x-auth-key": "other", "x-auth-secret": "other-secret"}
        assert c.get("/_mock/webhooks", headers=other).json() == []
        c.post("/api/tax/new", json={"Name": "T", "Percentage": 5})  # no activity: taxes are not audited
        oid = c.get("/api/invoice/all", headers=other).json()["Result"][0]["Id"]
        c.post("/api/invoice/sendtoaccountant", json={"Id": oid}, headers=other)
        c.post("/_mock/deliveries/settle")
    assert sink.received == []


def test_clock_advance_makes_invoices_overdue_with_an_activity(sink: Sink) -> None:
    with client_of(build_runtime(frozen())) as c:
        c.post("/_mock/webhooks", json={"Url": sink.url})
        invoice = new_invoice(c)
        c.post("/api/invoice/sendtoclient", json={"Id": invoice["Id"]})
        advance(c, 15 * 86400)
        assert c.get("/api/invoice/status", params={"id": invoice["Id"]}).json() == 3  # Overdue
        arrivals = sink.wait_count(4)
    assert json.loads(arrivals[-1]["Body"])["Activity"]["Type"] == 13  # Overdue


def test_an_advance_stops_at_a_due_date_so_the_overdue_activity_is_dated_there(sink: Sink) -> None:
    """An advance past a due date turns the invoice Overdue at that date, not at the advance's
    end: its activity and the webhook body say 2024-03-15, as the seeded history would."""
    with client_of(build_runtime(frozen())) as c:
        c.post("/_mock/webhooks", json={"Url": sink.url})
        invoice = new_invoice(c)  # due 2024-03-15; the clock is at 2024-03-01T12:00Z
        c.post("/api/invoice/sendtoclient", json={"Id": invoice["Id"]})
        advance(c, 30 * 86400)
        assert c.get("/_mock/clock").json()["Now"] == "2024-03-31T12:00:00+00:00"
        bodies = [json.loads(arrival["Body"]) for arrival in sink.wait_count(4)]
    (body,) = [
        b for b in bodies if b["Activity"]["InvoiceId"] == invoice["Id"] and b["Activity"]["Type"] == 13
    ]
    assert body["Activity"]["CreatedOn"] == "2024-03-15T00:00:00.0000000Z"
    assert body["Timestamp"].startswith("2024-03-15T00:00:00")


def test_slow_receiver_does_not_delay_the_api() -> None:
    with (
        Sink.running(secret=SECRET, behaviour=Behaviour(delay=3.0)) as slow,
        client_of(build_runtime(Settings(retry_schedule=()))) as c,
    ):
        c.post("/_mock/webhooks", json={"Url": slow.url})
        invoice = new_invoice(c)
        slow.wait_count(1)  # the delivery is now in flight, the receiver sits on it
        response = c.get("/api/invoice/details", params={"id": invoice["Id"]})
        assert response.status_code == 200
        # The API answered while the receiver was still holding its first delivery open.
        assert c.get("/_mock/deliveries").json() == []


def test_state_file_survives_restart_and_resumes_pending(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    settings = frozen(state_file=state, retry_schedule=(1.0,))
    with client_of(build_runtime(settings)) as c:
        c.post("/_mock/webhooks", json={"Url": "http://127.0.0.1:9/down"})
        invoice = new_invoice(c, "PERSIST-1")
        c.post("/_mock/deliveries/settle")
    # A new process: same file. Data, webhooks and the owed delivery come back.
    with Sink.running(secret=SECRET) as sink:
        runtime = build_runtime(settings)
        hook = next(iter(runtime.webhooks.hooks["sandbox-key"].values()))
        hook.url = sink.url
        with client_of(runtime) as c:
            details = c.get("/api/invoice/details", params={"id": invoice["Id"]}).json()
            arrivals = sink.wait_count(1)
    assert details["Number"] == "PERSIST-1" and details["TotalAmount"] == 300.0
    assert json.loads(arrivals[0]["Body"])["Activity"]["InvoiceId"] == invoice["Id"]


def test_same_seed_same_delivered_bytes() -> None:
    def run() -> list[str]:
        with (
            Sink.running(secret=SECRET, behaviour=Behaviour(fail_first=1)) as sink,
            client_of(build_runtime(frozen(delivery_concurrency=1))) as c,
        ):
            c.post("/_mock/webhooks", json={"Url": sink.url})
            new_invoice(c)
            advance(c, 1)
            sink.wait_count(2)
            return [r["Body"] + r["Delivery"] for r in sink.received]

    first, second = run(), run()
    assert first == second and len(first) == 2


def test_verify_signature_rejects_garbage() -> None:
    assert verify_signature(b"not json", "s") is False
    assert verify_signature(b"{}", "s") is False
    assert verify_signature(b'{"Signature": 1, "Timestamp": "t", "Activity": {}}', "s") is False


def test_timestamp_format_has_seven_fraction_digits() -> None:
    from envoice_mock.clock import webhook_timestamp

    assert (
        webhook_timestamp(datetime(2024, 1, 31, 15, 19, 52, 123456, tzinfo=UTC))
        == "2024-01-31T15:19:52.1234560Z"
    )


def test_standard_webhooks_accepts_deliveries_from_a_virtual_clock(sink: Sink) -> None:
    from standardwebhooks.webhooks import Webhook as StandardWebhook

    with client_of(build_runtime(frozen())) as c:  # the mock's clock says 2024
        hook = c.post("/_mock/webhooks", json={"Url": sink.url}).json()
        new_invoice(c)
        arrival = sink.wait_count(1)[0]
    payload = json.loads(arrival["Body"])
    assert payload["Timestamp"].startswith("2024-03-01T12:00:00")
    headers = {k: v for k, v in arrival["Headers"].items() if k.startswith("webhook-")}
    assert (
        StandardWebhook(hook["StandardWebhooksSecret"]).verify(arrival["Body"].encode(), headers) == payload
    )


def test_a_due_date_passing_unobserved_still_fires_overdue(sink: Sink) -> None:
    runtime = build_runtime(frozen(clock_speed=600.0))  # ten virtual minutes per real second
    with client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": sink.url})
        invoice = new_invoice(c)
        now = c.get("/_mock/clock").json()["Now"]
        c.post("/api/invoice/update", json={"Id": invoice["Id"], "IssuedOn": now, "Duedate": now})
        c.post("/api/invoice/sendtoclient", json={"Id": invoice["Id"]})
        # No more API calls: the server's own ticker notices the due date has passed.
        arrivals = sink.wait_for(lambda rs: any(json.loads(r["Body"])["Activity"]["Type"] == 13 for r in rs))
    overdue = [
        json.loads(r["Body"])["Activity"] for r in arrivals if json.loads(r["Body"])["Activity"]["Type"] == 13
    ]
    assert overdue[0]["InvoiceId"] == invoice["Id"]
