"""The event bus and `GET /_mock/events`: numbered JSON events, resumable, never slowing the API."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from envoice_mock.api.events import EventBus, TooManySubscribers
from envoice_mock.api.live import install
from envoice_mock.runtime.wiring import Runtime
from tests.helpers import AUTH


class SSE:
    """Reads the events of an open SSE response, one frame at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()

    def take(self, want: int) -> list[tuple[str, str, dict]]:
        """(id, type, data) of the next `want` events that carry an id."""
        out: list[tuple[str, str, dict]] = []
        frame: dict[str, str] = {}
        for line in self.lines:
            if line == "":
                if "id" in frame:
                    out.append((frame["id"], frame.get("event", "message"), json.loads(frame["data"])))
                    if len(out) >= want:
                        return out
                frame = {}
                continue
            name, _, value = line.partition(": ")
            frame[name] = value
        raise AssertionError(f"the stream ended after {len(out)} of {want} events: {out}")


@pytest.fixture
def stream_client(live_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server, headers=AUTH, timeout=10) as client:
        yield client


def first_invoice(client: httpx.Client) -> int:
    return int(client.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"])


def test_a_write_streams_its_request_and_activity(stream_client: httpx.Client) -> None:
    invoice = first_invoice(stream_client)
    with stream_client.stream("GET", "/_mock/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        stream_client.post("/api/invoice/sendtoaccountant", json={"Id": invoice}).raise_for_status()
        events = SSE(response).take(2)
    types = {t for _, t, _ in events}
    assert types == {"request", "activity"}
    activity = next(d for _, t, d in events if t == "activity")
    assert activity["TypeName"] == "SentToAccountant" and activity["InvoiceId"] == invoice
    assert int(events[0][0]) < int(events[1][0])


def test_deliveries_and_webhook_states_are_streamed(
    stream_client: httpx.Client, live_runtime: Runtime
) -> None:
    from envoice_mock.sink import Sink

    with Sink.running(secret="sandbox-secret") as sink:
        stream_client.post("/_mock/webhooks", json={"Url": sink.url}).raise_for_status()
        stream_client.post("/_mock/chaos", json={"fail": {"attempts": 1}}).raise_for_status()
        invoice = first_invoice(stream_client)
        with stream_client.stream("GET", "/_mock/events", params={"types": "delivery,webhook"}) as response:
            stream_client.post("/api/invoice/sendtoaccountant", json={"Id": invoice}).raise_for_status()
            sse = SSE(response)
            first = sse.take(2)  # the failed live attempt, and the hook going to retrying
            stream_client.post("/_mock/clock/advance", json={"seconds": 1}).raise_for_status()
            second = sse.take(2)  # the retry, delivered; the hook healthy again
    kinds = [(t, d.get("Kind") or d.get("State")) for _, t, d in first + second]
    assert kinds == [
        ("delivery", "live"),
        ("webhook", "retrying"),
        ("delivery", "retry"),
        ("webhook", "healthy"),
    ]
    assert all("Body" not in d for _, t, d in first + second if t == "delivery")


def test_a_reader_resumes_after_last_event_id(stream_client: httpx.Client) -> None:
    invoice = first_invoice(stream_client)
    with stream_client.stream("GET", "/_mock/events") as response:
        stream_client.post("/api/invoice/sendtoaccountant", json={"Id": invoice}).raise_for_status()
        seen = SSE(response).take(1)
    missed_from = seen[0][0]
    stream_client.post("/api/invoice/sendtoaccountant", json={"Id": invoice}).raise_for_status()
    with stream_client.stream("GET", "/_mock/events", headers={"Last-Event-ID": missed_from}) as response:
        again = SSE(response).take(3)
    assert [int(i) for i, _, _ in again] == sorted(int(i) for i, _, _ in again)
    assert all(int(i) > int(missed_from) for i, _, _ in again)


def test_bad_last_event_id_and_no_auth_are_refused(stream_client: httpx.Client, live_server: str) -> None:
    assert httpx.get(f"{live_server}/_mock/events").status_code == 401
    answer = stream_client.get("/_mock/events", headers={"Last-Event-ID": "abc"})
    assert answer.status_code == 400 and answer.json()["IsFaulted"] is True


def test_a_reader_too_far_behind_is_told_to_reload() -> None:
    bus = EventBus(buffer=3)
    first = bus.publish("a", "activity", {"n": 1})
    for n in range(5):
        bus.publish("a", "activity", {"n": n})
    assert bus.since("a", first.id) is None
    assert [e.data["n"] for e in bus.since("a", bus.last_id("a") - 1) or []] == [4]


def test_a_reader_from_before_a_restart_is_told_to_reload() -> None:
    bus = EventBus()
    bus.publish("a", "activity", {"n": 1})
    assert bus.since("a", 5000) is None  # ids restart with the process: never skip new events
    assert bus.since("a", 0) is not None


def test_a_full_queue_drops_the_reader_without_waiting() -> None:
    async def main() -> None:
        bus = EventBus(queue_limit=10)
        slow = bus.subscribe("a")
        started = time.perf_counter()
        for n in range(10_000):
            bus.publish("a", "delivery", {"n": n})
        assert time.perf_counter() - started < 1.0
        assert slow.overflowed and bus.dropped == 1 and bus.subscriber_count("a") == 0
        assert await slow.next_batch(0.01) == []

    asyncio.run(main())


def test_accounts_do_not_see_each_other() -> None:
    async def main() -> None:
        bus = EventBus()
        mine = bus.subscribe("a")
        bus.publish("b", "activity", {"x": 1})
        assert await mine.next_batch(0.01) == []

    asyncio.run(main())


def test_streams_per_account_and_in_all_are_bounded() -> None:
    async def main() -> None:
        bus = EventBus(max_subscribers=2, max_all=3)
        first = bus.subscribe("a")
        bus.subscribe("a")
        with pytest.raises(TooManySubscribers):
            bus.subscribe("a")
        bus.subscribe("b")
        with pytest.raises(TooManySubscribers):
            bus.subscribe("c")
        bus.unsubscribe(first)
        bus.unsubscribe(first)  # idempotent
        bus.subscribe("c")

    asyncio.run(main())


def test_a_stuck_reader_never_slows_the_api(live_server: str, live_runtime: Runtime) -> None:
    """A client that opens the stream and never reads, while megabytes of events pile up: the
    stream's writer is stuck, the API keeps answering quickly, and once the reader's queue is
    full the bus drops it."""
    live = install(live_runtime)
    host, port = live_server.removeprefix("http://").split(":")
    stuck = socket.create_connection((host, int(port)))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(
        b"GET /_mock/events HTTP/1.1\r\nHost: x\r\nx-auth-key: sandbox-key\r\nx-auth-secret: sandbox-secret\r\n\r\n"
    )
    try:
        deadline = time.monotonic() + 5
        while live.bus.subscriber_count("sandbox-key") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        (sub,) = live.bus._subscribers["sandbox-key"]
        big = {"Padding": "x" * 8192}
        flooded = []
        for _ in range(15):  # 1,500 events of 8 KiB (more than the socket holds), 100 at a time
            sub._loop.call_soon_threadsafe(
                lambda: [live.bus.publish("sandbox-key", "delivery", big) for _ in range(100)]
            )
        sub._loop.call_soon_threadsafe(lambda: flooded.append(True))
        while not flooded and time.monotonic() < deadline:
            time.sleep(0.01)
        assert flooded and not sub.overflowed  # the writer is stuck on a full socket; nothing dropped yet
        with httpx.Client(base_url=live_server, headers=AUTH, timeout=5) as client:
            invoice = first_invoice(client)
            slowest = 0.0
            for _ in range(50):
                started = time.perf_counter()
                client.post("/api/invoice/sendtoaccountant", json={"Id": invoice}).raise_for_status()
                slowest = max(slowest, time.perf_counter() - started)
            assert slowest < 1.0
        done = []
        for _ in range(30):  # 3,000 more: past the reader's queue limit of 2,000
            sub._loop.call_soon_threadsafe(
                lambda: [live.bus.publish("sandbox-key", "delivery", big) for _ in range(100)]
            )
        sub._loop.call_soon_threadsafe(lambda: done.append(True))
        until_done = time.monotonic() + 5
        while not done and time.monotonic() < until_done:
            time.sleep(0.01)
        assert sub.overflowed and live.bus.dropped == 1 and live.bus.subscriber_count("sandbox-key") == 0
    finally:
        stuck.close()


def test_events_helper_runs_in_a_loop() -> None:
    """Subscribers built inside one loop are woken from another thread safely."""

    async def main() -> list[int]:
        bus = EventBus()
        sub = bus.subscribe("a")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: bus.publish("a", "activity", {"n": 7}))
        return [e.data["n"] for e in await sub.next_batch(1.0)]

    assert asyncio.run(main()) == [7]
