"""Line and document amounts, by the rules the real service uses.

Per item: SubTotal = Cost x Quantity; Discount = SubTotal x Discount% / 100;
Tax = (SubTotal - Discount) x Tax% / 100; Total = SubTotal - Discount + Tax.
A document's amounts are the sums over its items. Amounts are rounded half-up to cents.
"""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

CENT = Decimal("0.01")
# Quantizing needs room for every digit of the result; the default 28 overflows on big sums.
_WIDE = Context(prec=80)


def cents(value: float | Decimal) -> float:
    """Round half-up to two decimals."""
    return _cents_of(str(value))


# The same figures come back again and again, so roundings and line amounts are remembered,
# keyed by the figures' text (not their value: 0 and -0.0 are equal, yet print differently).
@functools.lru_cache(maxsize=8192)
def _cents_of(text: str) -> float:
    return float(Decimal(text).quantize(CENT, rounding=ROUND_HALF_UP, context=_WIDE))


def _to_cent(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP, context=_WIDE)


def price_item(item: dict[str, Any], quantity_field: str = "Quantity") -> dict[str, Any]:
    """Fill an item's SubTotal, Discount, Tax and Total amounts in place; returns it."""
    subtotal, discount, tax, total = _item_amounts(
        str(item.get("Cost") or 0),
        str(item.get(quantity_field) or (1 if quantity_field != "Quantity" else 0)),
        str(item.get("DiscountPercentage") or 0),
        str(item.get("TaxPercentage") or 0),
    )
    item["SubTotalAmount"] = subtotal
    if "DiscountPercentage" in item or quantity_field == "Quantity":
        item["DiscountAmount"] = discount
    item["TaxAmount"] = tax
    item["TotalAmount"] = total
    return item


@functools.lru_cache(maxsize=8192)
def _item_amounts(cost: str, quantity: str, discount_pct: str, tax_pct: str) -> tuple[float, ...]:
    """(SubTotal, Discount, Tax, Total) of one line from its figures' text."""
    # Each amount is rounded before the next is derived from it, so the amounts as reported
    # satisfy the rules exactly: Total == SubTotal - Discount + Tax, to the cent.
    subtotal = _to_cent(Decimal(cost) * Decimal(quantity))
    discount = _to_cent(subtotal * Decimal(discount_pct) / 100)
    tax = _to_cent((subtotal - discount) * Decimal(tax_pct) / 100)
    return float(subtotal), float(discount), float(tax), float(subtotal - discount + tax)


def sum_items(items: list[dict[str, Any]], *fields: str) -> dict[str, float]:
    """Sum the named amount fields over items, exactly, then round."""
    totals = {f: sum((Decimal(str(i.get(f) or 0)) for i in items), Decimal(0)) for f in fields}
    return {f: cents(v) for f, v in totals.items()}


def price_document(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    """Recompute every amount of a document of `kind` (items | order | product) in place."""
    items = doc.get("Items") or []
    if kind == "items":
        for item in items:
            price_item(item)
        doc.update(sum_items(items, "SubTotalAmount", "DiscountAmount", "TaxAmount", "TotalAmount"))
    elif kind == "order":
        for item in items:
            price_item(item)
            item.pop("DiscountAmount", None)
        sums = sum_items(items, "SubTotalAmount", "TaxAmount")
        discount = Decimal(str(doc.get("DiscountAmount") or 0))
        shipping = Decimal(str(doc.get("ShippingAmount") or 0))
        total = Decimal(str(sums["SubTotalAmount"])) - discount + Decimal(str(sums["TaxAmount"]))
        doc.update(sums, DiscountAmount=cents(discount), TotalAmount=cents(total))
        doc["TotalWithShipping"] = cents(total + shipping)
    elif kind == "product":
        for item in items:
            price_item(item, quantity_field="MinimumQuantity")
            item.pop("DiscountAmount", None)
        sums = sum_items(items, "SubTotalAmount", "TotalAmount")
        shipping = Decimal(str(doc.get("ShippingAmount") or 0))
        doc.update(sums)
        doc["TotalWithShipping"] = cents(Decimal(str(sums["TotalAmount"])) + shipping)
    else:
        raise ValueError(f"unknown amounts rule {kind!r}")
    return doc


def outstanding(invoice: dict[str, Any]) -> float:
    """What is still to be paid on an invoice."""
    paid = sum((Decimal(str(p.get("Amount") or 0)) for p in invoice.get("Payments") or []), Decimal(0))
    return max(0.0, cents(Decimal(str(invoice.get("TotalAmount") or 0)) - paid))
