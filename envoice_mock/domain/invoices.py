"""The rules only invoices follow, in one place.

Sending a draft by email makes it Unpaid; marking it Paid records a payment of what was
outstanding; a payment that settles it makes it Paid; an unpaid invoice whose due date passed
becomes Overdue (the sweep); an estimation converts into a draft invoice. The store applies
these rules; they decide, it writes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from envoice_mock.clock import iso, parse_iso
from envoice_mock.domain.accounts import Account
from envoice_mock.domain.errors import StoreError
from envoice_mock.domain.money import outstanding
from envoice_mock.domain.rules import clone


def check_sendable(row: dict[str, Any]) -> None:
    """A void invoice cannot be sent."""
    if row.get("Status") == "Void":
        raise StoreError(
            f"Invoice {row['Number']} is void and cannot be sent.", field="Id", code="InvalidState"
        )


def becomes_unpaid_when_sent(row: dict[str, Any], activity_type: str) -> bool:
    """Whether sending this way makes the invoice Unpaid (a draft sent by email)."""
    return row.get("Status") == "Draft" and activity_type == "SentViaEmail"


def check_payable(row: dict[str, Any], amount: float | None) -> float:
    """The amount a payment pays (what is outstanding when none is given); refused when the
    invoice cannot be paid or the amount is out of range."""
    if row.get("Status") in ("Void", "Draft"):
        raise StoreError(
            f"Invoice {row['Number']} is {row['Status']} and cannot be paid.", field="Id", code="InvalidState"
        )
    due = outstanding(row)
    if due <= 0:
        raise StoreError(
            f"Invoice {row['Number']} is already paid: nothing is outstanding.",
            field="Id",
            code="InvalidState",
        )
    amount = due if amount is None else amount
    if amount <= 0 or amount > due + 1e-9:
        raise StoreError(f"Amount must be between 0 and the {due:.2f} outstanding.", field="amount")
    return amount


def payment_type(gateway: str | None, payment_types: dict[str, str]) -> tuple[str, str] | None:
    """(gateway name, payment type) of a gateway payment; None for a manual one."""
    if not gateway:
        return None
    name = gateway.lower() if isinstance(gateway, str) else ""
    if name not in payment_types:
        raise StoreError(f"Unknown payment gateway {gateway!r}.", field="gateway")
    return name, payment_types[name]


def add_payment(
    account: Account,
    row: dict[str, Any],
    ptype: str,
    amount: float,
    now: datetime,
    note: str | None = None,
    automatic: bool = False,
) -> None:
    """Append a payment of `amount` to the invoice (nothing for a zero amount)."""
    if amount <= 0:
        return
    payment = {
        "Id": account.next_id("payment"),
        "Amount": amount,
        "PaidOn": iso(now),
        "Type": ptype,
        "IsAutomatic": automatic,
        "ReferenceId": f"PAY-{account.sequences.get('payment', 0):06d}",
    }
    if note:
        payment["Note"] = note
    row.setdefault("Payments", []).append(payment)


def on_status_change(account: Account, kind: str, row: dict[str, Any], status: str, now: datetime) -> None:
    """An invoice marked Paid gets a payment of what was outstanding."""
    if kind == "invoice" and status == "Paid":
        add_payment(account, row, "Other", outstanding(row), now, note="Marked as paid")


def settled(row: dict[str, Any]) -> bool:
    """Whether nothing is outstanding any more."""
    return outstanding(row) <= 0


def index_due(account: Account, row: dict[str, Any]) -> None:
    """Remember when an unpaid invoice falls due (the sweep skips stale entries)."""
    if row.get("Status") == "Unpaid" and row.get("Duedate"):
        heapq.heappush(account.due_heap, (parse_iso(row["Duedate"]).timestamp(), row["Id"]))


def fallen_due(account: Account, now: float) -> Iterator[dict[str, Any]]:
    """Pop, one at a time, the unpaid invoices that fell due before `now` (and after the account
    began); the caller moves each on before asking for the next."""
    heap = account.due_heap
    floor = parse_iso(account.sweep_floor).timestamp() if account.sweep_floor else 0.0
    while heap and heap[0][0] < now:
        due, obj_id = heapq.heappop(heap)
        row = account.table("invoice").get(obj_id)
        if (
            row is None
            or row.get("Status") != "Unpaid"
            or not row.get("Duedate")
            or due < floor
            or parse_iso(row["Duedate"]).timestamp() != due
        ):
            continue
        yield row


def check_convertible(account: Account, est: dict[str, Any]) -> None:
    """An estimation converts once."""
    if est.get("InvoiceId") in account.table("invoice"):
        raise StoreError(
            f"Estimation {est.get('Number')} was already converted to invoice {est['InvoiceId']}.",
            field="Id",
            code="AlreadyConverted",
        )


def invoice_from(account: Account, est: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The fields of the draft invoice an estimation converts into (due after the client's terms)."""
    client = account.table("client").get(est.get("ClientId", 0))
    due_days = (client or {}).get("DefaultDueDateInDays") or 15
    items = []
    for item in clone(est.get("Items") or []):
        item.pop("Id", None)
        # A work type or tax deleted since the estimation was written is dropped, not fatal.
        for ref, table in (("WorkTypeId", "worktype"), ("TaxId", "tax")):
            if ref in item and item[ref] not in account.table(table):
                del item[ref]
        items.append(item)
    data = {
        "ClientId": est.get("ClientId"),
        "CurrencyId": est.get("CurrencyId"),
        "IssuedOn": iso(now),
        "Duedate": iso(now + timedelta(days=due_days)),
        "Items": items,
        "Notes": est.get("Notes"),
        "Terms": est.get("Terms"),
        "PoNumber": est.get("PoNumber"),
        "PaymentGateways": clone(est.get("PaymentGateways") or []),
        "EstimationId": est["Id"],
        "Status": "Draft",
    }
    return {k: v for k, v in data.items() if v is not None}
