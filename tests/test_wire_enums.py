"""Enums on the wire: indexes by default (as the vendor's examples and plugin read them), names on
request (flag, environment, or the x-mock-enum-style header), both accepted in requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.config import Settings, SettingsError, settings_from_env
from envoice_mock.runtime.wiring import build_runtime
from envoice_mock.spec import Spec

from .helpers import AUTH, START

INVOICE_STATUSES = ["Draft", "Paid", "Unpaid", "Overdue", "Void"]
PRODUCT_STATUSES = ["Active", "NotAvailable", "Inactive"]


@pytest.fixture
def default_client(spec: Spec) -> Iterator[TestClient]:
    """A mock started with no enum style given."""
    runtime = build_runtime(Settings(clock_start=START, clock_speed=0.0), spec=spec)
    with TestClient(create_app(runtime=runtime), headers=AUTH) as c:
        yield c


def test_the_default_style_is_int_and_string_is_an_option() -> None:
    assert Settings().enum_style == "int"
    assert settings_from_env({}).enum_style == "int"
    assert settings_from_env({"ENVOICE_MOCK_ENUM_STYLE": "string"}).enum_style == "string"
    assert settings_from_env({"ENVOICE_MOCK_ENUM_STYLE": " String "}).enum_style == "string"
    with pytest.raises(SettingsError):
        settings_from_env({"ENVOICE_MOCK_ENUM_STYLE": "roman"})


def test_default_answers_carry_indexes_like_the_vendor_plugin_reads(default_client: TestClient) -> None:
    products = default_client.get("/api/product/all", params={"page": 1, "pageSize": 100}).json()["Result"]
    assert products and {type(p["Status"]) for p in products} == {int}
    named = default_client.get(
        "/api/product/all", params={"page": 1, "pageSize": 100}, headers={"x-mock-enum-style": "string"}
    ).json()["Result"]
    assert [PRODUCT_STATUSES[p["Status"]] for p in products] == [p["Status"] for p in named]
    invoice = default_client.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]
    details = default_client.get("/api/invoice/details", params={"id": invoice["Id"]}).json()
    assert type(details["Status"]) is int
    assert all(type(a["Type"]) is int for a in details["Activities"])
    status = default_client.get("/api/invoice/status", params={"id": invoice["Id"]}).json()
    assert status == details["Status"]


@pytest.mark.parametrize("style", ["string", "STRING", " string "])
def test_the_header_asks_for_names(default_client: TestClient, style: str) -> None:
    invoice = default_client.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]
    named = default_client.get(
        "/api/invoice/status", params={"id": invoice["Id"]}, headers={"x-mock-enum-style": style}
    )
    assert named.json() == INVOICE_STATUSES[invoice["Status"]]


@pytest.mark.parametrize("style", ["roman", "names", "0", "int,string"])
def test_an_unknown_header_value_is_a_400_not_a_silent_fallback(
    default_client: TestClient, style: str
) -> None:
    invoice = default_client.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]
    for _ in range(2):  # the second time must not come from the response cache
        r = default_client.get(
            "/api/invoice/details", params={"id": invoice["Id"]}, headers={"x-mock-enum-style": style}
        )
        assert r.status_code == 400
        body = r.json()
        assert body["IsFaulted"] is True
        assert body["ErrorMessages"][0]["FaultMessage"].startswith("x-mock-enum-style")
        assert "int, string" in body["ErrorMessages"][0]["FaultMessage"]
    posted = default_client.post(
        "/api/worktype/new", json={"Title": "Never made"}, headers={"x-mock-enum-style": style}
    )
    assert posted.status_code == 400
    titles = [w["Title"] for w in default_client.get("/api/worktype/all").json()]
    assert "Never made" not in titles  # a refused request changes nothing


def test_requests_accept_names_and_indexes_under_the_default(default_client: TestClient) -> None:
    invoice = default_client.get("/api/invoice/all", params={"pageSize": 100}).json()["Result"]
    draft = next(i for i in invoice if i["Status"] == INVOICE_STATUSES.index("Draft"))
    ok = default_client.post("/api/invoice/changestatus", json={"Id": draft["Id"], "Status": "Unpaid"})
    assert ok.json() is True
    assert default_client.get("/api/invoice/status", params={"id": draft["Id"]}).json() == 2
    ok = default_client.post("/api/invoice/changestatus", json={"Id": draft["Id"], "Status": 1})
    assert default_client.get("/api/invoice/status", params={"id": draft["Id"]}).json() == 1


def test_webhook_payloads_carry_the_activity_type_as_an_index(default_client: TestClient) -> None:
    activities = default_client.get("/_mock/activities", params={"since": 0}).json()
    assert activities and all(type(a["Type"]) is int for a in activities)
