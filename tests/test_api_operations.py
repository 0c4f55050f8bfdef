"""Every one of the 61 operations, through the HTTP layer, with realistic bodies and the documented shapes."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.config import Settings
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.spec import Spec

from .helpers import AUTH

GB, US, EUR, GBP, ENGLISH, GERMAN = 235, 237, 163, 170, 1, 3

TODAY = "2024-03-01T12:00:00+00:00"  # the frozen clock of conftest


# --- helpers -------------------------------------------------------------------------------


def ok(response: Any, status: int = 200) -> Any:
    """The decoded body of a successful answer (None for 204)."""
    assert response.status_code == status, response.text
    if status == 204:
        assert response.content == b""
        return None
    return response.json()


def fault(response: Any, status: int) -> list[dict[str, str]]:
    """The error items of a fault envelope."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["IsFaulted"] is True
    for item in body["ErrorMessages"]:
        assert set(item) == {"Code", "FaultMessage", "Group", "UserVisibleMessage"}
    return body["ErrorMessages"]


def activity_types(doc: dict[str, Any]) -> list[Any]:
    return [a["Type"] for a in doc["Activities"]]


def local(link: str) -> str:
    """A share link's path and query, to follow it through the in-process client."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


CLIENT = {
    "Name": "Northwind Traders Ltd",
    "Email": "accounts@northwind.test",
    "ClientCurrencyId": GBP,
    "ClientCountryId": GB,
    "UiLanguageId": ENGLISH,
}


@pytest.fixture
def worktype_id(client: TestClient) -> int:
    return ok(client.post("/api/worktype/new", json={"Title": "Consulting"}))


@pytest.fixture
def client_id(client: TestClient) -> int:
    return ok(client.post("/api/client/new", json=CLIENT))


@pytest.fixture
def tax_id(client: TestClient) -> int:
    return ok(client.post("/api/tax/new", json={"Name": "VAT 20", "Percentage": 20}))


@pytest.fixture
def new_invoice(client: TestClient, client_id: int, worktype_id: int) -> Callable[..., dict[str, Any]]:
    """Create an invoice (minimal vendor example body, with overrides); numbers are unique per
    account, so each call takes the next one (INV-2024-001 first)."""
    numbers = itertools.count(1)

    def make(**changes: Any) -> dict[str, Any]:
        body = {
            "ClientId": client_id,
            "Number": f"INV-2024-{next(numbers):03d}",
            "IssuedOn": TODAY,
            "Duedate": "2024-03-31T12:00:00+00:00",
            "Status": "Draft",
            "CurrencyId": GBP,
            "PaymentGateways": [{"Name": "paypal"}],
            "Items": [{"WorkTypeId": worktype_id, "Cost": 150, "Quantity": 3}],
            **changes,
        }
        return ok(client.post("/api/invoice/new", json=body))

    return make


@pytest.fixture
def new_estimation(client: TestClient, client_id: int, worktype_id: int) -> Callable[..., dict[str, Any]]:
    numbers = itertools.count(1)

    def make(**changes: Any) -> dict[str, Any]:
        body = {
            "ClientId": client_id,
            "Number": f"EST-2024-{next(numbers):03d}",
            "IssuedOn": TODAY,
            "ExpiresOn": "2024-04-01T12:00:00+00:00",
            "CurrencyId": EUR,
            "PaymentGateways": [{"Name": "stripe"}],
            "Items": [
                {"WorkTypeId": worktype_id, "Description": "Discovery workshop", "Cost": 900, "Quantity": 1},
                {
                    "WorkTypeId": worktype_id,
                    "Cost": 75,
                    "Quantity": 10,
                    "DiscountPercentage": 10,
                    "TaxPercentage": 19,
                },
            ],
            "Notes": "Valid for 30 days.",
            **changes,
        }
        return ok(client.post("/api/estimation/new", json=body))

    return make


ORDER = {
    "Name": "Website audit",
    "CurrencyId": EUR,
    "ShippingAmount": 5,
    "Items": [{"Description": "Website audit", "Cost": 199, "Quantity": 1, "TaxPercentage": 20}],
    "OrderBillingDetails": {"Name": "Jane Buyer", "Email": "jane@example.test", "CountryId": US},
    "OrderShippingDetails": {"Name": "Jane Buyer", "Address": "1 Main St, Springfield", "CountryId": US},
}


# --- the vendor's quick start --------------------------------------------------------------


def test_quick_start_flow(client: TestClient) -> None:
    worktype_id = ok(client.post("/api/worktype/new", json={"Title": "Web development"}))
    assert isinstance(worktype_id, int)

    countries = {c["Value"]: c for c in ok(client.get("/api/general/countries"))}
    currencies = {c["Code"]: c for c in ok(client.get("/api/general/currencies"))}
    languages = {lang["UiCulture"]: lang for lang in ok(client.get("/api/general/uilanguages"))}
    assert countries["GB"]["Id"] == GB
    assert countries["US"]["Id"] == US
    assert currencies["GBP"] == {
        "Id": GBP,
        "Name": "United Kingdom Pound",
        "Value": "GBP",
        "Symbol": "£",
        "Code": "GBP",
    }
    assert currencies["EUR"]["Id"] == EUR
    assert languages["en-US"] == {"Id": ENGLISH, "Name": "English", "UiCulture": "en-US"}
    assert languages["de-DE"]["Id"] == GERMAN

    client_id = ok(
        client.post(
            "/api/client/new",
            json={
                "Name": "Acme GmbH",
                "Email": "billing@acme.test",
                "ClientCurrencyId": currencies["EUR"]["Id"],
                "ClientCountryId": countries["GB"]["Id"],
                "UiLanguageId": languages["de-DE"]["Id"],
            },
        )
    )
    assert isinstance(client_id, int)

    invoice = ok(
        client.post(
            "/api/invoice/new",
            json={
                "ClientId": client_id,
                "Number": "2024-0001",
                "IssuedOn": "2024-03-01T13:00:00+01:00",
                "Duedate": "2024-03-15T13:00:00+01:00",
                "Status": "Draft",
                "CurrencyId": EUR,
                "PaymentGateways": [{"Name": "PayPal"}],
                "Items": [
                    {"WorkTypeId": worktype_id, "Cost": 500, "Quantity": 2},
                    {
                        "WorkTypeId": worktype_id,
                        "Cost": 80,
                        "Quantity": 1.5,
                        "DiscountPercentage": 10,
                        "TaxPercentage": 20,
                    },
                ],
            },
        )
    )
    assert isinstance(invoice["Id"], int)
    assert invoice["Number"] == "2024-0001"
    assert invoice["Status"] == "Draft"
    assert invoice["IssuedOn"] == "2024-03-01T13:00:00+01:00"
    assert invoice["Client"]["Id"] == client_id
    assert invoice["Client"]["Name"] == "Acme GmbH"
    assert invoice["Currency"]["Code"] == "EUR"
    assert invoice["PaymentGateways"] == [{"Name": "paypal"}]
    first, second = invoice["Items"]
    assert (first["WorkTypeId"], first["SubTotalAmount"], first["TotalAmount"]) == (
        worktype_id,
        1000.0,
        1000.0,
    )
    assert (second["SubTotalAmount"], second["DiscountAmount"], second["TaxAmount"]) == (120.0, 12.0, 21.6)
    assert second["TotalAmount"] == 129.6
    assert invoice["SubTotalAmount"] == 1120.0
    assert invoice["DiscountAmount"] == 12.0
    assert invoice["TaxAmount"] == 21.6
    assert invoice["TotalAmount"] == 1129.6
    assert activity_types(invoice) == ["Created"]
    assert invoice["Activities"][0]["InvoiceNumber"] == "2024-0001"
    assert isinstance(invoice["AccessToken"], str) and invoice["AccessToken"]
    assert ok(client.get("/api/invoice/details", params={"id": invoice["Id"]})) == invoice


# --- reference data ------------------------------------------------------------------------


def test_reference_lists(client: TestClient) -> None:
    assert len(ok(client.get("/api/general/countries"))) == 249
    assert len(ok(client.get("/api/general/currencies"))) == 32
    assert len(ok(client.get("/api/general/uilanguages"))) == 12
    formats = ok(client.get("/api/general/dateformats"))
    assert "dd/MM/yyyy" in formats and all(isinstance(f, str) for f in formats)
    gateways = {g["Name"]: g for g in ok(client.get("/api/payment/supported"))}
    assert [c["Value"] for c in gateways["payoneer"]["SupportedCurrencies"]] == ["EUR", "GBP", "USD", "AUD"]
    assert gateways["klikandpay"]["SupportedCurrencies"] == [
        {"Name": "Euro Member Countries", "Value": "EUR"}
    ]
    assert {"paypal", "stripe", "square"} <= set(gateways)


# --- clients -------------------------------------------------------------------------------


def test_client_create_read_update_delete(client: TestClient) -> None:
    client_id = ok(
        client.post("/api/client/new", json={**CLIENT, "Vat": "GB123456789", "DefaultDueDateInDays": 30})
    )
    assert isinstance(client_id, int) and not isinstance(client_id, bool)
    details = ok(client.get("/api/client/details", params={"id": client_id}))
    assert details == {
        **CLIENT,
        "Vat": "GB123456789",
        "DefaultDueDateInDays": 30,
        "Id": client_id,
        "CreatedOn": TODAY,
    }
    assert client_id in [c["Id"] for c in ok(client.get("/api/client/all"))]

    ok(
        client.post(
            "/api/client/update",
            json={
                "Id": client_id,
                "Email": "finance@northwind.test",
                "AdditionalEmails": [{"Email": "cfo@northwind.test"}],
            },
        ),
        204,
    )
    details = ok(client.get("/api/client/details", params={"id": client_id}))
    assert details["Email"] == "finance@northwind.test"
    assert details["AdditionalEmails"] == [{"Email": "cfo@northwind.test"}]
    assert details["Name"] == CLIENT["Name"]  # untouched fields stay

    assert ok(client.get("/api/client/candelete", params={"id": client_id})) is True
    assert ok(client.post("/api/client/delete", json={"Id": client_id})) == client_id
    fault(client.get("/api/client/details", params={"id": client_id}), 404)
    assert client_id not in [c["Id"] for c in ok(client.get("/api/client/all"))]


def test_client_in_use_cannot_be_deleted(
    client: TestClient, client_id: int, new_invoice: Callable[..., dict[str, Any]]
) -> None:
    invoice = new_invoice()
    assert ok(client.get("/api/client/candelete", params={"id": client_id})) is False
    errors = fault(client.post("/api/client/delete", json={"Id": client_id}), 400)
    assert errors[0]["Code"] == "InUse"
    assert str(client_id) in errors[0]["FaultMessage"]
    assert ok(client.get("/api/client/details", params={"id": client_id}))["Id"] == client_id

    assert ok(client.post("/api/invoice/delete", json={"Id": invoice["Id"]})) == invoice["Id"]
    fault(client.get("/api/invoice/details", params={"id": invoice["Id"]}), 404)
    assert ok(client.get("/api/client/candelete", params={"id": client_id})) is True
    assert ok(client.post("/api/client/delete", json={"Id": client_id})) == client_id


def test_seeded_clients_with_documents_cannot_be_deleted(client: TestClient) -> None:
    invoices = ok(client.get("/api/invoice/all", params={"pageSize": 1}))["Result"]
    busy = invoices[0]["Client"]["Id"]
    assert ok(client.get("/api/client/candelete", params={"id": busy})) is False


# --- work types, taxes, categories ---------------------------------------------------------


def test_worktype_operations(client: TestClient) -> None:
    wt = ok(client.post("/api/worktype/new", json={"Title": "Penetration testing"}))
    assert ok(client.get("/api/worktype/details", params={"workTypeId": wt})) == {
        "Id": wt,
        "Title": "Penetration testing",
        "CreatedOn": TODAY,
    }
    assert ok(client.get("/api/worktype/details", params={"id": wt}))["Id"] == wt
    ok(client.post("/api/worktype/update", json={"Id": wt, "Title": "Security review"}), 204)
    assert ok(client.get("/api/worktype/details", params={"workTypeId": wt}))["Title"] == "Security review"
    assert wt in [w["Id"] for w in ok(client.get("/api/worktype/all"))]

    found = ok(client.get("/api/worktype/search", params={"queryOptions.query": "SECURITY"}))
    assert [w["Id"] for w in found] == [wt]
    ordered = ok(
        client.get(
            "/api/worktype/search", params={"queryOptions.orderBy": "Title", "queryOptions.order": "Desc"}
        )
    )
    titles = [w["Title"] for w in ordered]
    assert titles == sorted(titles, reverse=True)
    ascending = ok(client.get("/api/worktype/search", params={"orderBy": "title", "order": "Asc"}))
    assert [w["Title"] for w in ascending] == sorted(titles)
    page2 = ok(
        client.get(
            "/api/worktype/search",
            params={"queryOptions.orderBy": "Title", "queryOptions.page": 2, "queryOptions.pageSize": 3},
        )
    )
    assert [w["Title"] for w in page2] == sorted(titles)[3:6]

    assert ok(client.post("/api/worktype/delete", json={"Id": wt})) == wt
    fault(client.get("/api/worktype/details", params={"workTypeId": wt}), 404)


def test_tax_operations(client: TestClient) -> None:
    tax = ok(client.post("/api/tax/new", json={"Name": "GST", "Percentage": 15}))
    assert isinstance(tax, int)
    taxes = {t["Id"]: t for t in ok(client.get("/api/tax/all"))}
    assert taxes[tax] == {"Id": tax, "Name": "GST", "Percentage": 15.0, "CreatedOn": TODAY}
    ok(client.post("/api/tax/update", json={"Id": tax, "Percentage": 12.5}), 204)
    taxes = {t["Id"]: t for t in ok(client.get("/api/tax/all"))}
    assert (taxes[tax]["Name"], taxes[tax]["Percentage"]) == ("GST", 12.5)
    assert ok(client.post("/api/tax/delete", json={"Id": tax})) == tax
    assert tax not in [t["Id"] for t in ok(client.get("/api/tax/all"))]


def test_invoice_category_operations(client: TestClient) -> None:
    category = ok(client.post("/api/invoice/newcategory", json={"Name": "Subscriptions"}))
    assert set(category) == {"Id", "Name"}
    assert category["Name"] == "Subscriptions"
    listing = ok(client.get("/api/invoice/allcategories"))
    assert listing["IsFaulted"] is False and listing["ErrorMessages"] == []
    assert listing["Count"] == listing["TotalCount"] == len(listing["Result"])
    assert category in listing["Result"]
    found = ok(client.get("/api/invoice/allcategories", params={"query": "subscr"}))
    assert found["Result"] == [category]
    assert found["TotalCount"] == 1

    renamed = ok(client.post("/api/invoice/updatecategory", json={"Id": category["Id"], "Name": "SaaS"}))
    assert renamed == {"Id": category["Id"], "Name": "SaaS"}
    assert ok(client.post("/api/invoice/deletecategory", json={"Id": category["Id"]})) == category["Id"]
    assert category["Id"] not in [c["Id"] for c in ok(client.get("/api/invoice/allcategories"))["Result"]]


# --- invoices ------------------------------------------------------------------------------


def test_invoice_update_returns_the_object_and_records_updated(
    client: TestClient, new_invoice: Callable[..., dict[str, Any]], worktype_id: int
) -> None:
    invoice = new_invoice()
    updated = ok(
        client.post(
            "/api/invoice/update",
            json={
                "Id": invoice["Id"],
                "PoNumber": "PO-7781",
                "Notes": "Thanks!",
                "Items": [{"WorkTypeId": worktype_id, "Cost": 200, "Quantity": 2, "TaxPercentage": 10}],
            },
        )
    )
    assert updated["Id"] == invoice["Id"]
    assert updated["PoNumber"] == "PO-7781"
    assert updated["Number"] == invoice["Number"]
    assert len(updated["Items"]) == 1
    assert (updated["SubTotalAmount"], updated["TaxAmount"], updated["TotalAmount"]) == (400.0, 40.0, 440.0)
    assert activity_types(updated) == ["Created", "Updated"]
    assert ok(client.get("/api/invoice/details", params={"id": invoice["Id"]})) == updated


def test_invoice_send_to_client_and_accountant(
    client: TestClient, new_invoice: Callable[..., dict[str, Any]]
) -> None:
    invoice = new_invoice()
    sent = ok(
        client.post(
            "/api/invoice/sendtoclient",
            json={"Id": invoice["Id"], "Subject": "Your invoice", "Message": "Hi!", "AttachPdf": True},
        )
    )
    assert sent == invoice["Id"]
    assert ok(client.get("/api/invoice/status", params={"id": invoice["Id"]})) == "Unpaid"
    assert ok(client.post("/api/invoice/sendtoaccountant", json={"Id": invoice["Id"]})) == invoice["Id"]
    # the InvoiceId spelling is bound too
    assert ok(client.post("/api/invoice/sendtoclient", json={"InvoiceId": invoice["Id"]})) == invoice["Id"]
    details = ok(client.get("/api/invoice/details", params={"id": invoice["Id"]}))
    assert activity_types(details) == [
        "Created",
        "SentViaEmail",
        "Unpaid",
        "SentToAccountant",
        "SentViaEmail",
    ]
    assert "Northwind Traders Ltd" in details["Activities"][1]["Message"]


def test_invoice_change_status_paid_then_void(
    client: TestClient, new_invoice: Callable[..., dict[str, Any]]
) -> None:
    invoice = new_invoice()
    assert ok(client.post("/api/invoice/changestatus", json={"Id": invoice["Id"], "Status": "Paid"})) is True
    assert ok(client.get("/api/invoice/status", params={"id": invoice["Id"]})) == "Paid"
    details = ok(client.get("/api/invoice/details", params={"id": invoice["Id"]}))
    assert details["Status"] == "Paid"
    assert [(p["Amount"], p["Type"]) for p in details["Payments"]] == [(450.0, "Other")]
    assert ok(client.post("/api/invoice/changestatus", json={"Id": invoice["Id"], "Status": "Void"})) is True
    assert ok(client.get("/api/invoice/status", params={"id": invoice["Id"]})) == "Void"
    details = ok(client.get("/api/invoice/details", params={"id": invoice["Id"]}))
    assert activity_types(details) == ["Created", "Paid", "Void"]
    # the same status again is a no-op that still answers true
    assert ok(client.post("/api/invoice/changestatus", json={"Id": invoice["Id"], "Status": "Void"})) is True
    assert activity_types(ok(client.get("/api/invoice/details", params={"id": invoice["Id"]}))) == [
        "Created",
        "Paid",
        "Void",
    ]


def test_invoice_share_link_serves_html(
    client: TestClient, new_invoice: Callable[..., dict[str, Any]]
) -> None:
    invoice = new_invoice()
    link = ok(client.get("/api/invoice/uri", params={"id": invoice["Id"]}))
    assert set(link) == {"Link"}
    parts = urlsplit(link["Link"])
    assert f"{parts.scheme}://{parts.netloc}" == "http://127.0.0.1:8080"
    assert parts.path == "/invoice/shared"
    query = parse_qs(parts.query)
    assert query["token"] == [invoice["AccessToken"]]
    assert re.fullmatch(r"[0-9a-f]+", query["id"][0])
    assert query["id"][0] != str(invoice["Id"])  # opaque

    page = client.get(local(link["Link"]))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "INV-2024-001" in page.text
    assert "Northwind Traders Ltd" in page.text
    details = ok(client.get("/api/invoice/details", params={"id": invoice["Id"]}))
    assert activity_types(details) == ["Created", "Viewed"]


def test_invoice_pdf_link_serves_a_pdf(
    client: TestClient, new_invoice: Callable[..., dict[str, Any]]
) -> None:
    invoice = new_invoice()
    link = ok(client.get("/api/invoice/pdf", params={"id": invoice["Id"], "signedVersion": "false"}))
    assert set(link) == {"Link"}
    assert urlsplit(link["Link"]).path == "/invoice/pdf"
    pdf = client.get(local(link["Link"]))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf.content.rstrip().endswith(b"%%EOF")
    assert b"INV-2024-001" in pdf.content
    details = ok(client.get("/api/invoice/details", params={"id": invoice["Id"]}))
    assert activity_types(details) == ["Created", "DownloadedAsPdf"]


def test_share_link_of_a_deleted_document_is_gone(
    client: TestClient, new_invoice: Callable[..., dict[str, Any]]
) -> None:
    invoice = new_invoice()
    link = ok(client.get("/api/invoice/uri", params={"id": invoice["Id"]}))["Link"]
    ok(client.post("/api/invoice/delete", json={"Id": invoice["Id"]}))
    fault(client.get(local(link)), 404)


def test_documents_stay_editable_after_what_they_refer_to_is_deleted(
    client: TestClient, new_invoice: Callable[..., dict[str, Any]], worktype_id: int, tax_id: int
) -> None:
    category = ok(client.post("/api/invoice/newcategory", json={"Name": "Short-lived"}))
    items = [{"WorkTypeId": worktype_id, "TaxId": tax_id, "Cost": 100, "Quantity": 1}]
    invoice = new_invoice(InvoiceCategoryId=category["Id"], Items=items)
    assert invoice["TaxAmount"] == 20.0
    ok(client.post("/api/worktype/delete", json={"Id": worktype_id}))
    ok(client.post("/api/tax/delete", json={"Id": tax_id}))
    ok(client.post("/api/invoice/deletecategory", json={"Id": category["Id"]}))

    updated = ok(client.post("/api/invoice/update", json={"Id": invoice["Id"], "Notes": "Still editable"}))
    assert updated["Notes"] == "Still editable"
    assert updated["TotalAmount"] == 120.0  # the tax percentage was kept on the item
    # but a request that itself names a missing row is refused
    r = client.post("/api/invoice/update", json={"Id": invoice["Id"], "InvoiceCategoryId": category["Id"]})
    assert fault(r, 400)[0]["Code"] == "InvalidReference"

    product_id = ok(
        client.post("/api/product/new", json={"Name": "Gone", "CurrencyId": EUR, "Items": [{"Cost": 5}]})
    )
    order_id = ok(client.post("/api/order/new", json={**ORDER, "ProductId": product_id}))
    ok(client.post("/api/product/delete", json={"Id": product_id}))
    shipping = {"Name": "Jane Buyer", "CountryId": GB}
    ok(client.post("/api/order/changeshippingdetails", params={"orderId": order_id}, json=shipping), 204)
    ok(client.post("/api/order/changestatus", json={"Id": order_id, "Status": "Processing"}), 204)


def test_invoice_number_is_required_and_kept(client: TestClient, client_id: int) -> None:
    body = {
        "ClientId": client_id,
        "IssuedOn": TODAY,
        "Duedate": TODAY,
        "CurrencyId": GBP,
        "Items": [{"Cost": 1, "Quantity": 1}],
    }
    # Number is required by the API; an empty one is refused rather than invented
    fault(client.post("/api/invoice/new", json={**body, "Number": ""}), 400)
    invoice = ok(client.post("/api/invoice/new", json={**body, "Number": "A-1"}))
    assert invoice["Number"] == "A-1"
    assert invoice["Status"] == "Draft"  # the default status


def test_unpaid_invoice_becomes_overdue_once_its_due_date_passes(
    client: TestClient, runtime: Runtime, new_invoice: Callable[..., dict[str, Any]]
) -> None:
    invoice = new_invoice(Status="Unpaid", Duedate="2024-03-02T12:00:00+00:00")
    draft = new_invoice(Number="INV-2024-002", Duedate="2024-03-02T12:00:00+00:00")
    assert ok(client.get("/api/invoice/status", params={"id": invoice["Id"]})) == "Unpaid"
    runtime.clock.advance(86400)  # exactly due: not late yet
    assert ok(client.get("/api/invoice/status", params={"id": invoice["Id"]})) == "Unpaid"
    runtime.clock.advance(1)
    assert ok(client.get("/api/invoice/status", params={"id": invoice["Id"]})) == "Overdue"
    details = ok(client.get("/api/invoice/details", params={"id": invoice["Id"]}))
    assert activity_types(details) == ["Created", "Overdue"]
    assert details["Activities"][-1]["Message"] == "Invoice INV-2024-001 is overdue"
    assert ok(client.get("/api/invoice/status", params={"id": draft["Id"]})) == "Draft"  # drafts never are
    assert ok(client.post("/api/invoice/changestatus", json={"Id": invoice["Id"], "Status": "Paid"})) is True


# --- estimations ---------------------------------------------------------------------------


def test_estimation_lifecycle(client: TestClient, new_estimation: Callable[..., dict[str, Any]]) -> None:
    est = new_estimation()
    assert est["Status"] == "Draft"
    assert est["Number"] == "EST-2024-001"
    assert est["Currency"]["Code"] == "EUR"
    assert est["SubTotalAmount"] == 1650.0
    assert est["DiscountAmount"] == 75.0
    assert est["TaxAmount"] == 128.25
    assert est["TotalAmount"] == 1703.25
    assert activity_types(est) == ["EstimationCreated"]
    assert ok(client.get("/api/estimation/details", params={"id": est["Id"]})) == est

    updated = ok(
        client.post("/api/estimation/update", json={"Id": est["Id"], "Terms": "Net 14", "PoNumber": "PO-1"})
    )
    assert (updated["Terms"], updated["PoNumber"]) == ("Net 14", "PO-1")
    assert updated["TotalAmount"] == est["TotalAmount"]

    assert (
        ok(client.post("/api/estimation/sendtoclient", json={"Id": est["Id"], "Subject": "Quote"}))
        == est["Id"]
    )
    assert ok(client.post("/api/estimation/sendtoclient", json={"EstimationId": est["Id"]})) == est["Id"]
    assert (
        ok(client.post("/api/estimation/changestatus", json={"Id": est["Id"], "Status": "Rejected"})) is True
    )
    assert ok(client.get("/api/estimation/status", params={"id": est["Id"]})) == "Rejected"
    assert ok(client.post("/api/estimation/changestatus", json={"Id": est["Id"], "Status": "Draft"})) is True
    assert (
        ok(client.post("/api/estimation/changestatus", json={"Id": est["Id"], "Status": "Accepted"})) is True
    )
    assert ok(client.get("/api/estimation/status", params={"id": est["Id"]})) == "Accepted"

    details = ok(client.get("/api/estimation/details", params={"id": est["Id"]}))
    assert activity_types(details) == [
        "EstimationCreated",
        "EstimationUpdated",
        "EstimationSentViaEmail",
        "EstimationSentViaEmail",
        "EstimationRejected",
        "EstimationDraft",
        "EstimationAccepted",
    ]
    assert all(a["EstimationNumber"] == "EST-2024-001" for a in details["Activities"])

    link = ok(client.get("/api/estimation/uri", params={"id": est["Id"]}))
    assert set(link) == {"Link"}
    assert urlsplit(link["Link"]).path == "/estimation/shared"
    assert parse_qs(urlsplit(link["Link"]).query)["token"] == [est["AccessToken"]]
    page = client.get(local(link["Link"]))
    assert page.status_code == 200 and "EST-2024-001" in page.text
    assert (
        activity_types(ok(client.get("/api/estimation/details", params={"id": est["Id"]})))[-1]
        == "EstimationViewed"
    )

    listing = ok(
        client.get("/api/estimation/all", params={"queryOptions.page": 1, "queryOptions.pageSize": 1})
    )
    assert listing["Result"][0]["Id"] == est["Id"]  # newest first
    assert ok(client.post("/api/estimation/delete", json={"Id": est["Id"]})) == est["Id"]
    fault(client.get("/api/estimation/details", params={"id": est["Id"]}), 404)


def test_estimation_convert_creates_an_invoice(
    client: TestClient, new_estimation: Callable[..., dict[str, Any]], client_id: int
) -> None:
    est = new_estimation()
    before = ok(client.get("/api/invoice/all"))["TotalCount"]
    invoice = ok(client.post("/api/estimation/convert", json=est["Id"]))
    assert invoice["Status"] == "Draft"
    assert invoice["Client"]["Id"] == client_id
    assert invoice["Currency"]["Code"] == "EUR"
    assert invoice["IssuedOn"] == TODAY
    assert invoice["Duedate"] == "2024-03-16T12:00:00+00:00"  # the client's 15 default due days
    assert invoice["TotalAmount"] == est["TotalAmount"]
    assert [(i["Cost"], i["Quantity"], i["TotalAmount"]) for i in invoice["Items"]] == [
        (i["Cost"], i["Quantity"], i["TotalAmount"]) for i in est["Items"]
    ]
    assert {i["Id"] for i in invoice["Items"]}.isdisjoint({i["Id"] for i in est["Items"]})
    assert invoice["PaymentGateways"] == [{"Name": "stripe"}]
    assert activity_types(invoice) == ["Created"]
    assert ok(client.get("/api/invoice/details", params={"id": invoice["Id"]})) == invoice
    assert ok(client.get("/api/invoice/all"))["TotalCount"] == before + 1
    assert ok(client.get("/api/estimation/status", params={"id": est["Id"]})) == "Accepted"
    est_after = ok(client.get("/api/estimation/details", params={"id": est["Id"]}))
    assert activity_types(est_after) == ["EstimationCreated", "EstimationAccepted"]


def test_estimation_convert_accepts_a_plain_text_id(
    client: TestClient, new_estimation: Callable[..., dict[str, Any]]
) -> None:
    est = new_estimation()
    r = client.post("/api/estimation/convert", content=str(est["Id"]), headers={"content-type": "text/plain"})
    assert ok(r)["TotalAmount"] == est["TotalAmount"]


# --- orders --------------------------------------------------------------------------------


def test_order_lifecycle(client: TestClient, runtime: Runtime) -> None:
    order_id = ok(client.post("/api/order/new", json=ORDER))
    assert isinstance(order_id, int)
    order = ok(client.get("/api/order/details", params={"id": order_id}))
    assert order["Status"] == "PendingPayment"
    assert (order["SubTotalAmount"], order["TaxAmount"], order["TotalAmount"]) == (199.0, 39.8, 238.8)
    assert order["TotalWithShipping"] == 243.8
    assert order["Currency"]["Code"] == "EUR"
    assert order["OrderBillingDetails"]["Email"] == "jane@example.test"

    ok(
        client.post(
            "/api/order/changestatus", json={"Id": order_id, "Status": "Processing", "Reason": "Paid by card"}
        ),
        204,
    )
    assert ok(client.get("/api/order/details", params={"id": order_id}))["Status"] == "Processing"
    shipping = {
        "Name": "Jane Buyer",
        "Address": "2 Side St, Shelbyville",
        "CountryId": GB,
        "PhoneNumber": "+44 20 7946 0000",
    }
    ok(client.post("/api/order/changeshippingdetails", params={"orderId": order_id}, json=shipping), 204)
    order = ok(client.get("/api/order/details", params={"id": order_id}))
    assert order["OrderShippingDetails"] == shipping
    assert order["OrderBillingDetails"]["Email"] == "jane@example.test"

    # orders keep an audit log too (not part of the order's response model)
    account = runtime.store.accounts["sandbox-key"]
    log = [a for a in account.activities if a.get("OrderId") == order_id]
    assert [a["Type"] for a in log] == ["OrderCreated", "OrderUpdated", "OrderUpdated"]
    assert all(a["CreatedOn"] == TODAY for a in log)

    listing = ok(client.get("/api/order/all", params={"page": 1, "pageSize": 1}))
    assert listing["Result"][0]["Id"] == order_id
    assert ok(client.post("/api/order/delete", json={"Id": order_id})) == order_id
    fault(client.get("/api/order/details", params={"id": order_id}), 404)


# --- products ------------------------------------------------------------------------------


def test_product_operations(client: TestClient, worktype_id: int) -> None:
    product_id = ok(
        client.post(
            "/api/product/new",
            json={
                "Name": "Brand workshop",
                "Description": "A half-day session.",
                "CurrencyId": GBP,
                "Status": "Active",
                "ShippingAmount": 0,
                "PaymentGateways": [{"Name": "stripe"}],
                "Items": [
                    {"WorkTypeId": worktype_id, "Cost": 450, "MinimumQuantity": 1, "ReferenceId": "SKU-1"}
                ],
            },
        )
    )
    assert isinstance(product_id, int)
    product = ok(client.get("/api/product/details", params={"id": product_id}))
    assert product["Name"] == "Brand workshop"
    assert product["Status"] == "Active"
    assert product["TotalAmount"] == 450.0
    assert product["Items"][0]["ReferenceId"] == "SKU-1"
    assert product["Currency"]["Code"] == "GBP"
    assert product["AccessToken"]

    ok(
        client.post(
            "/api/product/update", json={"Id": product_id, "Status": "NotAvailable", "IsFeatured": True}
        ),
        204,
    )
    product = ok(client.get("/api/product/details", params={"id": product_id}))
    assert (product["Status"], product["IsFeatured"], product["Name"]) == (
        "NotAvailable",
        True,
        "Brand workshop",
    )

    listing = ok(client.get("/api/product/all", params={"page": 1, "pageSize": 100}))
    assert product_id in [p["Id"] for p in listing["Result"]]
    assert ok(client.post("/api/product/delete", json={"Id": product_id})) == product_id
    fault(client.get("/api/product/details", params={"id": product_id}), 404)


# --- payment links -------------------------------------------------------------------------


def test_payment_link_operations(client: TestClient, client_id: int, worktype_id: int) -> None:
    link_id = ok(
        client.post(
            "/api/paymentlink/new",
            json={
                "ClientId": client_id,
                "CurrencyId": GBP,
                "Items": [{"WorkTypeId": worktype_id, "Cost": 250, "Quantity": 2, "TaxPercentage": 20}],
            },
        )
    )
    assert isinstance(link_id, int)
    listing = ok(client.get("/api/paymentlink/all", params={"queryOptions.pageSize": 100}))
    links = {p["Id"]: p for p in listing["Result"]}
    created = links[link_id]
    assert created["ClientId"] == client_id
    assert created["Client"]["Name"] == CLIENT["Name"]
    assert (created["SubTotalAmount"], created["TaxAmount"], created["TotalAmount"]) == (500.0, 100.0, 600.0)
    assert created["Number"].startswith("PL-")

    uri = ok(client.get("/api/paymentlink/uri", params={"id": link_id}))
    assert set(uri) == {"Link"}
    assert urlsplit(uri["Link"]).path == "/paymentlink/shared"
    page = client.get(local(uri["Link"]))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")

    assert ok(client.post("/api/paymentlink/delete", json={"Id": link_id})) == link_id
    fault(client.get("/api/paymentlink/uri", params={"id": link_id}), 404)


# --- paging --------------------------------------------------------------------------------

PAGED = [
    "/api/estimation/all",
    "/api/invoice/all",
    "/api/order/all",
    "/api/paymentlink/all",
    "/api/product/all",
]


@pytest.mark.parametrize("path", PAGED)
def test_paged_lists_use_the_list_result_envelope(client: TestClient, path: str) -> None:
    everything = ok(client.get(path, params={"pageSize": 1000}))
    assert set(everything) == {"TotalCount", "Count", "Result", "IsFaulted", "ErrorMessages"}
    assert everything["IsFaulted"] is False
    assert everything["ErrorMessages"] == []
    total = everything["TotalCount"]
    assert total == everything["Count"] == len(everything["Result"]) >= 5
    ids = [r["Id"] for r in everything["Result"]]

    default = ok(client.get(path))  # no paging asked: the first page of 20
    assert default["TotalCount"] == total
    assert [r["Id"] for r in default["Result"]] == ids[:20]
    assert default["Count"] == min(total, 20)

    first = ok(client.get(path, params={"queryOptions.page": 1, "queryOptions.pageSize": 2}))
    assert (first["TotalCount"], first["Count"]) == (total, 2)
    assert [r["Id"] for r in first["Result"]] == ids[:2]
    second = ok(client.get(path, params={"queryOptions.page": 2, "queryOptions.pageSize": 2}))
    assert [r["Id"] for r in second["Result"]] == ids[2:4]
    # unprefixed names, trailing slash, as a real client calls product/all/?page=1&pageSize=100
    bare = ok(client.get(path + "/", params={"page": 2, "pageSize": 2}))
    assert bare == second
    last_page = (total + 2) // 3
    last = ok(client.get(path, params={"page": last_page, "pageSize": 3}))
    assert [r["Id"] for r in last["Result"]] == ids[(last_page - 1) * 3 :]
    assert last["Count"] == len(last["Result"])
    beyond = ok(client.get(path, params={"page": 1000, "pageSize": 10}))
    assert (beyond["TotalCount"], beyond["Count"], beyond["Result"]) == (total, 0, [])


def test_paging_is_one_based(client: TestClient) -> None:
    errors = fault(client.get("/api/invoice/all", params={"page": 0, "pageSize": 10}), 400)
    assert "page" in errors[0]["FaultMessage"]
    fault(client.get("/api/invoice/all", params={"page": 1, "pageSize": 0}), 400)


def test_real_client_style_product_call(client: TestClient) -> None:
    r = client.get("/api/product/all/?page=1&pageSize=100")
    body = ok(r)
    assert body["Count"] == body["TotalCount"] == 8


def test_paths_are_case_insensitive(client: TestClient) -> None:
    assert ok(client.get("/API/General/Currencies/")) == ok(client.get("/api/general/currencies"))


# --- bodies and representations ------------------------------------------------------------


def test_form_urlencoded_client_and_invoice(client: TestClient, worktype_id: int) -> None:
    form = {
        "Name": "Form Filler Ltd",
        "Email": "forms@filler.test",
        "ClientCurrencyId": str(GBP),
        "ClientCountryId": str(GB),
        "UiLanguageId": str(ENGLISH),
    }
    client_id = ok(client.post("/api/client/new", data=form))
    assert ok(client.get("/api/client/details", params={"id": client_id}))["Name"] == "Form Filler Ltd"

    invoice = ok(
        client.post(
            "/api/invoice/new",
            data={
                "ClientId": str(client_id),
                "Number": "F-1",
                "IssuedOn": "2024-03-01",
                "Duedate": "2024-03-31",
                "Status": "Draft",
                "CurrencyId": str(GBP),
                "PaymentGateways[0].Name": "stripe",
                "Items[0].WorkTypeId": str(worktype_id),
                "Items[0].Cost": "99.5",
                "Items[0].Quantity": "2",
                "Items[1][Cost]": "10",
                "Items[1][Quantity]": "3",
                "Items[1][TaxPercentage]": "20",
            },
        )
    )
    assert invoice["IssuedOn"] == "2024-03-01T00:00:00+00:00"
    assert [i["TotalAmount"] for i in invoice["Items"]] == [199.0, 36.0]
    assert invoice["TotalAmount"] == 235.0
    assert invoice["PaymentGateways"] == [{"Name": "stripe"}]


def test_form_urlencoded_update_and_delete(client: TestClient, worktype_id: int) -> None:
    ok(client.post("/api/worktype/update", data={"Id": str(worktype_id), "Title": "Advisory"}), 204)
    assert ok(client.get("/api/worktype/details", params={"workTypeId": worktype_id}))["Title"] == "Advisory"
    assert ok(client.post("/api/worktype/delete", data={"Id": str(worktype_id)})) == worktype_id


def test_text_json_and_xml_bodies(client: TestClient) -> None:
    r = client.post(
        "/api/tax/new",
        content=b'{"Name": "Text JSON", "Percentage": 7}',
        headers={"content-type": "text/json"},
    )
    tax = ok(r)
    xml = f"<TaxUpdate><Id>{tax}</Id><Name>XML tax</Name><Percentage>8</Percentage></TaxUpdate>"
    ok(client.post("/api/tax/update", content=xml, headers={"content-type": "application/xml"}), 204)
    taxes = {t["Id"]: t for t in ok(client.get("/api/tax/all"))}
    assert (taxes[tax]["Name"], taxes[tax]["Percentage"]) == ("XML tax", 8.0)


def test_responses_can_be_xml_or_text_json(client: TestClient) -> None:
    xml = client.get(
        "/api/invoice/status", params={"id": _any_invoice_id(client)}, headers={"accept": "application/xml"}
    )
    assert xml.status_code == 200
    assert xml.headers["content-type"].startswith("application/xml")
    assert xml.text.startswith("<?xml")
    text_json = client.get("/api/general/uilanguages", headers={"accept": "text/json"})
    assert text_json.headers["content-type"].startswith("text/json")
    assert len(text_json.json()) == 12


def _any_invoice_id(client: TestClient) -> int:
    return ok(client.get("/api/invoice/all", params={"pageSize": 1}))["Result"][0]["Id"]


# --- enums as names or indexes -------------------------------------------------------------


@pytest.fixture
def int_client(settings: Settings, spec: Spec) -> Iterator[TestClient]:
    """The mock started with --enum-style int."""
    runtime = build_runtime(settings.with_(enum_style="int"), spec=spec)
    with TestClient(create_app(runtime=runtime), headers=AUTH) as c:
        yield c


def test_enum_style_int_renders_indexes(int_client: TestClient) -> None:
    worktype = ok(int_client.post("/api/worktype/new", json={"Title": "Design"}))
    customer = ok(int_client.post("/api/client/new", json=CLIENT))
    invoice = ok(
        int_client.post(
            "/api/invoice/new",
            json={
                "ClientId": customer,
                "Number": "I-1",
                "IssuedOn": TODAY,
                "Duedate": TODAY,
                "Status": "Draft",
                "CurrencyId": GBP,
                "Items": [{"WorkTypeId": worktype, "Cost": 10, "Quantity": 1}],
            },
        )
    )
    assert invoice["Status"] == 0
    assert activity_types(invoice) == [0]  # Created
    assert ok(int_client.get("/api/invoice/status", params={"id": invoice["Id"]})) == 0
    ok(int_client.post("/api/invoice/changestatus", json={"Id": invoice["Id"], "Status": "Paid"}))
    details = ok(int_client.get("/api/invoice/details", params={"id": invoice["Id"]}))
    assert details["Status"] == 1
    assert activity_types(details) == [0, 11]  # Created, Paid
    assert details["Payments"][0]["Type"] == 0  # PaymentType.Other

    products = ok(int_client.get("/api/product/all"))["Result"]
    assert {p["Status"] for p in products} <= {0, 1, 2}
    orders = ok(int_client.get("/api/order/all"))["Result"]
    assert all(isinstance(o["Status"], int) for o in orders)
    estimations = ok(int_client.get("/api/estimation/all"))["Result"]
    assert {e["Status"] for e in estimations} <= {0, 1, 2}


def test_enum_style_header_overrides_per_request(client: TestClient) -> None:
    invoice_id = _any_invoice_id(client)
    named = ok(client.get("/api/invoice/status", params={"id": invoice_id}))
    index = ok(
        client.get("/api/invoice/status", params={"id": invoice_id}, headers={"x-mock-enum-style": "int"})
    )
    assert ["Draft", "Paid", "Unpaid", "Overdue", "Void"][index] == named


def test_a_client_events_status_follows_the_enum_style(int_client: TestClient) -> None:
    invoice_id = _any_invoice_id(int_client)
    ok(int_client.post("/api/invoice/changestatus", json={"Id": invoice_id, "Status": "Unpaid"}))
    paid = ok(int_client.post(f"/_mock/invoice/{invoice_id}/pay", json={}))
    assert paid["Status"] == 1  # InvoiceStatus.Paid, as every answer of an int-style server says it
    named = int_client.post(f"/_mock/invoice/{invoice_id}/view", headers={"x-mock-enum-style": "string"})
    assert ok(named)["Status"] == "Paid"
    estimation_id = ok(int_client.get("/api/estimation/all"))["Result"][0]["Id"]
    assert isinstance(ok(int_client.post(f"/_mock/estimation/{estimation_id}/view"))["Status"], int)
    before = ok(int_client.get("/api/invoice/details", params={"id": invoice_id}))["Activities"]
    refused = int_client.post(f"/_mock/invoice/{invoice_id}/view", headers={"x-mock-enum-style": "roman"})
    assert refused.status_code == 400  # and nothing was recorded
    assert ok(int_client.get("/api/invoice/details", params={"id": invoice_id}))["Activities"] == before


def test_int_enum_values_are_accepted_in_requests(
    client: TestClient,
    new_invoice: Callable[..., dict[str, Any]],
    new_estimation: Callable[..., dict[str, Any]],
) -> None:
    invoice = new_invoice(Status=2)
    assert invoice["Status"] == "Unpaid"
    assert ok(client.post("/api/invoice/changestatus", json={"Id": invoice["Id"], "Status": 1})) is True
    assert ok(client.get("/api/invoice/status", params={"id": invoice["Id"]})) == "Paid"
    est = new_estimation()
    ok(client.post("/api/estimation/changestatus", data={"Id": str(est["Id"]), "Status": "2"}))
    assert ok(client.get("/api/estimation/status", params={"id": est["Id"]})) == "Rejected"
    order_id = ok(client.post("/api/order/new", json={**ORDER, "Status": 4}))
    assert ok(client.get("/api/order/details", params={"id": order_id}))["Status"] == "OnHold"
    ok(client.post("/api/order/changestatus", json={"Id": order_id, "Status": 1}), 204)
    assert ok(client.get("/api/order/details", params={"id": order_id}))["Status"] == "Processing"
    product_id = ok(
        client.post(
            "/api/product/new", json={"Name": "P", "CurrencyId": EUR, "Status": 2, "Items": [{"Cost": 5}]}
        )
    )
    assert ok(client.get("/api/product/details", params={"id": product_id}))["Status"] == "Inactive"
    by_name = ok(client.get("/api/worktype/search", params={"orderBy": "Title", "order": 2}))
    titles = [w["Title"] for w in by_name]
    assert titles == sorted(titles, reverse=True)
    # names are matched regardless of case, too
    assert new_invoice(Status="unpaid")["Status"] == "Unpaid"


# --- coverage of this file -----------------------------------------------------------------


def test_every_operation_is_exercised_in_this_file(spec: Spec) -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    missing = [
        op.path for op in spec.operations if f'"{op.path}"' not in source and f'"{op.path}/"' not in source
    ]
    assert missing == [], f"operations not exercised here: {missing}"


def test_an_estimation_converts_once_and_survives_deleted_references(client: TestClient) -> None:
    wt = client.post("/api/worktype/new", json={"Title": "Temporary"}).json()
    cid = client.get("/api/client/all").json()[0]["Id"]
    est = client.post(
        "/api/estimation/new",
        json={
            "ClientId": cid,
            "Number": "EST-X",
            "IssuedOn": "2024-03-01",
            "ExpiresOn": "2024-03-31",
            "CurrencyId": 163,
            "Items": [{"WorkTypeId": wt, "Cost": 10, "Quantity": 1}],
        },
    ).json()
    assert client.post("/api/worktype/delete", json={"Id": wt}).status_code == 200
    invoice = client.post("/api/estimation/convert", json=est["Id"])
    assert invoice.status_code == 200, invoice.text
    assert "WorkTypeId" not in invoice.json()["Items"][0] and invoice.json()["TotalAmount"] == 10.0
    again = client.post("/api/estimation/convert", json=est["Id"])
    assert again.status_code == 400 and again.json()["ErrorMessages"][0]["Code"] == "AlreadyConverted"
