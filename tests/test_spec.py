"""Loading fixtures/: the route table, models, resources and reference data; malformed files fail fast."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from envoice_mock.api.handlers import ACTIONS
from envoice_mock.config import DEFAULT_FIXTURES
from envoice_mock.spec import RETURNS, Spec, SpecError, load_spec


@pytest.fixture
def fixtures_copy(tmp_path: Path) -> Path:
    """A writable copy of fixtures/ to break."""
    return Path(shutil.copytree(DEFAULT_FIXTURES, tmp_path / "fixtures"))


def test_route_table_has_61_operations(spec: Spec) -> None:
    assert len(spec.operations) == 61
    assert len({op.id for op in spec.operations}) == 61
    assert len({(op.method, op.path.lower()) for op in spec.operations}) == 61


def test_every_operation_has_a_known_action_and_return(spec: Spec) -> None:
    for op in spec.operations:
        assert op.action in ACTIONS, op.id
        assert op.returns in RETURNS, op.id
        assert op.method in ("GET", "POST"), op.id
        assert op.path.startswith("/api/"), op.id


def test_operations_follow_the_api_conventions(spec: Spec) -> None:
    by_id = {op.id: op for op in spec.operations}
    # reads are GETs with query parameters, writes are POSTs with a body
    for op in spec.operations:
        if op.method == "GET":
            assert op.body is None, op.id
        else:
            assert op.body is not None, op.id
    assert [p.names for p in by_id["worktype.details"].query] == [("workTypeId", "id")]
    assert [p.names for p in by_id["order.changeshippingdetails"].query] == [("orderId",)]
    paged = [op.id for op in spec.operations if op.action == "page"]
    assert sorted(paged) == ["estimation.all", "invoice.all", "order.all", "paymentlink.all", "product.all"]
    for op_id in paged:
        names = {n for p in by_id[op_id].query for n in p.names}
        assert {"queryOptions.page", "queryOptions.pageSize", "page", "pageSize"} <= names


def test_every_view_and_body_model_exists(spec: Spec) -> None:
    for op in spec.operations:
        if op.view:
            assert op.view in spec.models
        if op.body is not None and op.body.kind == "model":
            assert op.body.name in spec.models
        if op.resource:
            assert op.resource in spec.resources


def test_resources_status_transitions_use_enum_members(spec: Spec) -> None:
    for res in spec.resources.values():
        if not res.status:
            continue
        members = set(spec.enums[res.status["enum"]])
        for old, targets in res.status["transitions"].items():
            assert old in members
            assert set(targets) <= members
        assert res.defaults.get(res.status_field) in members


def test_activity_type_enum_is_in_the_documented_order(spec: Spec) -> None:
    types = spec.enums["ActivityType"]
    assert len(types) == 49
    assert types[:4] == ("Created", "Draft", "Cloned", "SentViaEmail")
    assert spec.enum_index("ActivityType", "Paid") == 11
    assert spec.enum_index("ActivityType", "OrderCreated") == 29
    assert spec.enum_index("ActivityType", "Void") == 34
    assert types[-1] == "InvoiceDigitallySigned"


def test_status_enums(spec: Spec) -> None:
    assert spec.enums["InvoiceStatus"] == ("Draft", "Paid", "Unpaid", "Overdue", "Void")
    assert spec.enums["EstimationStatus"] == ("Draft", "Accepted", "Rejected")
    assert spec.enums["ProductStatus"] == ("Active", "NotAvailable", "Inactive")
    assert spec.enums["OrderStatus"][0] == "PendingPayment"
    assert len(spec.enums["OrderStatus"]) == 8


# --- reference data ------------------------------------------------------------------------


def test_countries(spec: Spec) -> None:
    countries = {c["Id"]: c for c in spec.reference["countries"]}
    assert len(countries) == len(spec.reference["countries"]) == 249
    assert countries[235]["Value"] == "GB"
    assert "United Kingdom" in countries[235]["Name"]
    assert countries[237]["Value"] == "US"
    assert "United States" in countries[237]["Name"]
    assert all(set(c) == {"Id", "Name", "Value"} for c in countries.values())


def test_currencies(spec: Spec) -> None:
    currencies = {c["Id"]: c for c in spec.reference["currencies"]}
    assert len(currencies) == 32
    assert currencies[163] == {
        "Id": 163,
        "Name": "Euro Member Countries",
        "Value": "EUR",
        "Symbol": "€",
        "Code": "EUR",
    }
    assert currencies[170]["Code"] == "GBP"
    assert currencies[170]["Symbol"] == "£"
    assert currencies[170]["Name"] == "United Kingdom Pound"


def test_ui_languages(spec: Spec) -> None:
    languages = {lang["Id"]: lang for lang in spec.reference["uilanguages"]}
    assert len(languages) == 12
    assert languages[1] == {"Id": 1, "Name": "English", "UiCulture": "en-US"}
    assert languages[3] == {"Id": 3, "Name": "German", "UiCulture": "de-DE"}


def test_payment_gateways(spec: Spec) -> None:
    gateways = {g["Name"]: g for g in spec.reference["gateways"]}
    assert {"paypal", "stripe", "payoneer", "square", "klikandpay"} <= set(gateways)
    assert [c["Value"] for c in gateways["payoneer"]["SupportedCurrencies"]] == ["EUR", "GBP", "USD", "AUD"]
    assert [c["Value"] for c in gateways["klikandpay"]["SupportedCurrencies"]] == ["EUR"]
    currency_codes = {c["Value"] for c in spec.reference["currencies"]}
    for gateway in gateways.values():
        assert {c["Value"] for c in gateway["SupportedCurrencies"]} <= currency_codes


def test_date_formats_are_strings(spec: Spec) -> None:
    assert spec.reference["dateformats"]
    assert all(isinstance(f, str) for f in spec.reference["dateformats"])
    assert "dd/MM/yyyy" in spec.reference["dateformats"]


def test_seed_fixture_refers_to_existing_reference_ids(spec: Spec) -> None:
    ids = {t: {row["Id"] for row in spec.reference[t]} for t in ("countries", "currencies", "uilanguages")}
    assert set(spec.seed["client_currencies"]) <= ids["currencies"]
    assert set(spec.seed["client_countries"]) <= ids["countries"]
    assert set(spec.seed["client_languages"]) <= ids["uilanguages"]


# --- malformed fixtures --------------------------------------------------------------------


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_copy_of_the_fixtures_loads(fixtures_copy: Path) -> None:
    assert len(load_spec(fixtures_copy).operations) == 61


@pytest.mark.parametrize(
    ("filename", "old", "new", "expected"),
    [
        ("routes.yaml", "operations:", "operations: [unclosed", "not valid YAML"),
        ("routes.yaml", "action: list, resource: client", "action: teleport, resource: client", "teleport"),
        ("routes.yaml", "resource: client, view: ClientDetails}", "resource: nobody, view: X}", "nobody"),
        (
            "routes.yaml",
            "method: GET, path: /api/client/all",
            "method: PUT, path: /api/client/all",
            "GET or POST",
        ),
        ("routes.yaml", "returns: bool}", "returns: maybe}", "maybe"),
        ("routes.yaml", "view: ClientDetails}", "view: NoSuchModel}", "NoSuchModel"),
        ("routes.yaml", "/api/client/candelete", "/api/client/all", "declared twice"),
        ("routes.yaml", "table: countries}", "table: planets}", "planets"),
        ("models.yaml", "    Email: string\n", "    Email: strnig\n", "strnig"),
        ("models.yaml", "  AdditionalEmail:\n    Email: string", "  AdditionalEmail: 7", "AdditionalEmail"),
        ("resources.yaml", "worktype: {}", "worktype: {colour: blue}", "colour"),
        ("resources.yaml", "ClientId: client\n", "ClientId: customers\n", "customers"),
        ("reference/countries.yaml", '- {Id: 1, Name: "Afghanistan"', '- {Id: 1, Name: "Afghanistan', ""),
    ],
)
def test_a_malformed_fixture_fails_naming_the_file(
    fixtures_copy: Path, filename: str, old: str, new: str, expected: str
) -> None:
    _replace(fixtures_copy / filename, old, new)
    with pytest.raises(SpecError) as caught:
        load_spec(fixtures_copy)
    message = str(caught.value)
    assert Path(filename).name in message
    assert str(fixtures_copy) in message
    assert expected in message


def test_a_missing_fixture_fails_naming_the_file(fixtures_copy: Path) -> None:
    (fixtures_copy / "routes.yaml").unlink()
    with pytest.raises(SpecError, match=r"routes\.yaml: file not found"):
        load_spec(fixtures_copy)


def test_an_operation_without_an_action_is_refused(fixtures_copy: Path) -> None:
    _replace(fixtures_copy / "routes.yaml", "action: list, resource: client,", "resource: client,")
    with pytest.raises(SpecError, match=r"routes\.yaml: operation client\.all: missing 'action'"):
        load_spec(fixtures_copy)


def test_spec_error_is_a_value_error() -> None:
    assert issubclass(SpecError, ValueError)


# --- unknown keys and lines ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "old", "new", "expected", "line"),
    [
        (  # a misspelt `activity:` is an error, not silently ignored
            "routes.yaml",
            "activity: EstimationSentViaEmail}",
            "activty: EstimationSentViaEmail}",
            "unknown key 'activty'",
            60,
        ),
        ("routes.yaml", "activity: EstimationSentViaEmail}", "activity: Teleported}", "Teleported", 60),
        (
            "routes.yaml",
            "action: list, resource: client",
            "action: teleport, resource: client",
            "teleport",
            31,
        ),
        ("routes.yaml", "resource: client, view: ClientDetails}", "resource: nobody, view: X}", "nobody", 31),
        ("resources.yaml", "worktype: {}", "worktype: {colour: blue}", "colour", 17),
        ("models.yaml", "    Email: string\n", "    Email: strnig\n", "strnig", 21),
        ("seed.yaml", "invoice_fates: {Paid: 5,", "invoice_fates: {Payed: 5,", "'Payed'", 24),
        (
            "seed.yaml",
            "Completed: {weight: 2, via: [Shipped]}",
            "Completed: {weight: 2, via: [Shiped]}",
            "Shiped",
            34,
        ),
        ("seed.yaml", "history_days:", "histroy_days:", "histroy_days", 5),
        ("seed.yaml", "estimation_fates:", "estimation_fate:", "estimation_fate", 27),
        ("seed.yaml", "gateway_sets: [[paypal]", "gateway_sets: [] #", "missing 'gateway_sets'", 4),
        ("payments.yaml", "paypal: {payment_type: Paypal,", "paypal: {payment_type: PayPal,", "PayPal", 4),
        ("payments.yaml", 'label: "PayPal"}', 'lable: "PayPal"}', "lable", 4),
        ("accounts.yaml", "  - key: sandbox-key\n", "  - key: sandbox-key\n    secert: x\n", "secert", 6),
        ("activities.yaml", "  open: {invoice: Opened,", "  open: {invoice: Openned,", "Openned", 46),
        ("activities.yaml", "  Opened: ", "  Opend: ", "'Opend'", 12),
    ],
)
def test_a_fixture_error_names_the_file_and_the_line(
    fixtures_copy: Path, filename: str, old: str, new: str, expected: str, line: int
) -> None:
    _replace(fixtures_copy / filename, old, new)
    with pytest.raises(SpecError) as caught:
        load_spec(fixtures_copy)
    message = str(caught.value)
    assert str(fixtures_copy / filename) in message
    assert expected in message
    assert f"(line {line})" in message


def test_order_fates_follow_the_transitions_of_resources_yaml(spec: Spec) -> None:
    from envoice_mock.domain.seeding import order_routes

    routes = order_routes(spec.resources["order"], spec.seed["order_fates"])
    assert routes["PendingPayment"] == []
    assert routes["Completed"] == ["Processing", "Shipped", "Completed"]
    assert routes["Refunded"] == ["Processing", "Completed", "Refunded"]
    for route in routes.values():
        for old, new in zip(["PendingPayment", *route], route, strict=False):
            assert spec.resources["order"].can_transition(old, new)


def test_every_gateway_has_a_payment_type_and_a_label(spec: Spec) -> None:
    names = {g["Name"] for g in spec.reference["gateways"]}
    assert set(spec.gateway_payments) == names
    for entry in spec.gateway_payments.values():
        assert f"NewPaymentWith{entry['payment_type']}" in spec.enums["ActivityType"]


def test_webhook_fields_come_from_the_fixtures(spec: Spec) -> None:
    assert spec.webhook_fields == (
        "Message",
        "Link",
        "Type",
        "InvoiceNumber",
        "InvoiceId",
        "OrderNumber",
        "OrderId",
        "Id",
        "CreatedOn",
    )


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        (
            "webhook_fields: [Message, Link, Message]",
            r"activities.yaml: webhook_fields: 'Message' is not a distinct field name \(line \d+\)",
        ),
        ("webhook_fields: [Message, 3]", r"webhook_fields: 3 is not a distinct field name"),
        ("webhook_fields: []", r"activities.yaml: missing 'webhook_fields'"),
    ],
)
def test_webhook_fields_are_checked(fixtures_copy: Path, listed: str, message: str) -> None:
    path = fixtures_copy / "activities.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("webhook_fields:")
    path.write_text(text[:start] + listed + "\n", encoding="utf-8")
    with pytest.raises(SpecError, match=message):
        load_spec(fixtures_copy)
