"""A failed request changes nothing; hostile text and numbers are 400s in the fault envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.runtime.wiring import Runtime
from envoice_mock.spec import Spec

from .helpers import AUTH, GARBAGE, RAW_GARBAGE, snapshot

HUGE = "7" * 5000  # more digits than Python converts to int by default (4,300)


def fault_fields(response: Any) -> list[str]:
    """The fields named by a 400 fault envelope."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["IsFaulted"] is True
    return [e["FaultMessage"].split(":")[0] for e in body["ErrorMessages"]]


@pytest.fixture
def lenient(runtime: Runtime) -> Iterator[TestClient]:
    """A client that answers a server error as a response instead of raising it."""
    with TestClient(create_app(runtime=runtime), headers=AUTH, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def ids(runtime: Runtime) -> dict[str, int]:
    """An existing object of each kind (unpaid invoice for payments)."""
    account = runtime.store.accounts["sandbox-key"]
    unpaid = next(i for i, r in account.table("invoice").items() if r["Status"] == "Unpaid")
    out = {kind: min(account.table(kind)) for kind in ("client", "worktype", "tax", "estimation", "order")}
    return out | {"invoice": unpaid}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"Title": "x\\udfff"}', "Title"),
        (b'{"Title": "\\ud800"}', "Title"),
        (b'{"Title": "a\\u0000b"}', "Title"),
        (b'{"Title": "bell\\u0007"}', "Title"),
        (b'{"Title": "x\\ufffe"}', "Title"),
    ],
)
def test_unencodable_strings_are_400_naming_the_field(
    client: TestClient, runtime: Runtime, raw: bytes, field: str
) -> None:
    before = snapshot(runtime)
    response = client.post("/api/worktype/new", content=raw, headers={"content-type": "application/json"})
    assert fault_fields(response) == [field]
    assert snapshot(runtime) == before
    assert client.get("/api/worktype/all").status_code == 200


def test_unencodable_strings_in_nested_fields_and_forms(client: TestClient, ids: dict[str, int]) -> None:
    body = b'{"Id": %d, "Items": [{"Description": "ok"}, {"Description": "x\\udc80"}]}' % ids["invoice"]
    response = client.post("/api/invoice/update", content=body, headers={"content-type": "application/json"})
    assert fault_fields(response) == ["Items[1].Description"]
    form = client.post(
        "/api/worktype/new",
        content="Title=a%00b",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert fault_fields(form) == ["Title"]


def test_tabs_newlines_and_astral_characters_are_fine(client: TestClient) -> None:
    title = "Line\tone\nline two\r — 😀 ✓"
    wt = client.post("/api/worktype/new", json={"Title": title}).json()
    assert client.get("/api/worktype/details", params={"id": wt}).json()["Title"] == title


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("GET", "/api/invoice/details", {"params": {"id": "²"}}, "id"),
        ("GET", "/api/invoice/details", {"params": {"id": "٣"}}, "id"),
        ("GET", "/api/invoice/details", {"params": {"id": HUGE}}, "id"),
        ("GET", "/api/invoice/all", {"params": {"page": "¹", "pageSize": "5"}}, "page"),
        ("GET", "/_mock/activities", {"params": {"since": "²"}}, "since"),
        ("GET", "/_mock/activities", {"params": {"since": HUGE}}, "since"),
        ("GET", "/_mock/deliveries", {"params": {"activity": "²"}}, "activity"),
        ("POST", "/api/invoice/changestatus", {"json": {"Id": "{invoice}", "Status": "²"}}, "Status"),
        ("POST", "/api/worktype/delete", {"content": "²", "headers": {"content-type": "text/plain"}}, "body"),
    ],
)
def test_unicode_digits_and_huge_integers_are_400(
    client: TestClient, ids: dict[str, int], method: str, path: str, kwargs: dict[str, Any], field: str
) -> None:
    if "json" in kwargs:
        kwargs = {"json": {k: (ids["invoice"] if v == "{invoice}" else v) for k, v in kwargs["json"].items()}}
    response = client.request(method, path, **kwargs)
    # "²" as a text/plain body is no integer, so the media type is the problem (415)
    assert response.status_code == (415 if "content" in kwargs else 400), response.text
    assert response.json()["IsFaulted"] is True
    assert field in response.text or response.status_code == 415


def test_a_huge_id_in_a_control_path_is_no_server_error(lenient: TestClient) -> None:
    for digits in (HUGE, "9" * 41):
        response = lenient.post(f"/_mock/invoice/{digits}/view")
        assert response.status_code == 404 and response.json()["IsFaulted"] is True


@pytest.mark.parametrize("index", ["²", "٣", HUGE, "-1"])
def test_odd_list_indexes_in_forms_are_400(client: TestClient, index: str) -> None:
    for form in (f"Items[{index}].Cost=1", f"Items[0].Cost=1&Items[{index}].Cost=2"):
        response = client.post(
            "/api/invoice/new", content=form, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert "Items" in fault_fields(response)


@pytest.mark.parametrize("value", [[], {}, [1, 2], {"for": "1s"}])
@pytest.mark.parametrize(
    ("path", "field"),
    [("/_mock/clock/advance", "seconds"), ("/_mock/deliveries/idle", "max"), ("/_mock/chaos", "delay")],
)
def test_durations_of_the_wrong_type_are_400(lenient: TestClient, path: str, field: str, value: Any) -> None:
    body = {"delay": {"seconds": value}} if field == "delay" else {field: value}
    response = lenient.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["IsFaulted"] is True


def test_huge_integers_in_json_are_400(client: TestClient) -> None:
    for raw in (b'{"Title": "x", "Id": ' + HUGE.encode() + b"}", HUGE.encode(), b"[" + HUGE.encode() + b"]"):
        response = client.post("/api/worktype/new", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert "digits" in response.text


@pytest.mark.parametrize("amount", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_in_control_bodies_are_400(
    client: TestClient, runtime: Runtime, ids: dict[str, int], amount: bytes
) -> None:
    before = snapshot(runtime)
    response = client.post(
        f"/_mock/invoice/{ids['invoice']}/pay",
        content=b'{"amount": ' + amount + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert snapshot(runtime) == before
    details = client.get("/api/invoice/details", params={"id": ids["invoice"]})
    assert details.status_code == 200 and b"NaN" not in details.content


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"TaxPercentage": 150}, "Items[0].TaxPercentage"),
        ({"TaxPercentage": -1}, "Items[0].TaxPercentage"),
        ({"DiscountPercentage": 100.5}, "Items[0].DiscountPercentage"),
    ],
)
def test_percentages_outside_0_to_100_are_400(
    client: TestClient, runtime: Runtime, ids: dict[str, int], item: dict[str, Any], field: str
) -> None:
    before = snapshot(runtime)
    body = {"Id": ids["invoice"], "Items": [{"Cost": 5, "Quantity": 1, **item}]}
    assert fault_fields(client.post("/api/invoice/update", json=body)) == [field]
    assert snapshot(runtime) == before


def test_a_payment_refused_for_its_gateway_records_nothing(
    client: TestClient, runtime: Runtime, ids: dict[str, int]
) -> None:
    before = snapshot(runtime)
    response = client.post(f"/_mock/invoice/{ids['invoice']}/mark-paid", json={"gateway": "nope"})
    assert response.status_code == 400
    assert snapshot(runtime) == before


def error_matrix(ids: dict[str, int], spec: Spec) -> list[tuple[str, str, dict[str, Any]]]:
    """Requests that must fail: garbage at every write, hostile control-plane calls."""
    matrix: list[tuple[str, str, dict[str, Any]]] = []
    for op in spec.operations:
        if op.method != "POST":
            continue
        existing = ids.get(op.resource or "invoice", ids["invoice"])
        path = op.path + (f"?orderId={existing}" if op.query else "")
        for body in GARBAGE:
            if isinstance(body, dict) and "Id" not in body:
                body = {**body, "Id": existing}
            matrix.append(("POST", path, {"json": body}))
        for media, raw in RAW_GARBAGE:
            matrix.append(("POST", path, {"content": raw, "headers": {"content-type": media}}))
    invoice = ids["invoice"]
    matrix += [
        ("POST", "/api/invoice/update", {"json": {"Id": invoice, "Status": "Void", "Items": [{"Cost": -1}]}}),
        ("POST", "/api/estimation/convert", {"json": {"Id": 1}}),
        ("POST", f"/_mock/invoice/{invoice}/pay", {"json": {"amount": -5}}),
        ("POST", f"/_mock/invoice/{invoice}/pay", {"json": {"amount": 10**9}}),
        ("POST", f"/_mock/invoice/{invoice}/pay", {"json": {"gateway": "nope", "amount": 1}}),
        ("POST", f"/_mock/invoice/{invoice}/mark-paid", {"json": {"gateway": "nope"}}),
        ("POST", f"/_mock/invoice/{invoice}/bogus", {}),
        ("POST", "/_mock/webhooks", {"json": {"Url": "ftp://x"}}),
        ("POST", "/_mock/webhooks", {"content": b'{"Url": "http://x/\\udc80"}'}),
        ("POST", "/_mock/chaos", {"json": {"duplicate": {"copies": -1}}}),
        ("POST", "/_mock/clock/advance", {"json": {"seconds": -1}}),
    ]
    return matrix


def test_every_failed_request_leaves_the_account_as_it_was(
    lenient: TestClient, runtime: Runtime, spec: Spec, ids: dict[str, int]
) -> None:
    lenient.post("/_mock/webhooks", json={"Url": "http://127.0.0.1:9/h"})
    checked = 0
    for method, path, kwargs in error_matrix(ids, spec):
        before = snapshot(runtime)
        response = lenient.request(method, path, **kwargs)
        if response.status_code < 400:
            continue  # some garbage is accepted as a no-op or a valid request; only failures count
        assert response.status_code < 500, f"{method} {path} {kwargs}: {response.text[:300]}"
        assert snapshot(runtime) == before, f"{method} {path} {kwargs} changed the account"
        checked += 1
    assert checked > 1000


def test_a_500_closes_the_connection(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from envoice_mock.api import handlers

    def boom(call: Any) -> Any:
        raise RuntimeError("engine bug")

    monkeypatch.setitem(handlers.ACTIONS, "reference", boom)
    with TestClient(create_app(runtime=runtime), headers=AUTH, raise_server_exceptions=False) as c:
        response = c.get("/api/general/countries")
    assert response.status_code == 500
    assert response.headers["connection"] == "close"
    assert response.json()["IsFaulted"] is True


CONTROL_GARBAGE = [
    b"NaN",
    b"1e999",
    b"1" * 5000,
    b'"\\ud800"',
    b"[]",
    b"{}",
    b"null",
    b"[1, 2]",
    b'"\xc2\xb2"',
    b'{"attempts": 1e999}',
    b'{"count": "\xc2\xb2"}',
    b'{"range": ["1e999s", "2s"]}',
    b'{"for": "NaNs"}',
    b'{"seconds": [1, 2]}',
    b'"infd"',
]


def test_control_plane_garbage_never_causes_a_500(lenient: TestClient, ids: dict[str, int]) -> None:
    invoice = ids["invoice"]
    paths = [
        "/_mock/clock/advance",
        "/_mock/deliveries/idle",
        "/_mock/deliveries/settle",
        "/_mock/webhooks",
        "/_mock/chaos",
        f"/_mock/invoice/{invoice}/pay",
        f"/_mock/invoice/{invoice}/mark-paid",
        "/_mock/scenarios/invoice-lifecycle/run",
    ]
    keys = ["seconds", "duration", "max", "flush", "Url", "Secret", "fail", "duplicate", "delay", "reorder"]
    keys += ["replay", "corrupt_signature", "gateway", "amount", "target", "seed"]
    for path in paths:
        for key in keys:
            for raw in CONTROL_GARBAGE:
                body = b'{"%s": %s}' % (key.encode(), raw)
                response = lenient.post(path, content=body, headers={"content-type": "application/json"})
                assert response.status_code < 500, f"{path} {body[:60]!r}: {response.text[:200]}"
