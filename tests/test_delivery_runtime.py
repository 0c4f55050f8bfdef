"""Delivery under hostile conditions: engine errors, hung and huge receivers, per-account clocks."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from envoice_mock.runtime.wiring import build_runtime
from envoice_mock.sink import Sink

from .helpers import SECRET, RawReceiver, advance, client_of, eventually, frozen, new_invoice

OTHER = {"x-auth-key": "other", "x-auth-secret": "other-secret"}
NAMES = {"x-mock-enum-style": "string"}  # enums read by name


def hook_state(c: TestClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The first webhook of the account."""
    return c.get("/_mock/webhooks", headers=headers).json()[0]


def test_an_engine_error_inside_an_attempt_is_a_logged_failed_attempt_then_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = build_runtime(frozen())
    engine = runtime.webhooks
    real = engine.build_request
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("engine bug")
        return real(*args, **kwargs)

    engine.build_request = flaky  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR), Sink.running(secret=SECRET) as sink, client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": sink.url})
        invoice = new_invoice(c)
        c.post("/_mock/deliveries/settle")
        log = c.get("/_mock/deliveries").json()
        assert [(d["Attempt"], d["Outcome"]) for d in log] == [(1, "failed")]
        assert "RuntimeError: engine bug" in log[0]["Error"] and log[0]["StatusCode"] is None
        assert hook_state(c)["State"] == "retrying"
        advance(c, 1)  # retried on the schedule, like any failure
        arrivals = sink.wait_count(1)
    assert json.loads(arrivals[0]["Body"])["Activity"]["InvoiceId"] == invoice["Id"]
    assert "Task exception was never retrieved" not in caplog.text


def test_a_payload_that_cannot_be_encoded_is_a_failed_attempt_not_a_dead_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = build_runtime(frozen(retry_schedule=(1.0, 2.0)))
    with caplog.at_level(logging.ERROR), Sink.running(secret=SECRET) as sink, client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": sink.url})
        account = runtime.store.accounts["sandbox-key"]
        bad = {"Id": 10**9, "Type": "Created", "Message": "x\udfff", "CreatedOn": "2024-03-01T12:00:00+00:00"}
        runtime.webhooks.on_activity(account, bad)
        c.post("/_mock/deliveries/settle")
        advance(c, 1)
        log = c.get("/_mock/deliveries", params={"limit": 10}).json()
        new_invoice(c)  # the engine still works afterwards
        sink.wait_count(1)
    failed = [d for d in log if d["ActivityId"] == 10**9]
    assert [d["Attempt"] for d in failed] == [1, 2] and all(d["Outcome"] == "failed" for d in failed)
    assert all("UnicodeEncodeError" in d["Error"] for d in failed)
    assert "Task exception was never retrieved" not in caplog.text


def test_a_hung_receiver_reaches_failing_on_schedule_whatever_the_queue_depth() -> None:
    runtime = build_runtime(frozen(delivery_timeout=0.2, retry_schedule=(1.0, 2.0, 4.0)))
    with RawReceiver.running("hang") as hung, client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": hung.url})
        invoice = new_invoice(c)  # activity 1: its first attempt hangs
        for _ in range(20):  # 20 more queue behind it
            c.post(f"/_mock/invoice/{invoice['Id']}/view")
        eventually(lambda: c.get("/_mock/deliveries").json(), what="the first attempt to time out")
        queued = hook_state(c)
        assert queued["State"] == "retrying" and queued["Pending"] == 21  # queued jobs count as pending
        for step in (1, 2, 4):  # the schedule of activity 1
            advance(c, step)
        hook = hook_state(c)
        log = c.get("/_mock/deliveries").json()
        assert hook["State"] == "failing" and hook["Pending"] == 21
        # Only activity 1's attempts cost a timeout; the 20 behind it are held without one.
        assert [d["Attempt"] for d in log] == [1, 2, 3, 4]
        assert {d["ActivityId"] for d in log} == {log[0]["ActivityId"]}
        assert all("timeout" in d["Error"] for d in log)
        before = hung.requests
        c.post(f"/_mock/invoice/{invoice['Id']}/view")  # while failing: held, no attempt
        c.post("/_mock/deliveries/settle")
        assert hung.requests == before and hook_state(c)["Pending"] == 22


def test_a_huge_answer_is_read_up_to_the_cap_and_the_rest_dropped() -> None:
    from envoice_mock.delivery.webhooks import MAX_ANSWER_BYTES

    runtime = build_runtime(frozen(delivery_timeout=10.0))
    with RawReceiver.running("huge", huge_bytes=256 * 1024 * 1024) as huge, client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": huge.url})
        new_invoice(c)
        c.post("/_mock/deliveries/settle")
        log = c.get("/_mock/deliveries").json()
        eventually(lambda: huge.closed_by_peer, what="the mock to hang up on the huge answer")
    assert log[0]["Outcome"] == "delivered" and log[0]["StatusCode"] == 200
    assert log[0]["Answer"] == "x" * MAX_ANSWER_BYTES and log[0]["AnswerTruncated"] is True
    # What was pushed at us is bounded by socket buffers, not the 256 MiB on offer.
    assert huge.bytes_sent < 32 * 1024 * 1024


def test_each_account_has_its_own_clock_and_timers() -> None:
    runtime = build_runtime(frozen(accounts=(("other", "other-secret"),)))
    with Sink.running(secret=SECRET) as sink, client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": sink.url})
        invoice = new_invoice(c)  # due 2024-03-15
        c.post("/api/invoice/sendtoclient", json={"Id": invoice["Id"]})
        c.post("/_mock/deliveries/settle")
        arrived = len(sink.wait_count(3))
        a_now = c.get("/_mock/clock").json()["Now"]
        moved = c.post("/_mock/clock/advance", json={"duration": "30d"}, headers=OTHER)
        assert moved.status_code == 200 and moved.json()["Now"] > a_now
        assert c.post("/_mock/deliveries/idle", headers=OTHER).json()["Pending"] == 0
        assert c.get("/api/invoice/status", params={"id": invoice["Id"]}, headers=NAMES).json() == "Unpaid"
        assert c.get("/_mock/clock").json()["Now"] == a_now
        c.post("/_mock/deliveries/settle")
        assert len(sink.received) == arrived  # A's webhook heard nothing of B's month
        advance(c, 30 * 86400)  # A's own advance does make it overdue
        assert c.get("/api/invoice/status", params={"id": invoice["Id"]}, headers=NAMES).json() == "Overdue"


def test_settle_and_idle_touch_only_the_calling_accounts_timers() -> None:
    runtime = build_runtime(frozen(accounts=(("other", "other-secret"),)))
    with client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": "http://127.0.0.1:9/refused"})
        new_invoice(c)
        c.post("/_mock/deliveries/settle")
        assert len(c.get("/_mock/deliveries").json()) == 1  # a retry is due in 1 s on A's clock
        other = c.post("/_mock/deliveries/idle", headers=OTHER).json()
        assert other["Pending"] == 0 and other["AdvancedSeconds"] == 0
        settled = c.post("/_mock/deliveries/settle", headers=OTHER).json()
        assert settled == {"Pending": 0, "NextDueIn": None}  # A's retry is not B's business
        assert len(c.get("/_mock/deliveries").json()) == 1
        mine = c.post("/_mock/deliveries/settle").json()
        assert mine["Pending"] == 1 and mine["NextDueIn"] == 1.0
        c.post("/_mock/deliveries/idle", json={"max": "1m"})
        assert len(c.get("/_mock/deliveries").json()) > 1


def test_webhook_pending_counts_queued_jobs() -> None:
    runtime = build_runtime(frozen(delivery_timeout=0.2))
    with RawReceiver.running("hang") as hung, client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": hung.url})
        invoice = new_invoice(c)
        for _ in range(4):
            c.post(f"/_mock/invoice/{invoice['Id']}/view")
        assert hook_state(c)["Pending"] == 5  # one in flight, four queued behind it
        eventually(lambda: hung.requests, what="the first attempt")


class ScriptedPoster:
    """A Poster that follows a script: "ok" answers 200, "timeout" times out; then 200 for ever."""

    def __init__(self, *script: str) -> None:
        self.script = list(script)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Any:
        from envoice_mock.delivery.webhooks import Answer

        if self.script and self.script.pop(0) == "timeout":
            raise TimeoutError
        return Answer(200)

    async def close(self) -> None:
        pass


def test_a_timed_out_replay_does_not_hold_back_live_deliveries() -> None:
    runtime = build_runtime(frozen())
    runtime.webhooks._poster = ScriptedPoster("ok", "timeout")
    with client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": "http://127.0.0.1:9/scripted"})
        first = new_invoice(c, "WH-1")  # delivered
        c.post("/_mock/deliveries/settle")
        assert c.post("/_mock/chaos", json={"replay": {"last": 1}}).json() == {"Replayed": 1}
        c.post("/_mock/deliveries/settle")  # the replay times out; replays are not retried
        second = new_invoice(c, "WH-2")  # so nothing may keep this one waiting
        c.post("/_mock/deliveries/settle")
        log = c.get("/_mock/deliveries").json()
    assert [(d["Kind"], d["Outcome"]) for d in log] == [
        ("live", "delivered"),
        ("replay", "failed"),
        ("live", "delivered"),
    ]
    assert first["Id"] != second["Id"] and "timeout" in log[1]["Error"]


def test_an_attempt_cut_short_by_a_stop_is_sent_again_on_the_next_start() -> None:
    runtime = build_runtime(frozen(delivery_timeout=30.0))
    with RawReceiver.running("hang") as receiver:
        with client_of(runtime) as c:
            c.post("/_mock/webhooks", json={"Url": receiver.url})
            new_invoice(c)
            eventually(lambda: receiver.requests, what="the attempt to be in flight")
        receiver.mode = "ok"  # the engine stopped mid-attempt; the receiver recovers
        with client_of(runtime) as c:
            c.post("/_mock/deliveries/settle")
            log = c.get("/_mock/deliveries").json()
    assert [d["Outcome"] for d in log] == ["delivered"] and len(receiver.answered) == 1
