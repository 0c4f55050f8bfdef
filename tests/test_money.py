"""The amount rules (NOTES.md): item amounts, discounts, taxes, document sums, rounding to cents."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from envoice_mock.domain.money import cents, outstanding, price_document, price_item, sum_items

GB, GBP, ENGLISH = 235, 170, 1


def _dec(value: float) -> Decimal:
    return Decimal(str(value))


def _consistent(item: dict[str, Any]) -> bool:
    """Total == SubTotal - Discount + Tax, exactly, on the amounts as reported."""
    total = _dec(item["SubTotalAmount"]) - _dec(item.get("DiscountAmount", 0)) + _dec(item["TaxAmount"])
    return total == _dec(item["TotalAmount"])


# --- rounding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.125, 0.13),
        (0.135, 0.14),
        (1.005, 1.01),
        (2.675, 2.68),
        (2.674999, 2.67),
        (-1.005, -1.01),
        (10, 10.0),
        (Decimal("0.004999"), 0.0),
        (Decimal("123456789012345678901234567.555"), 123456789012345678901234567.56),
    ],
)
def test_cents_rounds_half_up(value: float | Decimal, expected: float) -> None:
    assert cents(value) == expected


# --- one item ------------------------------------------------------------------------------


def test_item_subtotal_is_cost_times_quantity() -> None:
    item = price_item({"Cost": 150.0, "Quantity": 3.0})
    assert item["SubTotalAmount"] == 450.0
    assert item["DiscountAmount"] == 0.0
    assert item["TaxAmount"] == 0.0
    assert item["TotalAmount"] == 450.0


def test_item_discount_then_tax_on_the_discounted_amount() -> None:
    item = price_item({"Cost": 100.0, "Quantity": 2.0, "DiscountPercentage": 10.0, "TaxPercentage": 20.0})
    assert item["SubTotalAmount"] == 200.0
    assert item["DiscountAmount"] == 20.0  # 200 x 10%
    assert item["TaxAmount"] == 36.0  # (200 - 20) x 20%
    assert item["TotalAmount"] == 216.0  # 200 - 20 + 36


def test_item_fractional_quantity() -> None:
    item = price_item({"Cost": 80.0, "Quantity": 1.5, "TaxPercentage": 21.0})
    assert item["SubTotalAmount"] == 120.0
    assert item["TaxAmount"] == 25.2
    assert item["TotalAmount"] == 145.2


def test_item_amounts_round_to_cents_and_add_up() -> None:
    # 19.99 x 3 = 59.97; discount 10% = 5.997 -> 6.00; tax 21% of 53.97 = 11.3337 -> 11.33
    item = price_item({"Cost": 19.99, "Quantity": 3.0, "DiscountPercentage": 10.0, "TaxPercentage": 21.0})
    assert item["SubTotalAmount"] == 59.97
    assert item["DiscountAmount"] == 6.0
    assert item["TaxAmount"] == 11.33
    assert item["TotalAmount"] == 65.3
    assert _consistent(item)


@pytest.mark.parametrize("cost", [0.01, 0.1, 0.333, 1.005, 9.995, 19.99, 33.33, 123.456, 999.999])
@pytest.mark.parametrize("quantity", [0.5, 1.0, 3.0, 7.25])
@pytest.mark.parametrize(("discount", "tax"), [(0.0, 0.0), (12.5, 20.0), (33.0, 8.5), (100.0, 19.0)])
def test_reported_item_amounts_always_satisfy_the_rules(
    cost: float, quantity: float, discount: float, tax: float
) -> None:
    item = price_item(
        {"Cost": cost, "Quantity": quantity, "DiscountPercentage": discount, "TaxPercentage": tax}
    )
    subtotal, disc, tax_amount = (_dec(item[k]) for k in ("SubTotalAmount", "DiscountAmount", "TaxAmount"))
    assert abs(subtotal - _dec(cost) * _dec(quantity)) <= Decimal("0.005")
    assert abs(disc - subtotal * _dec(discount) / 100) <= Decimal("0.005")
    assert abs(tax_amount - (subtotal - disc) * _dec(tax) / 100) <= Decimal("0.005")
    assert _consistent(item)
    for key in ("SubTotalAmount", "DiscountAmount", "TaxAmount", "TotalAmount"):
        assert _dec(item[key]) == _dec(item[key]).quantize(Decimal("0.01")), key


def test_full_discount_leaves_nothing_to_tax() -> None:
    item = price_item({"Cost": 50.0, "Quantity": 2.0, "DiscountPercentage": 100.0, "TaxPercentage": 20.0})
    assert (item["DiscountAmount"], item["TaxAmount"], item["TotalAmount"]) == (100.0, 0.0, 0.0)


def test_missing_quantity_counts_as_zero_for_documents() -> None:
    assert price_item({"Cost": 12.0})["TotalAmount"] == 0.0


# --- documents -----------------------------------------------------------------------------


def test_document_amounts_are_the_sums_over_items() -> None:
    doc = {
        "Items": [
            {"Cost": 150.0, "Quantity": 3.0},
            {"Cost": 80.0, "Quantity": 1.5, "DiscountPercentage": 10.0, "TaxPercentage": 20.0},
            {"Cost": 19.99, "Quantity": 3.0, "DiscountPercentage": 10.0, "TaxPercentage": 21.0},
        ]
    }
    price_document(doc, "items")
    assert doc["SubTotalAmount"] == 450.0 + 120.0 + 59.97
    assert doc["DiscountAmount"] == 12.0 + 6.0
    assert doc["TaxAmount"] == 21.6 + 11.33
    assert doc["TotalAmount"] == 450.0 + 129.6 + 65.3
    for key in ("SubTotalAmount", "DiscountAmount", "TaxAmount", "TotalAmount"):
        assert _dec(doc[key]) == sum((_dec(i[key]) for i in doc["Items"]), Decimal(0))
    assert _consistent(doc)


def test_document_sums_do_not_drift_with_many_small_items() -> None:
    doc = {"Items": [{"Cost": 0.1, "Quantity": 1.0, "TaxPercentage": 10.0} for _ in range(30)]}
    price_document(doc, "items")
    assert doc["SubTotalAmount"] == 3.0
    assert doc["TaxAmount"] == 0.3  # 30 x 0.01
    assert doc["TotalAmount"] == 3.3


def test_document_without_items_is_zero() -> None:
    doc = price_document({"Items": []}, "items")
    assert (doc["SubTotalAmount"], doc["TaxAmount"], doc["TotalAmount"]) == (0.0, 0.0, 0.0)


def test_pricing_is_idempotent() -> None:
    doc = {"Items": [{"Cost": 19.99, "Quantity": 3.0, "DiscountPercentage": 10.0, "TaxPercentage": 21.0}]}
    once = price_document(doc, "items")["TotalAmount"]
    assert price_document(doc, "items")["TotalAmount"] == once == 65.3


def test_order_amounts_use_the_order_discount_and_shipping() -> None:
    doc = {
        "DiscountAmount": 5.0,
        "ShippingAmount": 7.5,
        "Items": [{"Cost": 49.0, "Quantity": 2.0, "TaxPercentage": 20.0}],
    }
    price_document(doc, "order")
    assert doc["SubTotalAmount"] == 98.0
    assert doc["TaxAmount"] == 19.6
    assert doc["TotalAmount"] == 98.0 - 5.0 + 19.6
    assert doc["TotalWithShipping"] == 98.0 - 5.0 + 19.6 + 7.5
    assert "DiscountAmount" not in doc["Items"][0]


def test_product_amounts_use_the_minimum_quantity() -> None:
    doc = {
        "ShippingAmount": 10.0,
        "Items": [
            {"Cost": 99.0, "MinimumQuantity": 2.0, "TaxPercentage": 20.0},
            {"Cost": 19.0},  # no minimum quantity: one unit
        ],
    }
    price_document(doc, "product")
    assert [i["SubTotalAmount"] for i in doc["Items"]] == [198.0, 19.0]
    assert doc["SubTotalAmount"] == 217.0
    assert doc["TotalAmount"] == 198.0 + 39.6 + 19.0
    assert doc["TotalWithShipping"] == 198.0 + 39.6 + 19.0 + 10.0


def test_unknown_amounts_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown amounts rule"):
        price_document({}, "magic")


def test_sum_items_rounds_the_exact_sum() -> None:
    items = [{"TotalAmount": 0.1}, {"TotalAmount": 0.2}, {"TotalAmount": None}, {}]
    assert sum_items(items, "TotalAmount") == {"TotalAmount": 0.3}


def test_outstanding_is_total_minus_payments() -> None:
    invoice = {"TotalAmount": 100.0, "Payments": [{"Amount": 30.1}, {"Amount": 19.9}]}
    assert outstanding(invoice) == 50.0
    assert outstanding({"TotalAmount": 10.0, "Payments": [{"Amount": 12.0}]}) == 0.0
    assert outstanding({"TotalAmount": 10.0}) == 10.0


# --- through the API -----------------------------------------------------------------------


@pytest.fixture
def billing(client: TestClient) -> dict[str, int]:
    """A work type, a 20% tax and a client to bill."""
    worktype = client.post("/api/worktype/new", json={"Title": "Consulting"}).json()
    tax = client.post("/api/tax/new", json={"Name": "VAT 20", "Percentage": 20}).json()
    customer = client.post(
        "/api/client/new",
        json={
            "Name": "Ledger & Sons",
            "Email": "accounts@ledger.test",
            "ClientCurrencyId": GBP,
            "ClientCountryId": GB,
            "UiLanguageId": ENGLISH,
        },
    ).json()
    return {"worktype": worktype, "tax": tax, "client": customer}


def _invoice(billing: dict[str, int], items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "ClientId": billing["client"],
        "Number": "INV-M-1",
        "IssuedOn": "2024-03-01T12:00:00+00:00",
        "Duedate": "2024-03-31T12:00:00+00:00",
        "CurrencyId": GBP,
        "Status": "Draft",
        "Items": items,
    }


def test_invoice_amounts_through_the_api(client: TestClient, billing: dict[str, int]) -> None:
    items = [
        {"WorkTypeId": billing["worktype"], "Cost": 150, "Quantity": 3},
        {
            "WorkTypeId": billing["worktype"],
            "Cost": 19.99,
            "Quantity": 3,
            "DiscountPercentage": 10,
            "TaxId": billing["tax"],
        },
    ]
    r = client.post("/api/invoice/new", json=_invoice(billing, items))
    assert r.status_code == 200, r.text
    invoice = r.json()
    first, second = invoice["Items"]
    assert (first["SubTotalAmount"], first["TaxAmount"], first["TotalAmount"]) == (450.0, 0.0, 450.0)
    assert second["TaxPercentage"] == 20.0  # taken from the tax
    assert second["SubTotalAmount"] == 59.97
    assert second["DiscountAmount"] == 6.0
    assert second["TaxAmount"] == 10.79  # (59.97 - 6.00) x 20% = 10.794
    assert second["TotalAmount"] == 64.76
    assert invoice["SubTotalAmount"] == 509.97
    assert invoice["DiscountAmount"] == 6.0
    assert invoice["TaxAmount"] == 10.79
    assert invoice["TotalAmount"] == 514.76


def test_explicit_tax_percentage_wins_over_the_tax(client: TestClient, billing: dict[str, int]) -> None:
    items = [{"Cost": 100, "Quantity": 1, "TaxId": billing["tax"], "TaxPercentage": 5}]
    invoice = client.post("/api/invoice/new", json=_invoice(billing, items)).json()
    assert invoice["Items"][0]["TaxPercentage"] == 5.0
    assert invoice["TaxAmount"] == 5.0


def test_updating_items_reprices_the_invoice(client: TestClient, billing: dict[str, int]) -> None:
    created = client.post("/api/invoice/new", json=_invoice(billing, [{"Cost": 10, "Quantity": 1}])).json()
    assert created["TotalAmount"] == 10.0
    r = client.post(
        "/api/invoice/update",
        json={"Id": created["Id"], "Items": [{"Cost": 12.5, "Quantity": 4, "TaxPercentage": 10}]},
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["SubTotalAmount"] == 50.0
    assert updated["TaxAmount"] == 5.0
    assert updated["TotalAmount"] == 55.0
    assert client.get("/api/invoice/details", params={"id": created["Id"]}).json()["TotalAmount"] == 55.0


def test_order_and_product_amounts_through_the_api(client: TestClient) -> None:
    product_id = client.post(
        "/api/product/new",
        json={
            "Name": "Logo pack",
            "CurrencyId": GBP,
            "ShippingAmount": 5,
            "Items": [{"Cost": 49.5, "MinimumQuantity": 2, "TaxPercentage": 20}],
        },
    ).json()
    product = client.get("/api/product/details", params={"id": product_id}).json()
    assert product["SubTotalAmount"] == 99.0
    assert product["TotalAmount"] == 118.8
    assert product["TotalWithShipping"] == 123.8

    order_id = client.post(
        "/api/order/new",
        json={
            "Name": "Logo pack",
            "CurrencyId": GBP,
            "ProductId": product_id,
            "DiscountAmount": 10,
            "ShippingAmount": 5,
            "Items": [{"Cost": 49.5, "Quantity": 2, "TaxPercentage": 20}],
        },
    ).json()
    order = client.get("/api/order/details", params={"id": order_id}).json()
    assert order["SubTotalAmount"] == 99.0
    assert order["TaxAmount"] == 19.8
    assert order["DiscountAmount"] == 10.0
    assert order["TotalAmount"] == 108.8
    assert order["TotalWithShipping"] == 113.8


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"Cost": -1, "Quantity": 1}, "Items[0].Cost"),
        ({"Cost": 1, "Quantity": -2}, "Items[0].Quantity"),
        ({"Cost": 1, "Quantity": 1, "DiscountPercentage": 150}, "Items[0].DiscountPercentage"),
        ({"Cost": 1e13, "Quantity": 1}, "Items[0].Cost"),
        ({"Cost": 1e300, "Quantity": 1e300}, "Items[0].Quantity"),
    ],
)
def test_impossible_figures_are_refused(
    client: TestClient, billing: dict[str, int], item: dict[str, Any], field: str
) -> None:
    r = client.post("/api/invoice/new", json=_invoice(billing, [item]))
    assert r.status_code == 400, r.text
    assert r.json()["ErrorMessages"][0]["FaultMessage"].startswith(f"{field}:")


def test_largest_figures_still_price_exactly(client: TestClient, billing: dict[str, int]) -> None:
    items = [{"Cost": 1e12, "Quantity": 1e12, "TaxPercentage": 100}] * 3
    r = client.post("/api/invoice/new", json=_invoice(billing, items))
    assert r.status_code == 200, r.text
    assert r.json()["TotalAmount"] == 6e24
