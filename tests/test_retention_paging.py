"""Bounded in-memory retention and cursor paging of activities and the delivery log."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from envoice_mock.delivery.log import DeliveryLog
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.sink import Sink

from .helpers import SECRET, client_of, frozen


def every_page(c: TestClient, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Follow `Link: rel="next"` from the first page; answers the rows and the number of pages."""
    response = c.get(path, params=params)
    rows, pages = [], 0
    while True:
        assert response.status_code == 200, response.text
        rows += response.json()
        pages += 1
        following = httpx.Response(200, headers=response.headers).links.get("next", {}).get("url")
        if not following:
            return rows, pages
        response = c.get(following)


def first_invoice(c: TestClient) -> int:
    """A seeded invoice of the account."""
    return int(c.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"])


def test_activities_come_a_page_at_a_time_with_a_cursor(client: TestClient) -> None:
    invoice = first_invoice(client)
    for _ in range(30):
        client.post(f"/_mock/invoice/{invoice}/view")
    everything = client.get("/_mock/activities", params={"limit": 10_000}).json()
    first = client.get("/_mock/activities", params={"limit": 50})
    assert len(first.json()) == 50 and 'rel="next"' in first.headers["link"]
    rows, pages = every_page(client, "/_mock/activities", limit=50)
    assert [a["Id"] for a in rows] == [a["Id"] for a in everything]
    assert pages == -(-len(everything) // 50)
    assert len(client.get("/_mock/activities").json()) == min(len(everything), 1000)  # the default page
    since = everything[-5]["Id"]
    assert [a["Id"] for a in client.get("/_mock/activities", params={"since": since}).json()] == [
        a["Id"] for a in everything[-4:]
    ]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=10001", "limit=x", "since=-1", "since=x", "since=²", "limit=1e3"]
)
def test_bad_paging_parameters_are_400(client: TestClient, query: str) -> None:
    for path in ("/_mock/activities", "/_mock/deliveries"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query, response.text)
        assert response.json()["IsFaulted"] is True


def test_the_delivery_log_comes_a_page_at_a_time() -> None:
    runtime = build_runtime(frozen())
    with Sink.running(secret=SECRET) as sink, client_of(runtime) as c:
        c.post("/_mock/webhooks", json={"Url": sink.url})
        invoice = first_invoice(c)
        for _ in range(25):
            c.post(f"/_mock/invoice/{invoice}/view")
        c.post("/_mock/deliveries/settle")
        sink.wait_count(25)
        rows, pages = every_page(c, "/_mock/deliveries", limit=10, outcome="delivered")
    assert pages == 3 and [r["Seq"] for r in rows] == list(range(1, 26))
    assert len({r["DeliveryId"] for r in rows}) == 25 and all(r["State"] == "healthy" for r in rows)


def test_the_delivery_log_keeps_only_its_newest_rows_and_seq_keeps_counting() -> None:
    log = DeliveryLog(keep=5)
    for n in range(12):
        log.append("a", {"DeliveryId": f"d{n}", "WebhookId": "w", "ActivityId": n, "Outcome": "failed"})
    rows = list(log.rows("a"))
    assert [r["Seq"] for r in rows] == [8, 9, 10, 11, 12]
    assert [r["Seq"] for r in log.rows("a", since=10)] == [11, 12]
    assert [r["Seq"] for r in log.rows("a", since=2)] == [8, 9, 10, 11, 12]  # older ones are gone
    assert list(log.rows("b")) == []


def test_activities_in_memory_are_bounded_and_documents_keep_the_retained_ones(runtime: Runtime) -> None:
    runtime.retention.keep = 100
    with client_of(runtime) as c:
        invoice = first_invoice(c)
        for _ in range(400):
            c.post(f"/_mock/invoice/{invoice}/view")
        account = runtime.store.accounts["sandbox-key"]
        assert len(account.activities) <= 110
        kept = {a["Id"] for a in account.activities}
        details = c.get("/api/invoice/details", params={"id": invoice}).json()
        assert details["Activities"] and {a["Id"] for a in details["Activities"]} <= kept
        rows, _ = every_page(c, "/_mock/activities", limit=1000)
        assert {a["Id"] for a in rows} == kept
    # Repeated strings are stored once: one share link object for all views of the invoice.
    views = [a for a in account.activities if a.get("InvoiceId") == invoice]
    assert len({id(a["Link"]) for a in views}) == 1


def test_a_reset_is_never_answered_from_the_cache_of_the_account_before_it(client: TestClient) -> None:
    before = client.get("/api/invoice/all", params={"pageSize": 5}).json()["Result"]
    assert client.post("/_mock/reset").status_code == 200
    after = client.get("/api/invoice/all", params={"pageSize": 5}).json()["Result"]
    assert {i["Id"] for i in before}.isdisjoint(i["Id"] for i in after)  # ids are never reused
    for invoice in after:
        assert client.get("/api/invoice/details", params={"id": invoice["Id"]}).status_code == 200
