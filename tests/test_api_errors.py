"""The error matrix: every failure answers with the fault envelope and the right status; never a 500."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.config import Settings
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.spec import Spec

from .helpers import AUTH, GARBAGE, RAW_GARBAGE, START

GB, GBP, ENGLISH = 235, 170, 1

MISSING_ID = 1  # ids of the sandbox account are far above this
ITEM_KEYS = {"Code", "FaultMessage", "Group", "UserVisibleMessage"}


@pytest.fixture(scope="module")
def shared_runtime(spec: Spec) -> Runtime:
    """One runtime for the whole module: requests that fail change nothing, so they can share it.

    Same settings as conftest's (frozen clock, enums by name); tests that may change state use `runtime`.
    """
    settings = Settings(
        clock_start=START, clock_speed=0.0, retry_schedule=(1, 2, 4), probe_interval=10.0, enum_style="string"
    )
    return build_runtime(settings, spec=spec)


@pytest.fixture(scope="module")
def client(shared_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=shared_runtime), headers=AUTH, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def anonymous(shared_runtime: Runtime, client: TestClient) -> TestClient:
    """A client that sends no credentials (same runtime; the lifespan already runs under `client`)."""
    return TestClient(create_app(runtime=shared_runtime), raise_server_exceptions=False)


@pytest.fixture
def runtime(settings: Settings, spec: Spec) -> Runtime:
    """A fresh runtime of its own (conftest's, without re-reading the YAML fixtures)."""
    return build_runtime(settings, spec=spec)


@pytest.fixture
def fresh(runtime: Runtime) -> Iterator[TestClient]:
    """A client on a fresh runtime, for tests whose requests may succeed and change state."""
    with TestClient(create_app(runtime=runtime), headers=AUTH, raise_server_exceptions=False) as c:
        yield c


def fault(response: Any, status: int) -> list[dict[str, str]]:
    """Assert the fault envelope with `status`; return its error items."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"IsFaulted", "ErrorMessages"}
    assert body["IsFaulted"] is True
    assert body["ErrorMessages"], "a fault carries at least one error"
    for item in body["ErrorMessages"]:
        assert set(item) == ITEM_KEYS
        assert all(isinstance(v, str) and v for v in item.values())
    return body["ErrorMessages"]


NUMBERS = itertools.count(1)


def fields_named(errors: list[dict[str, str]]) -> list[str]:
    """The field each error names: a FaultMessage is `<field>: <message>` or `<field> <message>`."""
    return [re.match(r"[^\s:]+", e["FaultMessage"]).group(0) for e in errors]  # type: ignore[union-attr]


@pytest.fixture
def ids(client: TestClient) -> dict[str, int]:
    """Ids of objects that exist in the sandbox account."""
    worktype = client.post("/api/worktype/new", json={"Title": "Consulting"}).json()
    customer = client.post(
        "/api/client/new",
        json={
            "Name": "Err Co",
            "Email": "err@co.test",
            "ClientCurrencyId": GBP,
            "ClientCountryId": GB,
            "UiLanguageId": ENGLISH,
        },
    ).json()
    invoice = client.post(
        "/api/invoice/new",
        json={
            "ClientId": customer,
            "Number": f"E-{next(NUMBERS)}",  # numbers are unique per account
            "IssuedOn": "2024-03-01T00:00:00Z",
            "Duedate": "2024-03-10T00:00:00Z",
            "CurrencyId": GBP,
            "Items": [{"WorkTypeId": worktype, "Cost": 10, "Quantity": 1}],
        },
    ).json()
    return {"worktype": worktype, "client": customer, "invoice": invoice["Id"]}


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-auth-key": "sandbox-key"},
        {"x-auth-secret": "sandbox-secret"},
        {"x-auth-key": "", "x-auth-secret": ""},
    ],
    ids=["none", "key-only", "secret-only", "empty"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/client/all"), ("GET", "/api/invoice/details?id=1"), ("POST", "/api/client/new")],
)
def test_missing_credentials_are_401(
    anonymous: TestClient, headers: dict[str, str], method: str, path: str
) -> None:
    r = anonymous.request(method, path, headers=headers, json={"Name": "x"})
    errors = fault(r, 401)
    assert errors[0]["Code"] == "Unauthorized"
    assert errors[0]["Group"] == "Authentication"
    assert "x-auth" in errors[0]["FaultMessage"]
    assert "www-authenticate" in r.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"x-auth-key": "sandbox-key", "x-auth-secret": "wrong"},
        {"x-auth-key": "someone-else", "x-auth-secret": "sandbox-secret"},
        {"x-auth-key": "SANDBOX-KEY", "x-auth-secret": "sandbox-secret"},
    ],
    ids=["wrong-secret", "unknown-key", "key-case"],
)
def test_wrong_credentials_are_401(anonymous: TestClient, headers: dict[str, str]) -> None:
    errors = fault(anonymous.get("/api/invoice/all", headers=headers), 401)
    assert errors[0]["Code"] == "Unauthorized"


def test_every_operation_requires_credentials(anonymous: TestClient, spec: Spec) -> None:
    for op in spec.operations:
        r = anonymous.request(op.method, op.path, json={})
        fault(r, 401)


def test_credentials_are_checked_before_the_body(anonymous: TestClient) -> None:
    r = anonymous.post("/api/client/new", content=b"{not json", headers={"content-type": "application/json"})
    fault(r, 401)


# --- unknown ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/client/details?id={id}",
        "/api/client/candelete?id={id}",
        "/api/estimation/details?id={id}",
        "/api/estimation/status?id={id}",
        "/api/estimation/uri?id={id}",
        "/api/invoice/details?id={id}",
        "/api/invoice/status?id={id}",
        "/api/invoice/uri?id={id}",
        "/api/invoice/pdf?id={id}",
        "/api/order/details?id={id}",
        "/api/paymentlink/uri?id={id}",
        "/api/product/details?id={id}",
        "/api/worktype/details?workTypeId={id}",
    ],
)
def test_unknown_id_in_a_read_is_404(client: TestClient, path: str) -> None:
    errors = fault(client.get(path.format(id=MISSING_ID)), 404)
    assert errors[0]["Code"] == "NotFound"
    assert errors[0]["Group"] == "NotFound"
    assert str(MISSING_ID) in errors[0]["FaultMessage"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/client/update", {"Id": MISSING_ID, "Name": "x"}),
        ("/api/client/delete", {"Id": MISSING_ID}),
        ("/api/estimation/changestatus", {"Id": MISSING_ID, "Status": "Accepted"}),
        ("/api/estimation/convert", MISSING_ID),
        ("/api/estimation/delete", {"Id": MISSING_ID}),
        ("/api/estimation/sendtoclient", {"Id": MISSING_ID}),
        ("/api/estimation/update", {"Id": MISSING_ID}),
        ("/api/invoice/changestatus", {"Id": MISSING_ID, "Status": "Paid"}),
        ("/api/invoice/delete", {"Id": MISSING_ID}),
        ("/api/invoice/deletecategory", {"Id": MISSING_ID}),
        ("/api/invoice/sendtoaccountant", {"Id": MISSING_ID}),
        ("/api/invoice/sendtoclient", {"InvoiceId": MISSING_ID}),
        ("/api/invoice/update", {"Id": MISSING_ID, "Notes": "x"}),
        ("/api/invoice/updatecategory", {"Id": MISSING_ID, "Name": "x"}),
        ("/api/order/changeshippingdetails?orderId=1", {"Name": "x"}),
        ("/api/order/changestatus", {"Id": MISSING_ID, "Status": "Processing"}),
        ("/api/order/delete", {"Id": MISSING_ID}),
        ("/api/paymentlink/delete", {"Id": MISSING_ID}),
        ("/api/product/delete", {"Id": MISSING_ID}),
        ("/api/product/update", {"Id": MISSING_ID}),
        ("/api/tax/delete", {"Id": MISSING_ID}),
        ("/api/tax/update", {"Id": MISSING_ID, "Percentage": 5}),
        ("/api/worktype/delete", {"Id": MISSING_ID}),
        ("/api/worktype/update", {"Id": MISSING_ID, "Title": "x"}),
    ],
)
def test_unknown_id_in_a_write_is_404(client: TestClient, path: str, body: Any) -> None:
    errors = fault(client.post(path, json=body), 404)
    assert errors[0]["Code"] == "NotFound"


def test_a_reference_to_a_missing_object_is_400_naming_the_field(
    client: TestClient, ids: dict[str, int]
) -> None:
    body = {
        "ClientId": ids["client"],
        "Number": "E-2",
        "IssuedOn": "2024-03-01",
        "Duedate": "2024-03-02",
        "CurrencyId": GBP,
        "Items": [{"Cost": 1, "Quantity": 1}, {"WorkTypeId": MISSING_ID, "Cost": 1, "Quantity": 1}],
    }
    errors = fault(client.post("/api/invoice/new", json=body), 400)
    assert errors[0]["Code"] == "InvalidReference"
    assert fields_named(errors) == ["Items[1].WorkTypeId"]
    for field, value in (
        ("ClientId", MISSING_ID),
        ("CurrencyId", 9999),
        ("PaymentGateways", [{"Name": "bitcoin"}]),
    ):
        errors = fault(
            client.post("/api/invoice/new", json={**body, "Items": body["Items"][:1], field: value}), 400
        )
        assert errors[0]["Code"] == "InvalidReference"
        assert fields_named(errors)[0].startswith(field)
    errors = fault(
        client.post(
            "/api/client/new",
            json={
                "Name": "x",
                "Email": "x@y.z",
                "ClientCurrencyId": GBP,
                "ClientCountryId": 999,
                "UiLanguageId": 1,
            },
        ),
        400,
    )
    assert fields_named(errors) == ["ClientCountryId"]


# --- malformed and invalid bodies ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [b"{", b'{"Name": }', b"[1, 2", b"{'Name': 'single quotes'}", b"\xff\xfe\x00"]
)
def test_malformed_json_is_400(client: TestClient, raw: bytes) -> None:
    r = client.post("/api/client/new", content=raw, headers={"content-type": "application/json"})
    errors = fault(r, 400)
    assert errors[0]["Code"] in ("MalformedJson", "MalformedBody")
    assert errors[0]["Group"] == "Validation"


def test_malformed_xml_is_400(client: TestClient) -> None:
    r = client.post(
        "/api/tax/new", content=b"<TaxCreate><Name>x</Nme>", headers={"content-type": "application/xml"}
    )
    assert fault(r, 400)[0]["Code"] == "MalformedXml"


def test_unsupported_media_type_is_415(client: TestClient) -> None:
    r = client.post("/api/tax/new", content=b"Name: x", headers={"content-type": "application/yaml"})
    assert fault(r, 415)[0]["Code"] == "UnsupportedMediaType"


def test_empty_body_is_400(client: TestClient) -> None:
    r = client.post("/api/tax/new", content=b"", headers={"content-type": "application/json"})
    errors = fault(r, 400)
    assert errors[0]["Code"] == "Required"
    assert fields_named(errors) == ["body"]


@pytest.mark.parametrize("body", [[], "x", 5, True, [{"Name": "x"}]])
def test_a_body_that_is_not_an_object_is_400(client: TestClient, body: Any) -> None:
    errors = fault(client.post("/api/tax/new", json=body), 400)
    assert fields_named(errors) == ["body"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/client/new",
            {"Name": "x", "Email": "e", "ClientCurrencyId": "GBP", "ClientCountryId": GB, "UiLanguageId": 1},
            "ClientCurrencyId",
        ),
        (
            "/api/client/new",
            {"Name": ["x"], "Email": "e", "ClientCurrencyId": GBP, "ClientCountryId": GB, "UiLanguageId": 1},
            "Name",
        ),
        (
            "/api/client/new",
            {"Name": "x", "Email": "e", "ClientCurrencyId": GBP, "ClientCountryId": 1.5, "UiLanguageId": 1},
            "ClientCountryId",
        ),
        (
            "/api/client/new",
            {"Name": "x", "Email": "e", "ClientCurrencyId": GBP, "ClientCountryId": GB, "UiLanguageId": True},
            "UiLanguageId",
        ),
        (
            "/api/client/new",
            {
                "Name": "x",
                "Email": "e",
                "ClientCurrencyId": GBP,
                "ClientCountryId": GB,
                "UiLanguageId": 1,
                "AdditionalEmails": "a@b.c",
            },
            "AdditionalEmails",
        ),
        ("/api/tax/new", {"Name": "VAT", "Percentage": "twenty"}, "Percentage"),
        ("/api/tax/new", {"Name": "VAT", "Percentage": {"value": 20}}, "Percentage"),
        ("/api/worktype/update", {"Id": "abc", "Title": "x"}, "Id"),
        ("/api/worktype/update", {"Id": 2**31, "Title": "x"}, "Id"),
        ("/api/invoice/update", {"Id": 5, "IssuedOn": "yesterday"}, "IssuedOn"),
        ("/api/invoice/update", {"Id": 5, "ShouldSendReminders": "perhaps"}, "ShouldSendReminders"),
        ("/api/invoice/update", {"Id": 5, "Items": "no"}, "Items"),
        ("/api/invoice/update", {"Id": 5, "Items": [{"Cost": "ten", "Quantity": 1}]}, "Items[0].Cost"),
        ("/api/invoice/update", {"Id": 5, "Items": [{"Cost": 1, "Quantity": 1}, 7]}, "Items[1]"),
        (
            "/api/invoice/update",
            {"Id": 5, "RecurringProfile": {"DayOfWeek": "Caturday"}},
            "RecurringProfile.DayOfWeek",
        ),
        ("/api/product/update", {"Id": 5, "Coupons": [{"ValidUntil": 20240101}]}, "Coupons[0].ValidUntil"),
        ("/api/estimation/convert", {"Estimation": 5}, "body"),
        ("/api/estimation/convert", "five", "body"),
    ],
)
def test_wrong_types_are_400_naming_the_field(client: TestClient, path: str, body: Any, field: str) -> None:
    errors = fault(client.post(path, json=body), 400)
    assert errors[0]["Code"] == "InvalidValue"
    assert field in fields_named(errors)


def test_every_field_error_is_reported_at_once(client: TestClient) -> None:
    body = {"Name": 1.5, "Email": {}, "ClientCurrencyId": "x", "ClientCountryId": [], "UiLanguageId": "y"}
    errors = fault(client.post("/api/client/new", json=body), 400)
    assert set(fields_named(errors)) == {"Email", "ClientCurrencyId", "ClientCountryId", "UiLanguageId"}


def test_missing_required_fields_are_400_naming_each(client: TestClient) -> None:
    errors = fault(client.post("/api/client/new", json={"Name": "Only a name"}), 400)
    assert fields_named(errors) == ["Email", "ClientCurrencyId", "ClientCountryId", "UiLanguageId"]
    assert {e["Code"] for e in errors} == {"Required"}
    assert errors[0]["UserVisibleMessage"] == "Email is required"


@pytest.mark.parametrize(
    ("path", "body", "missing"),
    [
        (
            "/api/invoice/new",
            {
                "ClientId": 1,
                "Number": "X",
                "IssuedOn": "2024-01-01",
                "Duedate": "2024-01-02",
                "CurrencyId": GBP,
            },
            ["Items"],
        ),
        (
            "/api/invoice/new",
            {
                "ClientId": 1,
                "Number": "X",
                "IssuedOn": "2024-01-01",
                "Duedate": "2024-01-02",
                "CurrencyId": GBP,
                "Items": [{"Cost": 1}, {"Quantity": 2}],
            },
            ["Items[0].Quantity", "Items[1].Cost"],
        ),
        (
            "/api/estimation/new",
            {"ClientId": 1, "Number": "X", "CurrencyId": GBP, "Items": [{"Cost": 1, "Quantity": 1}]},
            ["IssuedOn", "ExpiresOn"],
        ),
        ("/api/order/new", {"Items": [{"Cost": 1, "Quantity": 1}]}, ["Name", "CurrencyId"]),
        ("/api/paymentlink/new", {"CurrencyId": GBP, "Items": []}, ["ClientId", "Items"]),
        ("/api/product/new", {"Name": "P", "CurrencyId": GBP}, ["Items"]),
        ("/api/tax/new", {"Name": "VAT"}, ["Percentage"]),
        ("/api/worktype/new", {"Title": ""}, ["Title"]),
        ("/api/worktype/update", {"Id": 5}, ["Title"]),
        ("/api/invoice/changestatus", {"Status": "Paid"}, ["Id"]),
        ("/api/order/changestatus", {"Id": 5}, ["Status"]),
        ("/api/invoice/newcategory", {}, ["Name"]),
        ("/api/invoice/sendtoclient", {"Subject": "hi"}, ["Id"]),
        ("/api/estimation/sendtoclient", {"Message": "hi"}, ["Id"]),
        ("/api/client/delete", {}, ["Id"]),
    ],
)
def test_missing_required_fields(
    client: TestClient, path: str, body: dict[str, Any], missing: list[str]
) -> None:
    errors = fault(client.post(path, json=body), 400)
    assert sorted(fields_named(errors)) == sorted(missing)
    assert {e["Code"] for e in errors} == {"Required"}


def test_required_query_parameter(client: TestClient) -> None:
    errors = fault(client.get("/api/invoice/details"), 400)
    assert fields_named(errors) == ["id"]
    errors = fault(client.post("/api/order/changeshippingdetails", json={"Name": "x"}), 400)
    assert fields_named(errors) == ["orderId"]
    errors = fault(client.get("/api/worktype/details"), 400)
    assert fields_named(errors) == ["workTypeId"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/api/invoice/details?id=abc", "id"),
        ("/api/invoice/all?queryOptions.page=first", "queryOptions.page"),
        ("/api/order/all?pageSize=-", "queryOptions.pageSize"),
        ("/api/invoice/pdf?id=1&signedVersion=maybe", "signedVersion"),
    ],
)
def test_wrong_query_types_are_400_naming_the_parameter(client: TestClient, path: str, value: str) -> None:
    assert fields_named(fault(client.get(path), 400)) == [value]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/invoice/changestatus", {"Id": 5, "Status": "Settled"}, "Status"),
        ("/api/invoice/changestatus", {"Id": 5, "Status": 5}, "Status"),
        ("/api/invoice/changestatus", {"Id": 5, "Status": -1}, "Status"),
        ("/api/estimation/changestatus", {"Id": 5, "Status": "Approved"}, "Status"),
        ("/api/order/changestatus", {"Id": 5, "Status": "Lost"}, "Status"),
        ("/api/product/update", {"Id": 5, "Status": "SoldOut"}, "Status"),
        ("/api/invoice/update", {"Id": 5, "Attachments": [{"Type": "Linked"}]}, "Attachments[0].Type"),
    ],
)
def test_unknown_enum_values_are_400_listing_the_members(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    errors = fault(client.post(path, json=body), 400)
    assert fields_named(errors) == [field]
    assert "is not one of" in errors[0]["FaultMessage"]


def test_unknown_enum_in_a_query_is_400(client: TestClient) -> None:
    errors = fault(client.get("/api/worktype/search", params={"queryOptions.order": "Sideways"}), 400)
    assert fields_named(errors) == ["queryOptions.order"]
    assert "None, Asc, Desc" in errors[0]["FaultMessage"]
    errors = fault(client.get("/api/worktype/search", params={"orderBy": "Colour"}), 400)
    assert fields_named(errors) == ["orderBy"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"Duedate": "2020-01-01T00:00:00Z"}, "Duedate"),
        ({"Items": [{"Cost": -5, "Quantity": 1}]}, "Items[0].Cost"),
        ({"Items": [{"Cost": 5, "Quantity": 1, "DiscountPercentage": 101}]}, "Items[0].DiscountPercentage"),
    ],
)
def test_impossible_values_are_400(
    client: TestClient, ids: dict[str, int], body: dict[str, Any], field: str
) -> None:
    errors = fault(client.post("/api/invoice/update", json={"Id": ids["invoice"], **body}), 400)
    assert fields_named(errors) == [field]


def test_tax_percentage_is_bounded(client: TestClient) -> None:
    assert fields_named(fault(client.post("/api/tax/new", json={"Name": "x", "Percentage": 120}), 400)) == [
        "Percentage"
    ]


# --- routes, methods, sizes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/invoice/nope", "/api/unknown/all", "/api/invoice", "/api/client/all/extra", "/nothing/here"],
)
def test_unknown_route_is_404(client: TestClient, path: str) -> None:
    errors = fault(client.get(path), 404)
    assert errors[0]["Code"] == "NotFound"
    fault(client.post(path, json={}), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/api/client/all", "GET"),
        ("PUT", "/api/client/update", "POST"),
        ("DELETE", "/api/client/delete", "POST"),
        ("GET", "/api/invoice/new", "POST"),
        ("PATCH", "/api/invoice/update", "POST"),
        ("POST", "/api/general/countries", "GET"),
    ],
)
def test_wrong_method_is_405(client: TestClient, method: str, path: str, allowed: str) -> None:
    r = client.request(method, path, json={})
    errors = fault(r, 405)
    assert errors[0]["Code"] == "MethodNotAllowed"
    assert allowed in r.headers["allow"]


def test_body_over_one_mebibyte_is_413(client: TestClient) -> None:
    huge = json.dumps({"Name": "x", "Email": "y" * (1024 * 1024)})
    errors = fault(
        client.post("/api/client/new", content=huge, headers={"content-type": "application/json"}), 413
    )
    assert errors[0]["Code"] == "PayloadTooLarge"


def test_body_just_under_the_limit_is_read(client: TestClient) -> None:
    padding = "y" * (1024 * 1024 - 100)
    r = client.post("/api/worktype/new", json={"Title": "ok", "Padding": padding})
    assert r.status_code == 200, r.text


def test_body_over_the_limit_without_a_length_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"Title": "'
        for _ in range(65):
            yield b"z" * 16384
        yield b'"}'

    r = client.post("/api/worktype/new", content=chunks(), headers={"content-type": "application/json"})
    fault(r, 413)


# --- status transitions --------------------------------------------------------------------


def _invoice_in(client: TestClient, status: str) -> int:
    listing = client.get("/api/invoice/all", params={"pageSize": 100}).json()["Result"]
    return next(i["Id"] for i in listing if i["Status"] == status)


@pytest.mark.parametrize(
    ("start", "target"), [("Void", "Paid"), ("Void", "Draft"), ("Draft", "Overdue"), ("Paid", "Draft")]
)
def test_illegal_invoice_transition_is_400(client: TestClient, start: str, target: str) -> None:
    invoice_id = _invoice_in(client, start)
    errors = fault(client.post("/api/invoice/changestatus", json={"Id": invoice_id, "Status": target}), 400)
    assert errors[0]["Code"] == "InvalidStatusTransition"
    assert fields_named(errors) == ["Status"]
    assert start in errors[0]["FaultMessage"] and target in errors[0]["FaultMessage"]
    assert client.get("/api/invoice/status", params={"id": invoice_id}).json() == start


def test_illegal_transition_through_update_is_400_and_changes_nothing(client: TestClient) -> None:
    invoice_id = _invoice_in(client, "Void")
    before = client.get("/api/invoice/details", params={"id": invoice_id}).json()
    r = client.post("/api/invoice/update", json={"Id": invoice_id, "Status": "Unpaid", "Notes": "sneaky"})
    assert fault(r, 400)[0]["Code"] == "InvalidStatusTransition"
    assert client.get("/api/invoice/details", params={"id": invoice_id}).json() == before


def test_illegal_order_transition_is_400(client: TestClient) -> None:
    orders = client.get("/api/order/all", params={"pageSize": 100}).json()["Result"]
    final = next(o for o in orders if o["Status"] in ("Cancelled", "Refunded"))
    r = client.post("/api/order/changestatus", json={"Id": final["Id"], "Status": "Processing"})
    assert fault(r, 400)[0]["Code"] == "InvalidStatusTransition"


def test_a_void_invoice_cannot_be_sent(client: TestClient) -> None:
    r = client.post("/api/invoice/sendtoclient", json={"Id": _invoice_in(client, "Void")})
    assert fault(r, 400)[0]["Code"] == "InvalidState"


# --- never a 500 ---------------------------------------------------------------------------


def _assert_enveloped(r: Any, context: str) -> None:
    assert r.status_code < 500, f"{context}: {r.status_code} {r.text[:300]}"
    if r.status_code >= 400:
        body = r.json()
        assert body["IsFaulted"] is True, context
        assert body["ErrorMessages"] and all(set(e) == ITEM_KEYS for e in body["ErrorMessages"]), context


def test_garbage_bodies_never_cause_a_500(fresh: TestClient, spec: Spec, runtime: Runtime) -> None:
    client = fresh
    posts = [op for op in spec.operations if op.method == "POST"]
    assert len(posts) == 33
    account = runtime.store.accounts["sandbox-key"]
    for op in posts:
        # aim the garbage at an object that exists too, so that it reaches the store's rules
        existing = min(account.table(op.resource or "invoice"))
        path = op.path + (f"?orderId={existing}" if op.query else "")
        takes_id = (
            op.body is not None and op.body.kind == "model" and "Id" in spec.models[op.body.name].fields
        )
        for body in GARBAGE:
            payloads = [body]
            if takes_id and isinstance(body, dict) and "Id" not in body:
                payloads.append({**body, "Id": existing})
            for payload in payloads:
                _assert_enveloped(client.post(path, json=payload), f"{op.id} {payload!r}")
        for media, raw in RAW_GARBAGE:
            r = client.post(path, content=raw, headers={"content-type": media})
            _assert_enveloped(r, f"{op.id} {media} {raw!r}")


def test_garbage_forms_never_cause_a_500(fresh: TestClient, spec: Spec) -> None:
    client = fresh
    forms = [
        "a=1&a.b=2",
        "a.b=1&a=2",
        "Items[0]=x&Items[1].Cost=2",
        "Items[a].Cost=1",
        "Items[0].Cost=1&Items[0][Cost][x]=2",
        "=",
        "&&&",
        "Id=",
        "Id=abc",
        "Items[99999].Cost=1&Items[99999].Quantity=2",
        "Status=1e9&Id=1",
    ]
    for op in spec.operations:
        if op.method == "POST":
            for form in forms:
                r = client.post(
                    op.path, content=form, headers={"content-type": "application/x-www-form-urlencoded"}
                )
                _assert_enveloped(r, f"{op.id} {form}")


def test_garbage_query_strings_never_cause_a_500(client: TestClient, spec: Spec) -> None:
    values = ["", "abc", "-1", "0", "1.5", "99999999999", "%00", "None", "desc", "Title", "1" * 400]
    for op in spec.operations:
        if op.method != "GET":
            continue
        names = [name for param in op.query for name in param.names] or ["id"]
        for name in names:
            for value in values:
                _assert_enveloped(client.get(op.path, params={name: value}), f"{op.id} {name}={value!r}")
        # every parameter wrong at once
        everything = {name: "-1" for name in names}
        _assert_enveloped(client.get(op.path, params=everything), f"{op.id} {everything}")


def test_odd_methods_never_cause_a_500(client: TestClient, spec: Spec) -> None:
    for op in spec.operations:
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            _assert_enveloped(client.request(method, op.path), f"{method} {op.path}")
        assert client.head(op.path).status_code < 500
