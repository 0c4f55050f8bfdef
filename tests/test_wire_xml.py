"""XML both ways: lists of zero and one, with or without the DataContract namespace; an empty root
reads as an empty object; what the mock answers in XML it accepts back; answers are always XML."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import pytest
from starlette.testclient import TestClient

from envoice_mock.api.codecs import decode_xml, encode_xml
from envoice_mock.domain.schema import Coercer, FieldError
from envoice_mock.runtime.wiring import Runtime
from envoice_mock.spec import Spec, TypeRef

DATACONTRACT = (
    ' xmlns="http://schemas.datacontract.org/2004/07/Envoice.Api.Models"'
    ' xmlns:i="http://www.w3.org/2001/XMLSchema-instance"'
)
XML = {"Content-Type": "application/xml", "Accept": "application/xml"}
SAMPLE = {
    "int": "7",
    "long": "7",
    "number": "1.5",
    "string": "x",
    "bool": "true",
    "datetime": "2024-01-31T15:19:52+01:00",
}


def request_models(spec: Spec) -> list[str]:
    """Every model a request body can carry, nested ones included."""
    seen: list[str] = []

    def visit(t: TypeRef) -> None:
        t = t.item or t
        if t.kind == "model" and t.name not in seen:
            seen.append(t.name)
            for field in spec.models[t.name].fields.values():
                visit(field)

    for op in spec.operations:
        if op.body is not None:
            visit(op.body)
    return seen


def list_fields(spec: Spec) -> list[tuple[str, str, TypeRef]]:
    """(model, field, item type) for every list field of every request model."""
    return [
        (model, name, t.item)
        for model in request_models(spec)
        for name, t in spec.models[model].fields.items()
        if t.kind == "list" and t.item is not None
    ]


def one_item(spec: Spec, t: TypeRef) -> tuple[str, Any]:
    """An XML child for one item of type `t`, and what it should coerce to."""
    if t.kind == "scalar":
        coerced = Coercer(spec).value(t, SAMPLE[t.name], "", [])
        return f"<{t.name}>{SAMPLE[t.name]}</{t.name}>", coerced
    if t.kind == "enum":
        return f"<{t.name}>{spec.enums[t.name][0]}</{t.name}>", spec.enums[t.name][0]
    return f"<{t.name}ApiModel/>", {}


def coerce_xml(spec: Spec, model: str, text: str) -> tuple[dict[str, Any], list[FieldError]]:
    errors: list[FieldError] = []
    value = Coercer(spec).model(model, decode_xml(text), "", errors)
    return value, errors


def test_every_request_model_has_list_fields_to_check(spec: Spec) -> None:
    fields = list_fields(spec)
    assert len(fields) >= 20
    assert ("InvoiceCreate", "Items") in {(m, f) for m, f, _ in fields}


@pytest.mark.parametrize("namespace", ["", DATACONTRACT], ids=["plain", "datacontract"])
def test_lists_of_zero_one_and_two_read_for_every_list_field(spec: Spec, namespace: str) -> None:
    for model, field, item in list_fields(spec):
        child, expected = one_item(spec, item)
        for body, want in (
            (f"<{field}/>", []),
            (f"<{field}></{field}>", []),
            (f"<{field}>{child}</{field}>", [expected]),
            (f"<{field}>{child}{child}</{field}>", [expected, expected]),
        ):
            value, errors = coerce_xml(spec, model, f"<{model}ApiModel{namespace}>{body}</{model}ApiModel>")
            assert errors == [], f"{model}.{field}: {body}"
            assert value == {field: want}, f"{model}.{field}: {body}"


def test_a_list_of_one_takes_any_item_tag_and_prefixed_namespaces(spec: Spec) -> None:
    text = (
        '<a:InvoiceCreateApiModel xmlns:a="http://schemas.datacontract.org/2004/07/Envoice">'
        "<a:Items><a:InvoiceItemApiModel><a:Cost>5</a:Cost><a:Quantity>2</a:Quantity>"
        "</a:InvoiceItemApiModel></a:Items>"
        "<a:PaymentGateways><a:Item><a:Name>paypal</a:Name></a:Item></a:PaymentGateways>"
        "</a:InvoiceCreateApiModel>"
    )
    value, errors = coerce_xml(spec, "InvoiceCreate", text)
    assert errors == []
    assert value == {"Items": [{"Cost": 5.0, "Quantity": 2.0}], "PaymentGateways": [{"Name": "paypal"}]}


def test_text_where_a_list_belongs_is_still_refused(spec: Spec) -> None:
    _, errors = coerce_xml(spec, "InvoiceCreate", "<X><Items>lots</Items></X>")
    assert [(e.field, e.message) for e in errors] == [("Items", "must be a list")]


def test_json_objects_are_not_mistaken_for_lists(client: TestClient) -> None:
    r = client.post("/api/invoice/update", json={"Id": 1, "Items": {"Cost": 5}})
    assert r.status_code == 400
    assert r.json()["ErrorMessages"][0]["FaultMessage"] == "Items: must be a list"


def _invoice_xml(client: TestClient, namespace: str, items: str) -> str:
    worktype = client.post("/api/worktype/new", json={"Title": "XML work"}).json()
    customer = client.get("/api/client/all").json()[0]["Id"]
    return (
        f"<InvoiceCreateApiModel{namespace}><ClientId>{customer}</ClientId><Number>X-{namespace != ''}-{len(items)}</Number>"
        "<IssuedOn>2024-03-01T00:00:00Z</IssuedOn><Duedate>2024-03-31T00:00:00Z</Duedate>"
        "<CurrencyId>163</CurrencyId><PaymentGateways><InvoiceGatewayApiModel><Name>stripe</Name>"
        f"</InvoiceGatewayApiModel></PaymentGateways><Items>{items.format(worktype=worktype)}</Items>"
        "</InvoiceCreateApiModel>"
    )


@pytest.mark.parametrize("namespace", ["", DATACONTRACT], ids=["plain", "datacontract"])
def test_an_invoice_with_one_item_posts_as_xml(client: TestClient, namespace: str) -> None:
    item = "<InvoiceItemApiModel><WorkTypeId>{worktype}</WorkTypeId><Cost>100</Cost><Quantity>2</Quantity></InvoiceItemApiModel>"
    r = client.post("/api/invoice/new", content=_invoice_xml(client, namespace, item), headers=XML)
    assert r.status_code == 200, r.text
    answer = ElementTree.fromstring(r.content)
    assert answer.findtext("TotalAmount") == "200.0"
    assert len(answer.find("Items")) == 1
    assert [g.findtext("Name") for g in answer.find("PaymentGateways")] == ["stripe"]


def test_an_invoice_with_no_items_gets_the_required_error_not_a_type_error(client: TestClient) -> None:
    r = client.post("/api/invoice/new", content=_invoice_xml(client, DATACONTRACT, ""), headers=XML)
    assert r.status_code == 400
    messages = [e.findtext("FaultMessage") for e in ElementTree.fromstring(r.content).find("ErrorMessages")]
    assert messages == ["Items: is required"]


def model_body_operations(spec: Spec) -> list[str]:
    return [op.path for op in spec.operations if op.body is not None and op.body.kind == "model"]


def test_an_empty_root_gets_the_same_errors_as_an_empty_json_object(client: TestClient, spec: Spec) -> None:
    paths = model_body_operations(spec)
    assert len(paths) >= 25
    for path in paths:
        as_json = client.post(path, json={})
        for empty in ("<WorkTypeUpdateApiModel/>", f"<X{DATACONTRACT}></X>", "<X>  </X>"):
            as_xml = client.post(path, content=empty, headers={"Content-Type": "application/xml"})
            assert (as_xml.status_code, as_xml.json()) == (as_json.status_code, as_json.json()), (path, empty)
        if as_json.status_code == 400:
            assert "must be a JSON object" not in as_json.text


# --- round trip: what the mock answers in XML, it accepts back -----------------------------------


def _xml_get(client: TestClient, path: str, **params: Any) -> bytes:
    r = client.get(path, params=params, headers={"Accept": "application/xml"})
    assert r.status_code == 200, r.text
    return r.content


def _first_id(client: TestClient, path: str) -> int:
    body = client.get(path, params={"pageSize": 100}).json()
    rows = body["Result"] if isinstance(body, dict) else body
    return int(rows[0]["Id"])


def _first_item(xml: bytes) -> bytes:
    root = ElementTree.fromstring(xml)
    items = root.find("Result") if root.find("Result") is not None else root
    return ElementTree.tostring(items[0], encoding="utf-8")


def _subtree(xml: bytes, tag: str) -> bytes:
    found = ElementTree.fromstring(xml).find(tag)
    assert found is not None
    return ElementTree.tostring(found, encoding="utf-8")


Trip = Callable[[TestClient], tuple[bytes, str, str | None]]


def details_of(kind: str, target: str) -> Trip:
    """Read one `kind` as XML from its details; post it to `target`; compare details when updating."""

    def trip(c: TestClient) -> tuple[bytes, str, str | None]:
        read = f"/api/{kind}/details"
        body = _xml_get(c, read, id=_first_id(c, f"/api/{kind}/all"))
        return body, target, read if target.endswith("update") else None

    return trip


# (name, how to read one object as XML, where to post it, the JSON read to compare before/after)
ROUND_TRIPS: list[tuple[str, Trip]] = [
    ("client", details_of("client", "/api/client/update")),
    ("worktype", details_of("worktype", "/api/worktype/update")),
    ("tax", lambda c: (_first_item(_xml_get(c, "/api/tax/all")), "/api/tax/update", None)),
    ("product", details_of("product", "/api/product/update")),
    ("invoice", details_of("invoice", "/api/invoice/update")),
    ("estimation", details_of("estimation", "/api/estimation/update")),
    (
        "category",
        lambda c: (
            _first_item(_xml_get(c, "/api/invoice/allcategories")),
            "/api/invoice/updatecategory",
            None,
        ),
    ),
    (
        "order shipping",
        lambda c: (
            _subtree(
                _xml_get(c, "/api/order/details", id=_first_id(c, "/api/order/all")), "OrderShippingDetails"
            ),
            f"/api/order/changeshippingdetails?orderId={_first_id(c, '/api/order/all')}",
            None,
        ),
    ),
    (
        "payment link",
        lambda c: (_first_item(_xml_get(c, "/api/paymentlink/all")), "/api/paymentlink/delete", None),
    ),
    ("client as new", details_of("client", "/api/client/new")),
    ("worktype as new", details_of("worktype", "/api/worktype/new")),
    ("product as new", details_of("product", "/api/product/new")),
]


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "Activities"}


@pytest.mark.parametrize("style", ["int", "string"])
@pytest.mark.parametrize(("name", "trip"), ROUND_TRIPS, ids=[n for n, _ in ROUND_TRIPS])
def test_xml_answers_post_back_unchanged(client: TestClient, name: str, trip: Trip, style: str) -> None:
    client.headers["x-mock-enum-style"] = style
    body, target, read = trip(client)
    obj_id = ElementTree.fromstring(body).findtext("Id")
    before = client.get(read, params={"id": obj_id}).json() if read else None
    r = client.post(target, content=body, headers={"Content-Type": "application/xml"})
    assert r.status_code in (200, 204), f"{name}: {r.text}"
    if read:
        after = client.get(read, params={"id": obj_id}).json()
        assert _comparable(after) == _comparable(before)


NUMBERED = [
    ("invoice", "/api/invoice/details", "/api/invoice/new"),
    ("estimation", "/api/estimation/details", "/api/estimation/new"),
    ("paymentlink", None, "/api/paymentlink/new"),
]


@pytest.mark.parametrize(("kind", "read", "target"), NUMBERED, ids=[k for k, _, _ in NUMBERED])
def test_a_numbered_document_posts_back_as_new_once_its_number_is_free(
    client: TestClient, kind: str, read: str | None, target: str
) -> None:
    """Posted back as new, the XML is read in full: the only objection is the number already taken.
    (Details answers carry the client and currency as objects; the create model wants their ids.)"""
    first = _first_id(client, f"/api/{kind}/all")
    xml = _xml_get(client, read, id=first) if read else _first_item(_xml_get(client, f"/api/{kind}/all"))
    tree = ElementTree.fromstring(xml)
    for ref, nested in (("ClientId", "Client/Id"), ("CurrencyId", "Currency/Id")):
        if tree.find(ref) is None:
            ElementTree.SubElement(tree, ref).text = tree.findtext(nested)
    xml = ElementTree.tostring(tree)
    refused = client.post(target, content=xml, headers={"Content-Type": "application/xml"})
    assert refused.status_code == 400
    assert [e["Code"] for e in refused.json()["ErrorMessages"]] == ["NotUnique"]
    root = ElementTree.fromstring(xml)
    number = root.find("Number")
    assert number is not None and number.text
    number.text += "-COPY"
    copy = client.post(
        target, content=ElementTree.tostring(root), headers={"Content-Type": "application/xml"}
    )
    assert copy.status_code == 200, copy.text


def test_an_order_posts_back_as_a_new_order(client: TestClient) -> None:
    order_id = _first_id(client, "/api/order/all")
    xml = _xml_get(client, "/api/order/details", id=order_id)
    r = client.post("/api/order/new", content=xml, headers={"Content-Type": "application/xml"})
    assert r.status_code == 200, r.text
    original = client.get("/api/order/details", params={"id": order_id}).json()
    copy = client.get("/api/order/details", params={"id": r.json()}).json()
    for field in ("Name", "TotalAmount", "TotalWithShipping", "OrderBillingDetails", "OrderShippingDetails"):
        assert copy[field] == original[field], field
    assert copy["Id"] != original["Id"]


def test_answers_never_carry_characters_xml_cannot(client: TestClient, runtime: Runtime) -> None:
    account = runtime.store.accounts["sandbox-key"]
    worktype = next(iter(account.table("worktype").values()))
    worktype["Title"] = "bell\x07 nul\x00 \ud800 \ufffe tab\there"  # as if stored before input checks
    account.version += 1
    r = client.get(
        "/api/worktype/details", params={"id": worktype["Id"]}, headers={"Accept": "application/xml"}
    )
    title = ElementTree.fromstring(r.content).findtext("Title")
    assert title == "bell\ufffd nul\ufffd \ufffd \ufffd tab\there"


def test_encode_xml_always_makes_well_formed_xml() -> None:
    odd = {"1st": 1, "xml": 2, "a b": [None, True, "<&>"], "ok": {"Nested": "\x1b"}}
    parsed = ElementTree.fromstring(encode_xml(odd))
    assert [child.tag for child in parsed] == ["_1st", "_xml", "a_b", "ok"]
    assert parsed.find("ok/Nested").text == "\ufffd"
