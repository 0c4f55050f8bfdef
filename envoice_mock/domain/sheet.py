"""What a shared document shows, as a person would read it: who bills whom, dates, status, item
lines (quantity x unit price = line amount), the totals as separate rows, and how to pay.

The share page (pages.py) and the PDF (pdfdoc.py) both draw a `Sheet`, so they always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from envoice_mock.clock import parse_iso
from envoice_mock.domain.money import cents, outstanding
from envoice_mock.fakedata import SeededSource
from envoice_mock.spec import Spec

if TYPE_CHECKING:
    from envoice_mock.domain.store import Account, Store

TITLES = {"invoice": "Invoice", "estimation": "Estimate", "order": "Order", "paymentlink": "Payment request"}
PAYABLE_STATUSES = ("Unpaid", "Overdue")


@dataclass(frozen=True)
class Party:
    """The business or the client: a name and the lines under it."""

    name: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Line:
    """One item: quantity x unit price = amount, with the item's discount and tax rates."""

    description: str
    quantity: str
    unit_price: str
    amount: str
    discount: str = ""
    tax: str = ""


@dataclass(frozen=True)
class Total:
    """One row of the totals block."""

    label: str
    amount: str
    strong: bool = False


@dataclass(frozen=True)
class Sheet:
    """Everything a shared document shows."""

    kind: str
    title: str
    number: str
    status: str
    business: Party
    client: Party | None
    dates: tuple[tuple[str, str], ...]
    lines: tuple[Line, ...]
    totals: tuple[Total, ...]
    currency: str
    gateways: tuple[tuple[str, str], ...]  # (name, display name)
    payable: bool
    notes: tuple[str, ...] = field(default_factory=tuple)


def money(amount: Any, currency: dict[str, Any] | None) -> str:
    """`£1,234.50`, `1,234.50 zł`: a one-character symbol before the amount, a longer one after."""
    value = f"{cents(float(amount or 0)):,.2f}"
    symbol = (currency or {}).get("Symbol") or (currency or {}).get("Code") or ""
    if not symbol:
        return value
    return f"{symbol}{value}" if len(symbol) == 1 else f"{value} {symbol}"


def quantity(value: Any) -> str:
    """`5`, `12.5`, `1,200`: no needless decimals."""
    number = Decimal(str(value or 0)).normalize()
    text = f"{number:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(value: Any) -> str:
    """`20%`, `8.5%`, or empty for none."""
    return f"{quantity(value)}%" if value else ""


def date(text: Any) -> str:
    """`31 Jan 2024` from an ISO instant."""
    return parse_iso(str(text)).strftime("%d %b %Y") if text else ""


def business_of(store: Store, account: Account) -> Party:
    """The account's business: seeded per account, stable for the seed."""
    fake = SeededSource(store.settings.seed, "business", account.key).faker()
    name = fake.company()
    domain = fake.domain_name()
    return Party(name, (*fake.address().split("\n"), f"billing@{domain}", fake.phone_number()))


def client_of(kind: str, doc: dict[str, Any]) -> Party | None:
    """Who the document is for: the client, or an order's billing details."""
    client = doc.get("Client") or (doc.get("OrderBillingDetails") if kind == "order" else None)
    if not client:
        return None
    lines = [*(client.get("Address") or "").split(", ")]
    lines += [client.get("Email") or "", f"VAT {client['Vat']}" if client.get("Vat") else ""]
    return Party(client.get("Name") or "", tuple(line for line in lines if line))


def build_sheet(store: Store, account: Account, kind: str, doc: dict[str, Any]) -> Sheet:
    """The sheet of a document view (store.view: joins filled in)."""
    currency = doc.get("Currency")
    lines = sheet_lines(account, doc, currency)
    totals, payable = sheet_totals(kind, doc, currency)
    dates = [
        (label, date(doc.get(key)))
        for label, key in (
            ("Issued", "IssuedOn"),
            ("Due", "Duedate"),
            ("Valid until", "ExpiresOn"),
            ("Placed", "CreatedOn" if kind == "order" else ""),
        )
        if key and doc.get(key)
    ]
    gateways = tuple(
        (g["Name"], gateway_label(store.spec, g["Name"]))
        for g in doc.get("PaymentGateways") or []
        if isinstance(g.get("Name"), str)
    )
    notes = tuple(text for text in (doc.get("Notes"), doc.get("Terms")) if text)
    return Sheet(
        kind=kind,
        title=TITLES.get(kind, kind.capitalize()),
        number=str(doc.get("Number") or doc.get("Name") or doc["Id"]),
        status=str(doc.get("Status") or ""),
        business=business_of(store, account),
        client=client_of(kind, doc),
        dates=tuple(dates),
        lines=tuple(lines),
        totals=tuple(totals),
        currency=f"{(currency or {}).get('Code', '')}",
        gateways=gateways,
        payable=payable,
        notes=notes,
    )


def sheet_lines(account: Account, doc: dict[str, Any], currency: Any) -> list[Line]:
    """The item lines: quantity x unit price = line amount, with discount and tax."""
    worktypes = account.table("worktype")
    lines = []
    for item in doc.get("Items") or []:
        qty = item.get("Quantity", item.get("MinimumQuantity", 1))
        title = (worktypes.get(item.get("WorkTypeId")) or {}).get("Title")
        lines.append(
            Line(
                description=item.get("Description") or title or "Item",
                quantity=quantity(qty),
                unit_price=money(item.get("Cost"), currency),
                amount=money(item.get("SubTotalAmount", (item.get("Cost") or 0) * (qty or 0)), currency),
                discount=percent(item.get("DiscountPercentage")),
                tax=percent(item.get("TaxPercentage")),
            )
        )
    return lines


def sheet_totals(kind: str, doc: dict[str, Any], currency: Any) -> tuple[list[Total], bool]:
    """The total rows (an invoice's paid and due amounts included) and whether it can be paid now."""
    totals = [Total("Subtotal", money(doc.get("SubTotalAmount"), currency))]
    if doc.get("DiscountAmount"):
        totals.append(Total("Discount", "−" + money(doc["DiscountAmount"], currency)))
    totals.append(Total("Tax", money(doc.get("TaxAmount"), currency)))
    if kind == "order" and doc.get("ShippingAmount"):
        totals.append(Total("Shipping", money(doc["ShippingAmount"], currency)))
        totals.append(Total("Total", money(doc.get("TotalWithShipping"), currency), strong=True))
    else:
        totals.append(Total("Total", money(doc.get("TotalAmount"), currency), strong=True))
    payable = False
    if kind == "invoice":
        paid = sum(float(p.get("Amount") or 0) for p in doc.get("Payments") or [])
        if paid:
            totals.append(Total("Paid", "−" + money(paid, currency)))
        due = outstanding(doc)
        totals.append(Total("Amount due", money(due, currency), strong=True))
        payable = doc.get("Status") in PAYABLE_STATUSES and due > 0
    return totals, payable


def gateway_label(spec: Spec, name: str) -> str:
    """How a page names a payment gateway (payments.yaml), or the name capitalised."""
    return spec.gateway_payments.get(name, {}).get("label") or name.capitalize()
