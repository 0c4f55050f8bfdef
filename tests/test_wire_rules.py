"""Business rules the description states: unique document numbers, no null for value types, and
error texts that read as sentences naming the field."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.config import Settings
from envoice_mock.domain.store import StoreError
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.spec import Spec

from .helpers import AUTH

GBP, GB = 170, 235
OTHER = {"x-auth-key": "k2", "x-auth-secret": "s2"}


def fault(r: Any, status: int = 400) -> list[dict[str, str]]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["IsFaulted"] is True
    return body["ErrorMessages"]  # type: ignore[no-any-return]


@pytest.fixture
def two(settings: Settings, spec: Spec) -> Iterator[TestClient]:
    """The sandbox account and a second one (k2) on one mock."""
    runtime = build_runtime(settings.with_(accounts=(("k2", "s2"),)), spec=spec)
    with TestClient(create_app(runtime=runtime), headers=AUTH) as c:
        yield c


def refs(c: TestClient, headers: dict[str, str] | None = None) -> dict[str, int]:
    worktype = c.post("/api/worktype/new", json={"Title": "Rules"}, headers=headers).json()
    client_id = c.get("/api/client/all", headers=headers).json()[0]["Id"]
    return {"worktype": worktype, "client": client_id}


def document(kind: str, ids: dict[str, int], number: str) -> dict[str, Any]:
    items = [{"WorkTypeId": ids["worktype"], "Cost": 10, "Quantity": 1}]
    base = {"ClientId": ids["client"], "CurrencyId": GBP, "Items": items, "Number": number}
    if kind == "invoice":
        return base | {"IssuedOn": "2024-03-01T00:00:00Z", "Duedate": "2024-03-31T00:00:00Z"}
    if kind == "estimation":
        return base | {"IssuedOn": "2024-03-01T00:00:00Z", "ExpiresOn": "2024-03-31T00:00:00Z"}
    if kind == "order":
        return {"Name": "Order", "CurrencyId": GBP, "Items": items, "Number": number}
    return base


def count(c: TestClient, kind: str, headers: dict[str, str] | None = None) -> int:
    return int(c.get(f"/api/{kind}/all", params={"pageSize": 1}, headers=headers).json()["TotalCount"])


@pytest.mark.parametrize("kind", ["invoice", "estimation", "paymentlink"])
def test_a_number_is_unique_per_account_within_its_kind(two: TestClient, kind: str) -> None:
    ids = refs(two)
    assert two.post(f"/api/{kind}/new", json=document(kind, ids, "N-77")).status_code == 200
    before = count(two, kind)
    for again in ("N-77", " n-77 "):
        errors = fault(two.post(f"/api/{kind}/new", json=document(kind, ids, again)))
        assert errors[0]["Code"] == "NotUnique"
        assert errors[0]["FaultMessage"].startswith("Number: ")
        assert "already has the number 'N-77'" in errors[0]["FaultMessage"]
        assert errors[0]["UserVisibleMessage"][0].isupper()
    assert count(two, kind) == before  # nothing was created
    # Another kind, and another account, may use the same number.
    other_kind = "estimation" if kind == "invoice" else "invoice"
    assert two.post(f"/api/{other_kind}/new", json=document(other_kind, ids, "N-77")).status_code == 200
    theirs = refs(two, OTHER)
    assert two.post(f"/api/{kind}/new", json=document(kind, theirs, "N-77"), headers=OTHER).status_code == 200


def test_order_numbers_are_unique_too(runtime: Runtime) -> None:
    """Orders are numbered by the mock (OrderCreate has no Number); the store still refuses a repeat."""
    store = runtime.store
    account = store.accounts["sandbox-key"]
    taken = next(iter(account.table("order").values()))["Number"]
    with pytest.raises(StoreError) as refused:
        store.create(account, "order", {"Name": "O", "CurrencyId": GBP, "Items": [], "Number": taken})
    assert refused.value.field == "Number"
    numbers = [o["Number"] for o in account.table("order").values()]
    assert len(numbers) == len(set(numbers))


@pytest.mark.parametrize("kind", ["invoice", "estimation"])
def test_update_cannot_take_another_documents_number_but_keeps_its_own(client: TestClient, kind: str) -> None:
    ids = refs(client)
    first = client.post(f"/api/{kind}/new", json=document(kind, ids, "U-1")).json()
    second = client.post(f"/api/{kind}/new", json=document(kind, ids, "U-2")).json()
    errors = fault(client.post(f"/api/{kind}/update", json={"Id": second["Id"], "Number": "u-1"}))
    assert errors[0]["FaultMessage"].startswith("Number: ")
    assert client.get(f"/api/{kind}/details", params={"id": second["Id"]}).json()["Number"] == "U-2"
    assert client.post(f"/api/{kind}/update", json={"Id": first["Id"], "Number": "U-1"}).status_code == 200
    # A renamed document frees its old number; a deleted one frees its number.
    assert client.post(f"/api/{kind}/update", json={"Id": first["Id"], "Number": "U-3"}).status_code == 200
    assert client.post(f"/api/{kind}/update", json={"Id": second["Id"], "Number": "U-1"}).status_code == 200
    assert client.post(f"/api/{kind}/delete", json={"Id": first["Id"]}).status_code == 200
    assert client.post(f"/api/{kind}/new", json=document(kind, ids, "U-3")).status_code == 200


def test_generated_numbers_skip_numbers_a_client_chose(client: TestClient, runtime: Runtime) -> None:
    account = runtime.store.accounts["sandbox-key"]
    upcoming = f"INV-{account.sequences['number:invoice'] + 1:04d}"
    ids = refs(client)
    assert client.post("/api/invoice/new", json=document("invoice", ids, upcoming)).status_code == 200
    estimation = client.post("/api/estimation/new", json=document("estimation", ids, "E-GEN")).json()
    converted = client.post("/api/estimation/convert", json=estimation["Id"])
    assert converted.status_code == 200, converted.text
    assert converted.json()["Number"] not in (upcoming, "", None)
    numbers = [i["Number"] for i in client.get("/api/invoice/all", params={"pageSize": 500}).json()["Result"]]
    assert len(numbers) == len(set(numbers))


def test_uniqueness_holds_after_a_restart(tmp_path: Path, settings: Settings, spec: Spec) -> None:
    state = settings.with_(state_file=tmp_path / "state.sqlite")
    with TestClient(create_app(runtime=build_runtime(state, spec=spec)), headers=AUTH) as c:
        assert c.post("/api/invoice/new", json=document("invoice", refs(c), "KEEP-1")).status_code == 200
    with TestClient(create_app(runtime=build_runtime(state, spec=spec)), headers=AUTH) as c:
        fault(c.post("/api/invoice/new", json=document("invoice", refs(c), "KEEP-1")))


# --- null -----------------------------------------------------------------------------------


NULLS: list[tuple[str, Callable[[dict[str, int]], dict[str, Any]], str]] = [
    (
        "/api/client/new",
        lambda ids: {
            "Name": "N",
            "Email": "n@x.test",
            "ClientCurrencyId": GBP,
            "ClientCountryId": None,
            "UiLanguageId": 1,
        },
        "ClientCountryId",
    ),
    (
        "/api/order/new",
        lambda ids: {
            "Name": "O",
            "CurrencyId": GBP,
            "Items": [{"Cost": 1, "Quantity": 1}],
            "OrderBillingDetails": {"Name": "B", "CountryId": None},
        },
        "OrderBillingDetails.CountryId",
    ),
    ("/api/invoice/new", lambda ids: document("invoice", ids, "NULL-1") | {"CurrencyId": None}, "CurrencyId"),
    ("/api/invoice/new", lambda ids: document("invoice", ids, "NULL-2") | {"Status": None}, "Status"),
    ("/api/invoice/new", lambda ids: document("invoice", ids, "NULL-3") | {"Items": [None]}, "Items[0]"),
    (
        "/api/invoice/new",
        lambda ids: document("invoice", ids, "NULL-4") | {"Items": [{"Cost": None, "Quantity": 1}]},
        "Items[0].Cost",
    ),
    (
        "/api/invoice/new",
        lambda ids: document("invoice", ids, "NULL-5") | {"ShouldSendReminders": None},
        "ShouldSendReminders",
    ),
    ("/api/invoice/new", lambda ids: document("invoice", ids, "NULL-6") | {"IssuedOn": None}, "IssuedOn"),
    ("/api/tax/update", lambda ids: {"Id": None, "Name": "x"}, "Id"),
]


@pytest.mark.parametrize(("path", "body", "field"), NULLS, ids=[f"{p} {f}" for p, _, f in NULLS])
def test_null_for_a_number_id_flag_date_or_enum_is_a_400(
    client: TestClient, path: str, body: Callable[[dict[str, int]], dict[str, Any]], field: str
) -> None:
    errors = fault(client.post(path, json=body(refs(client))))
    assert errors[0]["FaultMessage"] == f"{field}: cannot be null: send a value or leave the field out"
    assert errors[0]["Code"] == "InvalidValue"


def test_null_for_text_objects_and_lists_means_absent(client: TestClient) -> None:
    body = document("invoice", refs(client), "NULL-OK") | {
        "Notes": None,
        "PoNumber": None,
        "Attachments": None,
        "RecurringProfile": None,
    }
    r = client.post("/api/invoice/new", json=body)
    assert r.status_code == 200, r.text
    assert "Notes" not in r.json()


# --- error texts ----------------------------------------------------------------------------


def refused_move(client: TestClient, kind: str, start: str, target: str) -> dict[str, str]:
    """The error of moving a seeded `kind` in status `start` to `target`."""
    rows = client.get(f"/api/{kind}/all", params={"pageSize": 100}).json()["Result"]
    row = next(r for r in rows if r["Status"] == start)
    return fault(client.post(f"/api/{kind}/changestatus", json={"Id": row["Id"], "Status": target}))[0]


def test_errors_read_as_sentences_naming_the_field(client: TestClient) -> None:
    missing = fault(client.get("/api/invoice/details", params={"id": 123}), 404)[0]
    assert missing["FaultMessage"] == "Id: there is no invoice 123."
    assert missing["UserVisibleMessage"] == "There is no invoice 123."
    link = fault(client.get("/api/paymentlink/uri", params={"id": 5}), 404)[0]
    assert link["FaultMessage"] == "Id: there is no payment link 5."

    moved = refused_move(client, "order", "Refunded", "Shipped")
    assert (
        moved["FaultMessage"]
        == "Status: an order cannot go from Refunded to Shipped; from Refunded it may go nowhere (it is final)."
    )
    assert moved["UserVisibleMessage"].startswith("An order cannot go from Refunded to Shipped")
    moved = refused_move(client, "invoice", "Draft", "Overdue")
    assert (
        moved["FaultMessage"]
        == "Status: an invoice cannot go from Draft to Overdue; from Draft it may go to Unpaid, Paid, Void."
    )

    ids = refs(client)
    body = document("invoice", ids, "REF-1") | {
        "ClientId": 999,
        "Items": [{"WorkTypeId": 998, "Cost": 1, "Quantity": 1}],
    }
    reference = fault(client.post("/api/invoice/new", json=body))[0]
    assert reference["FaultMessage"] == "ClientId: there is no client 999."
    assert reference["UserVisibleMessage"] == "There is no client 999."
    currency = fault(
        client.post("/api/invoice/new", json=document("invoice", ids, "REF-2") | {"CurrencyId": 1})
    )[0]
    assert currency["FaultMessage"] == "CurrencyId: there is no currency 1."
    negative = document("invoice", ids, "NEG-1") | {
        "Items": [{"Cost": 1, "Quantity": 1}, {"Cost": -1, "Quantity": 1}]
    }
    assert (
        fault(client.post("/api/invoice/new", json=negative))[0]["FaultMessage"]
        == "Items[1].Cost: cannot be negative"
    )
    required = fault(client.post("/api/client/new", json={"Name": "x"}))[0]
    assert (required["FaultMessage"], required["UserVisibleMessage"]) == (
        "Email: is required",
        "Email is required",
    )
