"""Accounts never see each other's objects; the same seed gives byte-identical answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.config import DEFAULT_FIXTURES, Settings
from envoice_mock.runtime.wiring import build_runtime
from envoice_mock.spec import Spec, load_spec

from .helpers import AUTH as SANDBOX

GB, GBP, ENGLISH = 235, 170, 1

K2 = {"x-auth-key": "k2", "x-auth-secret": "s2"}
ALICE = {"x-auth-key": "alice", "x-auth-secret": "alice-secret"}
BOB = {"x-auth-key": "bob", "x-auth-secret": "bob-secret"}


def serve(settings: Settings, spec: Spec) -> TestClient:
    """An app on a fresh runtime; enter it with `with`."""
    return TestClient(create_app(runtime=build_runtime(settings, spec=spec)), headers=SANDBOX)


@pytest.fixture
def two_accounts(settings: Settings, spec: Spec) -> Iterator[TestClient]:
    """The sandbox account plus k2:s2 (--account k2:s2)."""
    with serve(settings.with_(accounts=(("k2", "s2"),)), spec) as c:
        yield c


@pytest.fixture
def any_key(settings: Settings, spec: Spec) -> Iterator[TestClient]:
    """--any-key: every key/secret pair gets an account of its own."""
    with serve(settings.with_(any_key=True), spec) as c:
        yield c


def make_objects(client: TestClient, headers: dict[str, str]) -> dict[str, int]:
    """One object of every kind in the account of `headers`."""

    def post(path: str, body: Any) -> Any:
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    worktype = post("/api/worktype/new", {"Title": "Audit"})
    tax = post("/api/tax/new", {"Name": "VAT", "Percentage": 20})
    customer = post(
        "/api/client/new",
        {
            "Name": "Private Co",
            "Email": "p@co.test",
            "ClientCurrencyId": GBP,
            "ClientCountryId": GB,
            "UiLanguageId": ENGLISH,
        },
    )
    items = [{"WorkTypeId": worktype, "TaxId": tax, "Cost": 100, "Quantity": 1}]
    dates = {"IssuedOn": "2024-03-01", "Duedate": "2024-03-30", "ExpiresOn": "2024-03-30"}
    invoice = post(
        "/api/invoice/new",
        {"ClientId": customer, "Number": "P-1", "CurrencyId": GBP, "Items": items, **dates},
    )
    estimation = post(
        "/api/estimation/new",
        {"ClientId": customer, "Number": "P-E1", "CurrencyId": GBP, "Items": items, **dates},
    )
    category = post("/api/invoice/newcategory", {"Name": "Private"})
    product = post("/api/product/new", {"Name": "Private product", "CurrencyId": GBP, "Items": [{"Cost": 5}]})
    order = post(
        "/api/order/new", {"Name": "Private order", "CurrencyId": GBP, "Items": [{"Cost": 5, "Quantity": 1}]}
    )
    link = post("/api/paymentlink/new", {"ClientId": customer, "CurrencyId": GBP, "Items": items})
    return {
        "worktype": worktype,
        "tax": tax,
        "client": customer,
        "invoice": invoice["Id"],
        "estimation": estimation["Id"],
        "category": category["Id"],
        "product": product,
        "order": order,
        "paymentlink": link,
    }


def assert_invisible(client: TestClient, headers: dict[str, str], mine: dict[str, int]) -> None:
    """Every way of reaching another account's objects answers 404, as if they did not exist."""
    reads = [
        ("/api/client/details", "id", "client"),
        ("/api/client/candelete", "id", "client"),
        ("/api/worktype/details", "workTypeId", "worktype"),
        ("/api/invoice/details", "id", "invoice"),
        ("/api/invoice/status", "id", "invoice"),
        ("/api/invoice/uri", "id", "invoice"),
        ("/api/invoice/pdf", "id", "invoice"),
        ("/api/estimation/details", "id", "estimation"),
        ("/api/estimation/status", "id", "estimation"),
        ("/api/estimation/uri", "id", "estimation"),
        ("/api/product/details", "id", "product"),
        ("/api/order/details", "id", "order"),
        ("/api/paymentlink/uri", "id", "paymentlink"),
    ]
    for path, param, kind in reads:
        r = client.get(path, params={param: mine[kind]}, headers=headers)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["IsFaulted"] is True
    writes = [
        ("/api/client/update", {"Id": mine["client"], "Name": "Stolen"}),
        ("/api/worktype/update", {"Id": mine["worktype"], "Title": "Stolen"}),
        ("/api/tax/update", {"Id": mine["tax"], "Percentage": 1}),
        ("/api/invoice/update", {"Id": mine["invoice"], "Notes": "Stolen"}),
        ("/api/invoice/changestatus", {"Id": mine["invoice"], "Status": "Void"}),
        ("/api/invoice/sendtoclient", {"Id": mine["invoice"]}),
        ("/api/invoice/updatecategory", {"Id": mine["category"], "Name": "Stolen"}),
        ("/api/estimation/convert", mine["estimation"]),
        ("/api/estimation/changestatus", {"Id": mine["estimation"], "Status": "Rejected"}),
        ("/api/product/update", {"Id": mine["product"], "Name": "Stolen"}),
        ("/api/order/changestatus", {"Id": mine["order"], "Status": "Cancelled"}),
        ("/api/invoice/delete", {"Id": mine["invoice"]}),
        ("/api/client/delete", {"Id": mine["client"]}),
        ("/api/tax/delete", {"Id": mine["tax"]}),
        ("/api/paymentlink/delete", {"Id": mine["paymentlink"]}),
        ("/api/order/delete", {"Id": mine["order"]}),
        ("/api/product/delete", {"Id": mine["product"]}),
        ("/api/invoice/deletecategory", {"Id": mine["category"]}),
    ]
    for path, body in writes:
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == 404, (path, r.text)
    r = client.post(
        "/api/order/changeshippingdetails",
        params={"orderId": mine["order"]},
        json={"Name": "x"},
        headers=headers,
    )
    assert r.status_code == 404
    # nor do they show up in lists
    listed = {
        "client": [c["Id"] for c in client.get("/api/client/all", headers=headers).json()],
        "worktype": [w["Id"] for w in client.get("/api/worktype/all", headers=headers).json()],
        "tax": [t["Id"] for t in client.get("/api/tax/all", headers=headers).json()],
    }
    for kind, path in (("invoice", "invoice/all"), ("estimation", "estimation/all"), ("product", "product/all"),
                       ("order", "order/all"), ("paymentlink", "paymentlink/all")):  # fmt: skip
        listed[kind] = [
            x["Id"]
            for x in client.get(f"/api/{path}", params={"pageSize": 1000}, headers=headers).json()["Result"]
        ]
    for kind, ids in listed.items():
        assert mine[kind] not in ids, kind
    found = client.get("/api/worktype/search", params={"query": "Audit"}, headers=headers).json()
    assert mine["worktype"] not in [w["Id"] for w in found]


def test_accounts_do_not_see_each_others_objects(two_accounts: TestClient) -> None:
    sandbox = make_objects(two_accounts, SANDBOX)
    k2 = make_objects(two_accounts, K2)
    assert_invisible(two_accounts, K2, sandbox)
    assert_invisible(two_accounts, SANDBOX, k2)


def test_the_owner_still_sees_everything_afterwards(two_accounts: TestClient) -> None:
    sandbox = make_objects(two_accounts, SANDBOX)
    assert_invisible(two_accounts, K2, sandbox)
    invoice = two_accounts.get("/api/invoice/details", params={"id": sandbox["invoice"]}).json()
    assert invoice["Status"] == "Draft"
    assert "Notes" not in invoice
    assert [a["Type"] for a in invoice["Activities"]] == ["Created"]  # nothing k2 tried left a trace
    client_row = two_accounts.get("/api/client/details", params={"id": sandbox["client"]}).json()
    assert client_row["Name"] == "Private Co"


def test_another_accounts_objects_cannot_be_referenced(two_accounts: TestClient) -> None:
    sandbox = make_objects(two_accounts, SANDBOX)
    r = two_accounts.post(
        "/api/invoice/new",
        headers=K2,
        json={
            "ClientId": sandbox["client"],
            "Number": "X",
            "IssuedOn": "2024-03-01",
            "Duedate": "2024-03-02",
            "CurrencyId": GBP,
            "Items": [{"WorkTypeId": sandbox["worktype"], "Cost": 1, "Quantity": 1}],
        },
    )
    assert r.status_code == 400
    assert r.json()["ErrorMessages"][0]["Code"] == "InvalidReference"


def test_each_account_has_its_own_seeded_data(two_accounts: TestClient) -> None:
    mine = two_accounts.get("/api/client/all").json()
    theirs = two_accounts.get("/api/client/all", headers=K2).json()
    assert len(mine) == len(theirs) == 12
    assert {c["Id"] for c in mine}.isdisjoint({c["Id"] for c in theirs})
    assert [c["Name"] for c in mine] != [c["Name"] for c in theirs]


def test_share_links_of_an_account_keep_working_for_anyone(two_accounts: TestClient) -> None:
    """A share link is public: it is the token, not the caller's account, that names the document."""
    sandbox = make_objects(two_accounts, SANDBOX)
    link = two_accounts.get("/api/invoice/uri", params={"id": sandbox["invoice"]}).json()["Link"]
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = two_accounts.get("/" + path, headers={"x-auth-key": "", "x-auth-secret": ""})
    assert page.status_code == 200
    assert "P-1" in page.text


def test_any_key_gives_every_key_its_own_account(any_key: TestClient) -> None:
    alice = make_objects(any_key, ALICE)
    bob = make_objects(any_key, BOB)
    assert_invisible(any_key, BOB, alice)
    assert_invisible(any_key, ALICE, bob)
    assert_invisible(any_key, SANDBOX, alice)
    again = any_key.get("/api/client/details", params={"id": alice["client"]}, headers=ALICE)
    assert again.status_code == 200 and again.json()["Name"] == "Private Co"


def test_any_key_still_checks_the_secret_of_a_known_key(any_key: TestClient) -> None:
    assert any_key.get("/api/worktype/all", headers=ALICE).status_code == 200
    wrong = any_key.get("/api/worktype/all", headers={"x-auth-key": "alice", "x-auth-secret": "guess"})
    assert wrong.status_code == 401
    assert wrong.json()["IsFaulted"] is True


def test_without_any_key_unknown_keys_are_refused(two_accounts: TestClient) -> None:
    assert two_accounts.get("/api/worktype/all", headers=ALICE).status_code == 401


# --- determinism ---------------------------------------------------------------------------

SNAPSHOT_GETS = [
    "/api/client/all",
    "/api/worktype/all",
    "/api/tax/all",
    "/api/invoice/all?pageSize=100",
    "/api/estimation/all?page=1&pageSize=5",
    "/api/order/all?pageSize=100",
    "/api/product/all",
    "/api/paymentlink/all",
    "/api/invoice/allcategories",
]


def snapshot(client: TestClient) -> dict[str, bytes]:
    """Raw response bytes of a handful of GETs, details of a few documents, and a write."""
    out = {}
    for path in SNAPSHOT_GETS:
        r = client.get(path)
        assert r.status_code == 200, r.text
        out[path] = r.content
    for kind in ("invoice", "estimation", "order", "product"):
        first = client.get(f"/api/{kind}/all", params={"pageSize": 3}).json()["Result"]
        for row in first:
            path = f"/api/{kind}/details?id={row['Id']}"
            out[path] = client.get(path).content
    invoice_id = client.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"]
    out["uri"] = client.get("/api/invoice/uri", params={"id": invoice_id}).content
    worktype = client.post("/api/worktype/new", json={"Title": "Determinism"}).content
    out["worktype/new"] = worktype
    customer = client.get("/api/client/all").json()[0]["Id"]
    out["invoice/new"] = client.post(
        "/api/invoice/new",
        json={
            "ClientId": customer,
            "Number": "D-1",
            "IssuedOn": "2024-03-01",
            "Duedate": "2024-03-02",
            "CurrencyId": GBP,
            "Items": [{"WorkTypeId": int(worktype), "Cost": 12.34, "Quantity": 5, "TaxPercentage": 19}],
        },
    ).content
    return out


def test_same_seed_gives_byte_identical_responses(settings: Settings, spec: Spec) -> None:
    with serve(settings, spec) as first:
        one = snapshot(first)
    with serve(settings, spec) as second:
        two = snapshot(second)
    assert one.keys() == two.keys()
    for key in one:
        assert one[key] == two[key], key


def test_same_seed_without_a_shared_spec_object(settings: Settings) -> None:
    """Loading the fixtures afresh changes nothing either."""
    with serve(settings, load_spec(DEFAULT_FIXTURES)) as first:
        one = first.get("/api/invoice/all?pageSize=100").content
    with serve(settings, load_spec(DEFAULT_FIXTURES)) as second:
        assert second.get("/api/invoice/all?pageSize=100").content == one


def test_different_seed_gives_different_data(settings: Settings, spec: Spec) -> None:
    with serve(settings, spec) as first:
        one = snapshot(first)
    with serve(settings.with_(seed=settings.seed + 1), spec) as second:
        two = snapshot(second)
    for path in ("/api/client/all", "/api/invoice/all?pageSize=100", "/api/order/all?pageSize=100"):
        assert one[path] != two[path], path
    # the reference data and the fixtures' own names do not depend on the seed
    with serve(settings.with_(seed=settings.seed + 1), spec) as second:
        titles = [w["Title"] for w in second.get("/api/worktype/all").json()]
    with serve(settings, spec) as first:
        assert [w["Title"] for w in first.get("/api/worktype/all").json()] == titles


def test_seeded_data_does_not_depend_on_the_clock(settings: Settings, spec: Spec) -> None:
    """Seeded history sits before the seed anchor, whatever day the server starts."""
    with serve(settings, spec) as first:
        one = first.get("/api/client/all").content
    later = settings.with_(clock_start=settings.clock_start.replace(year=2025))  # type: ignore[union-attr]
    with serve(later, spec) as second:
        assert second.get("/api/client/all").content == one
