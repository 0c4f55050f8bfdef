"""Contract: a realistic call of every operation of the reference spec, its answer validated against
the operation's documented 200/204 response schema (skips where the reference spec is absent).

The description lists enums by name, so the calls run with `--enum-style string`; the same calls
against the default (`int`) are validated against the description with every enum replaced by
the range of its indexes."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.config import Settings
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.spec import Spec

from .helpers import AUTH, START

GB, US, EUR, GBP, ENGLISH = 235, 237, 163, 170, 1


def _settings(**changes: Any) -> Settings:
    return Settings(
        clock_start=START, clock_speed=0.0, retry_schedule=(1, 2, 4), probe_interval=10.0, **changes
    )


@pytest.fixture(scope="module")
def runtime(spec: Spec) -> Runtime:
    """One runtime for the module, enums by name as the description lists them; every call works
    on objects of its own."""
    return build_runtime(_settings(enum_style="string"), spec=spec)


@pytest.fixture(scope="module")
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime), headers=AUTH) as c:
        yield c


@pytest.fixture(scope="module")
def int_runtime(spec: Spec) -> Runtime:
    """A runtime with the default enum style (indexes)."""
    assert Settings().enum_style == "int"
    return build_runtime(_settings(), spec=spec)


@pytest.fixture(scope="module")
def int_client(int_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=int_runtime), headers=AUTH) as c:
        yield c


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


NUMBERS = itertools.count(1)


class Objects:
    """Makes realistic objects through the API, each call a new one."""

    def __init__(self, client: TestClient) -> None:
        self.c = client

    def worktype(self) -> int:
        return ok(self.c.post("/api/worktype/new", json={"Title": "Contract testing"}))

    def tax(self) -> int:
        return ok(self.c.post("/api/tax/new", json={"Name": "VAT standard", "Percentage": 20}))

    def customer(self) -> int:
        return ok(
            self.c.post(
                "/api/client/new",
                json={
                    "Name": "Contoso Ltd",
                    "Email": "ap@contoso.test",
                    "ClientCurrencyId": GBP,
                    "ClientCountryId": GB,
                    "UiLanguageId": ENGLISH,
                    "Address": "1 Contract Lane, London",
                    "PhoneNumber": "+44 20 7946 0001",
                    "Vat": "GB999999973",
                    "CompanyRegistrationNumber": "01234567",
                    "DefaultDueDateInDays": 30,
                    "AdditionalEmails": [{"Email": "cfo@contoso.test"}],
                },
            )
        )

    def category(self) -> dict[str, Any]:
        return ok(self.c.post("/api/invoice/newcategory", json={"Name": "Projects"}))

    def items(self) -> list[dict[str, Any]]:
        worktype, tax = self.worktype(), self.tax()
        return [
            {"WorkTypeId": worktype, "Description": "Audit", "Cost": 120, "Quantity": 7.5, "TaxId": tax},
            {
                "WorkTypeId": worktype,
                "Cost": 19.99,
                "Quantity": 3,
                "DiscountPercentage": 10,
                "TaxPercentage": 21,
            },
        ]

    def invoice_body(self) -> dict[str, Any]:
        return {
            "ClientId": self.customer(),
            "Number": f"CT-INV-{next(NUMBERS)}",  # unique per account
            "IssuedOn": "2024-03-01T12:00:00+01:00",
            "Duedate": "2024-03-31T12:00:00+01:00",
            "Status": "Draft",
            "CurrencyId": GBP,
            "InvoiceCategoryId": self.category()["Id"],
            "PoNumber": "PO-42",
            "Notes": "Thank you.",
            "Terms": "Net 30",
            "ShouldSendReminders": True,
            "PaymentGateways": [{"Name": "paypal"}, {"Name": "stripe"}],
            "Attachments": [
                {
                    "Link": "https://files.test/a.pdf",
                    "OriginalFileName": "a.pdf",
                    "Size": 1024,
                    "Type": "External",
                }
            ],
            "RecurringProfile": {
                "Title": "Monthly retainer",
                "RecurrancePattern": "Monthly",
                "RecurranceValue": 1,
                "DayOfMonth": 1,
                "DayOfWeek": "Monday",
                "DueDateInDays": 15,
                "StartOfRecurrance": "2024-03-01T00:00:00Z",
                "Status": "Active",
            },
            "Items": self.items(),
        }

    def invoice(self) -> dict[str, Any]:
        return ok(self.c.post("/api/invoice/new", json=self.invoice_body()))

    def paid_invoice(self) -> dict[str, Any]:
        invoice = self.invoice()
        assert (
            ok(self.c.post("/api/invoice/changestatus", json={"Id": invoice["Id"], "Status": "Paid"})) is True
        )
        return invoice

    def estimation_body(self) -> dict[str, Any]:
        return {
            "ClientId": self.customer(),
            "Number": f"CT-EST-{next(NUMBERS)}",
            "IssuedOn": "2024-03-01T12:00:00Z",
            "ExpiresOn": "2024-04-01T12:00:00Z",
            "CurrencyId": EUR,
            "Status": "Draft",
            "PoNumber": "PO-43",
            "Notes": "Quote",
            "Terms": "Valid 30 days",
            "PaymentGateways": [{"Name": "stripe"}],
            "Attachments": [
                {
                    "Link": "https://files.test/q.pdf",
                    "OriginalFileName": "q.pdf",
                    "Size": 2048,
                    "Type": "Uploaded",
                }
            ],
            "Items": self.items(),
        }

    def estimation(self) -> dict[str, Any]:
        return ok(self.c.post("/api/estimation/new", json=self.estimation_body()))

    def product_body(self) -> dict[str, Any]:
        return {
            "Name": "Brand workshop",
            "Description": "Half a day.",
            "CurrencyId": GBP,
            "Status": "Active",
            "IsFeatured": True,
            "ButtonCallToAction": "Book now",
            "ShippingAmount": 4.5,
            "ShippingDescription": "By post",
            "AfterPaymentDescription": "We will be in touch.",
            "WhatHappensNextDescription": "Scheduling.",
            "PaymentGateways": [{"Name": "stripe"}],
            "Coupons": [{"Code": "SPRING", "DiscountPercentage": 10, "ValidUntil": "2024-06-01T00:00:00Z"}],
            "Discounts": [
                {
                    "Name": "Early bird",
                    "DiscountAmount": 20,
                    "ValidFrom": "2024-03-01T00:00:00Z",
                    "ValidTo": "2024-04-01T00:00:00Z",
                }
            ],
            "Items": [
                {
                    "WorkTypeId": self.worktype(),
                    "Description": "Workshop",
                    "Cost": 450,
                    "MinimumQuantity": 1,
                    "ReferenceId": "SKU-1",
                    "TaxPercentage": 20,
                }
            ],
        }

    def product(self) -> int:
        return ok(self.c.post("/api/product/new", json=self.product_body()))

    def order_body(self) -> dict[str, Any]:
        buyer = {
            "Name": "Jane Buyer",
            "Email": "jane@example.test",
            "Address": "1 Main St",
            "PhoneNumber": "555-0100",
            "CountryId": US,
        }
        return {
            "Name": "Brand workshop",
            "ProductId": self.product(),
            "CurrencyId": GBP,
            "Description": "One seat",
            "Note": "Vegetarian lunch",
            "CouponCode": "SPRING",
            "Referral": "newsletter",
            "DiscountAmount": 10,
            "ShippingAmount": 4.5,
            "Status": "PendingPayment",
            "OrderBillingDetails": buyer,
            "OrderShippingDetails": buyer,
            "Items": [
                {
                    "Description": "Workshop seat",
                    "Cost": 450,
                    "Quantity": 1,
                    "TaxPercentage": 20,
                    "ReferenceId": "SKU-1",
                }
            ],
        }

    def order(self) -> int:
        return ok(self.c.post("/api/order/new", json=self.order_body()))

    def paymentlink(self) -> int:
        return ok(
            self.c.post(
                "/api/paymentlink/new",
                json={"ClientId": self.customer(), "CurrencyId": GBP, "Items": self.items()},
            )
        )


Call = Callable[[TestClient, Objects], Any]

CALLS: dict[tuple[str, str], Call] = {
    # clients
    ("get", "/api/client/all"): lambda c, o: c.get("/api/client/all"),
    ("get", "/api/client/candelete"): lambda c, o: c.get(
        "/api/client/candelete", params={"id": o.customer()}
    ),
    ("post", "/api/client/delete"): lambda c, o: c.post("/api/client/delete", json={"Id": o.customer()}),
    ("get", "/api/client/details"): lambda c, o: c.get("/api/client/details", params={"id": o.customer()}),
    ("post", "/api/client/new"): lambda c, o: c.post(
        "/api/client/new",
        json={
            "Name": "New Co",
            "Email": "n@co.test",
            "ClientCurrencyId": EUR,
            "ClientCountryId": US,
            "UiLanguageId": 3,
        },
    ),
    ("post", "/api/client/update"): lambda c, o: c.post(
        "/api/client/update", json={"Id": o.customer(), "Name": "Contoso Group", "DefaultDueDateInDays": 45}
    ),
    # estimations
    ("get", "/api/estimation/all"): lambda c, o: c.get(
        "/api/estimation/all", params={"queryOptions.page": 1, "queryOptions.pageSize": 10}
    ),
    ("post", "/api/estimation/changestatus"): lambda c, o: c.post(
        "/api/estimation/changestatus", json={"Id": o.estimation()["Id"], "Status": "Accepted"}
    ),
    ("post", "/api/estimation/convert"): lambda c, o: c.post(
        "/api/estimation/convert", json=o.estimation()["Id"]
    ),
    ("post", "/api/estimation/delete"): lambda c, o: c.post(
        "/api/estimation/delete", json={"Id": o.estimation()["Id"]}
    ),
    ("get", "/api/estimation/details"): lambda c, o: c.get(
        "/api/estimation/details", params={"id": o.estimation()["Id"]}
    ),
    ("post", "/api/estimation/new"): lambda c, o: c.post("/api/estimation/new", json=o.estimation_body()),
    ("post", "/api/estimation/sendtoclient"): lambda c, o: c.post(
        "/api/estimation/sendtoclient",
        json={
            "Id": o.estimation()["Id"],
            "Subject": "Your quote",
            "Message": "Hello",
            "AttachPdf": True,
            "SendToSelf": False,
        },
    ),
    ("get", "/api/estimation/status"): lambda c, o: c.get(
        "/api/estimation/status", params={"id": o.estimation()["Id"]}
    ),
    ("post", "/api/estimation/update"): lambda c, o: c.post(
        "/api/estimation/update",
        json={"Id": o.estimation()["Id"], "Terms": "Valid 14 days", "Status": "Rejected"},
    ),
    ("get", "/api/estimation/uri"): lambda c, o: c.get(
        "/api/estimation/uri", params={"id": o.estimation()["Id"]}
    ),
    # reference data
    ("get", "/api/general/countries"): lambda c, o: c.get("/api/general/countries"),
    ("get", "/api/general/currencies"): lambda c, o: c.get("/api/general/currencies"),
    ("get", "/api/general/dateformats"): lambda c, o: c.get("/api/general/dateformats"),
    ("get", "/api/general/uilanguages"): lambda c, o: c.get("/api/general/uilanguages"),
    ("get", "/api/payment/supported"): lambda c, o: c.get("/api/payment/supported"),
    # invoices
    ("get", "/api/invoice/all"): lambda c, o: c.get(
        "/api/invoice/all", params={"queryOptions.page": 1, "queryOptions.pageSize": 50}
    ),
    ("get", "/api/invoice/allcategories"): lambda c, o: c.get(
        "/api/invoice/allcategories", params={"query": "e"}
    ),
    ("post", "/api/invoice/changestatus"): lambda c, o: c.post(
        "/api/invoice/changestatus", json={"Id": o.invoice()["Id"], "Status": "Unpaid"}
    ),
    ("post", "/api/invoice/delete"): lambda c, o: c.post(
        "/api/invoice/delete", json={"Id": o.invoice()["Id"]}
    ),
    ("post", "/api/invoice/deletecategory"): lambda c, o: c.post(
        "/api/invoice/deletecategory", json={"Id": o.category()["Id"]}
    ),
    ("get", "/api/invoice/details"): lambda c, o: c.get(
        "/api/invoice/details", params={"id": o.paid_invoice()["Id"]}
    ),
    ("post", "/api/invoice/new"): lambda c, o: c.post("/api/invoice/new", json=o.invoice_body()),
    ("post", "/api/invoice/newcategory"): lambda c, o: c.post(
        "/api/invoice/newcategory", json={"Name": "Licences"}
    ),
    ("get", "/api/invoice/pdf"): lambda c, o: c.get(
        "/api/invoice/pdf", params={"id": o.invoice()["Id"], "signedVersion": "true"}
    ),
    ("post", "/api/invoice/sendtoaccountant"): lambda c, o: c.post(
        "/api/invoice/sendtoaccountant", json={"Id": o.invoice()["Id"]}
    ),
    ("post", "/api/invoice/sendtoclient"): lambda c, o: c.post(
        "/api/invoice/sendtoclient",
        json={
            "Id": o.invoice()["Id"],
            "Subject": "Invoice",
            "Message": "Please pay",
            "AttachPdf": True,
            "SendToSelf": True,
        },
    ),
    ("get", "/api/invoice/status"): lambda c, o: c.get(
        "/api/invoice/status", params={"id": o.invoice()["Id"]}
    ),
    ("post", "/api/invoice/update"): lambda c, o: c.post(
        "/api/invoice/update",
        json={"Id": o.paid_invoice()["Id"], "Notes": "Paid, thanks", "Items": [{"Cost": 99, "Quantity": 2}]},
    ),
    ("post", "/api/invoice/updatecategory"): lambda c, o: c.post(
        "/api/invoice/updatecategory", json={"Id": o.category()["Id"], "Name": "Big projects"}
    ),
    ("get", "/api/invoice/uri"): lambda c, o: c.get("/api/invoice/uri", params={"id": o.invoice()["Id"]}),
    # orders
    ("get", "/api/order/all"): lambda c, o: c.get("/api/order/all", params={"page": 1, "pageSize": 50}),
    ("post", "/api/order/changeshippingdetails"): lambda c, o: c.post(
        "/api/order/changeshippingdetails",
        params={"orderId": o.order()},
        json={
            "Name": "Jane Buyer",
            "Address": "2 Side St",
            "CountryId": GB,
            "Email": "jane@example.test",
            "PhoneNumber": "555-0101",
        },
    ),
    ("post", "/api/order/changestatus"): lambda c, o: c.post(
        "/api/order/changestatus", json={"Id": o.order(), "Status": "Processing", "Reason": "Paid"}
    ),
    ("post", "/api/order/delete"): lambda c, o: c.post("/api/order/delete", json={"Id": o.order()}),
    ("get", "/api/order/details"): lambda c, o: c.get("/api/order/details", params={"id": o.order()}),
    ("post", "/api/order/new"): lambda c, o: c.post("/api/order/new", json=o.order_body()),
    # payment links
    ("get", "/api/paymentlink/all"): lambda c, o: c.get(
        "/api/paymentlink/all", params={"queryOptions.pageSize": 50}
    ),
    ("post", "/api/paymentlink/delete"): lambda c, o: c.post(
        "/api/paymentlink/delete", json={"Id": o.paymentlink()}
    ),
    ("post", "/api/paymentlink/new"): lambda c, o: c.post(
        "/api/paymentlink/new", json={"ClientId": o.customer(), "CurrencyId": GBP, "Items": o.items()}
    ),
    ("get", "/api/paymentlink/uri"): lambda c, o: c.get(
        "/api/paymentlink/uri", params={"id": o.paymentlink()}
    ),
    # products
    ("get", "/api/product/all"): lambda c, o: c.get("/api/product/all/", params={"page": 1, "pageSize": 100}),
    ("post", "/api/product/delete"): lambda c, o: c.post("/api/product/delete", json={"Id": o.product()}),
    ("get", "/api/product/details"): lambda c, o: c.get("/api/product/details", params={"id": o.product()}),
    ("post", "/api/product/new"): lambda c, o: c.post("/api/product/new", json=o.product_body()),
    ("post", "/api/product/update"): lambda c, o: c.post(
        "/api/product/update", json={"Id": o.product(), "Status": "Inactive", "ShippingAmount": 0}
    ),
    # taxes
    ("get", "/api/tax/all"): lambda c, o: c.get("/api/tax/all"),
    ("post", "/api/tax/delete"): lambda c, o: c.post("/api/tax/delete", json={"Id": o.tax()}),
    ("post", "/api/tax/new"): lambda c, o: c.post("/api/tax/new", json={"Name": "GST", "Percentage": 15}),
    ("post", "/api/tax/update"): lambda c, o: c.post(
        "/api/tax/update", json={"Id": o.tax(), "Name": "VAT", "Percentage": 21}
    ),
    # work types
    ("get", "/api/worktype/all"): lambda c, o: c.get("/api/worktype/all"),
    ("post", "/api/worktype/delete"): lambda c, o: c.post("/api/worktype/delete", json={"Id": o.worktype()}),
    ("get", "/api/worktype/details"): lambda c, o: c.get(
        "/api/worktype/details", params={"workTypeId": o.worktype()}
    ),
    ("post", "/api/worktype/new"): lambda c, o: c.post("/api/worktype/new", json={"Title": "Design"}),
    ("get", "/api/worktype/search"): lambda c, o: c.get(
        "/api/worktype/search",
        params={
            "queryOptions.query": "n",
            "queryOptions.orderBy": "Title",
            "queryOptions.order": "Asc",
            "queryOptions.page": 1,
            "queryOptions.pageSize": 20,
        },
    ),
    ("post", "/api/worktype/update"): lambda c, o: c.post(
        "/api/worktype/update", json={"Id": o.worktype(), "Title": "UX design"}
    ),
}

_validators: dict[str, OAS30Validator] = {}


def validator(openapi: dict[str, Any], schema: dict[str, Any]) -> OAS30Validator:
    """A validator for one response schema, with the spec's components resolvable."""
    key = repr((openapi.get("x-enum-style"), schema))
    if key not in _validators:
        _validators[key] = OAS30Validator(
            {"components": openapi["components"], **schema}, format_checker=oas30_format_checker
        )
    return _validators[key]


def enums_as_indexes(node: Any) -> Any:
    """The description with every enum schema replaced by the integer range of its indexes."""
    if isinstance(node, dict):
        if "enum" in node and isinstance(node["enum"], list):
            return {"type": "integer", "minimum": 0, "maximum": len(node["enum"]) - 1}
        return {k: enums_as_indexes(v) for k, v in node.items()}
    if isinstance(node, list):
        return [enums_as_indexes(v) for v in node]
    return node


_int_descriptions: list[dict[str, Any]] = []


@pytest.fixture
def openapi_int(openapi: dict[str, Any]) -> dict[str, Any]:
    """The reference description as a client of the int style reads it (built once)."""
    if not _int_descriptions:
        _int_descriptions.append({**enums_as_indexes(openapi), "x-enum-style": "int"})
    return _int_descriptions[0]


def schema_errors(openapi: dict[str, Any], schema: dict[str, Any], body: Any) -> list[str]:
    """Every way `body` breaks `schema`, one line each."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(openapi, schema).iter_errors(body)
    ]


def documented(openapi: dict[str, Any], method: str, path: str) -> tuple[int, dict[str, Any] | None]:
    """The documented success status of an operation and its JSON schema (None when no body)."""
    responses = openapi["paths"][path][method]["responses"]
    status = next(int(code) for code in ("200", "201", "204") if code in responses)
    content = responses[str(status)].get("content") or {}
    return status, (content.get("application/json") or {}).get("schema")


def spec_operations(openapi: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (m.lower(), p) for p, ops in openapi["paths"].items() for m in ops if m.lower() in ("get", "post")
    }


def test_every_spec_operation_has_a_call(openapi: dict[str, Any]) -> None:
    operations = spec_operations(openapi)
    assert len(operations) == 61
    assert set(CALLS) == operations


def test_the_mock_serves_exactly_the_spec_operations(openapi: dict[str, Any], spec: Spec) -> None:
    assert {(op.method.lower(), op.path) for op in spec.operations} == spec_operations(openapi)


@pytest.mark.parametrize(
    ("method", "path"), sorted(CALLS), ids=[f"{m.upper()} {p}" for m, p in sorted(CALLS)]
)
def test_response_matches_the_documented_schema(
    openapi: dict[str, Any], client: TestClient, method: str, path: str
) -> None:
    status, schema = documented(openapi, method, path)
    response = CALLS[(method, path)](client, Objects(client))
    assert response.request.method == method.upper()
    assert response.request.url.path.rstrip("/") == path
    assert response.status_code == status, response.text
    if schema is None:
        assert response.content == b""
        return
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(openapi, schema).iter_errors(body)
    ]
    assert errors == [], f"{method.upper()} {path}"
    if schema.get("type") == "array":
        assert body, "an empty list proves little"
    if "ListResult" in schema.get("$ref", ""):
        assert body["Result"], "an empty page proves little"


@pytest.mark.parametrize(
    ("method", "path"), sorted(CALLS), ids=[f"{m.upper()} {p}" for m, p in sorted(CALLS)]
)
def test_int_default_answers_indexes_where_the_description_has_enums(
    openapi: dict[str, Any], openapi_int: dict[str, Any], int_client: TestClient, method: str, path: str
) -> None:
    """With the default enum style every documented enum comes back as its index, and nothing else
    about the answer changes shape."""
    status, schema = documented(openapi, method, path)
    response = CALLS[(method, path)](int_client, Objects(int_client))
    assert response.status_code == status, response.text
    if schema is None:
        return
    body = response.json()
    _, int_schema = documented(openapi_int, method, path)
    assert int_schema is not None
    assert schema_errors(openapi_int, int_schema, body) == [], f"{method.upper()} {path}"


def test_int_default_sends_integers_for_every_enum_field_kind(int_client: TestClient) -> None:
    """Documents of every status-bearing kind answer integer statuses (what the vendor's plugin reads)."""
    for path in ("/api/invoice/all", "/api/estimation/all", "/api/order/all", "/api/product/all"):
        rows = ok(int_client.get(path, params={"pageSize": 100}))["Result"]
        assert rows and all(type(r["Status"]) is int for r in rows), path
    invoice = ok(int_client.get("/api/invoice/all", params={"pageSize": 1}))["Result"][0]
    assert type(ok(int_client.get("/api/invoice/status", params={"id": invoice["Id"]}))) is int


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("invoice", "/api/invoice/details"),
        ("estimation", "/api/estimation/details"),
        ("order", "/api/order/details"),
        ("product", "/api/product/details"),
    ],
)
def test_every_seeded_document_matches_the_schema(
    openapi: dict[str, Any], client: TestClient, runtime: Runtime, kind: str, path: str
) -> None:
    """The seeded data is rich (payments, every status, histories): all of it must fit the contract."""
    _, schema = documented(openapi, "get", path)
    assert schema is not None
    check = validator(openapi, schema)
    ids = sorted(runtime.store.accounts["sandbox-key"].table(kind))
    assert len(ids) >= 8
    for obj_id in ids:
        body = ok(client.get(path, params={"id": obj_id}))
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in check.iter_errors(body)]
        assert errors == [], f"{kind} {obj_id}"


def test_status_endpoints_answer_documented_enum_members(
    openapi: dict[str, Any], client: TestClient, runtime: Runtime
) -> None:
    account = runtime.store.accounts["sandbox-key"]
    for kind in ("invoice", "estimation"):
        _, schema = documented(openapi, "get", f"/api/{kind}/status")
        assert schema is not None
        seen = {
            ok(client.get(f"/api/{kind}/status", params={"id": obj_id})) for obj_id in account.table(kind)
        }
        assert seen <= set(schema["enum"])
        assert len(seen) >= 3
