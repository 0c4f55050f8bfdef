"""Realistic starting data for an account, drawn from the seeded source.

Everything goes through the store's own create/transition code, so seeded documents carry
the same computed amounts and audit trails as ones made through the API. The history sits in
the year before the seed fixture's anchor (or before the clock, when the clock is earlier), so
it does not depend on the day the server runs, and no seeded event is dated after its end. The
data agrees with the clock when the account is created: an unpaid invoice whose due date has
passed by then is Overdue, with its Overdue activity dated at the due date (seeding is history:
it raises no webhooks).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from envoice_mock.clock import iso, parse_iso
from envoice_mock.fakedata import FAKER_LOCK, SeededSource

if TYPE_CHECKING:
    from envoice_mock.domain.store import Account, Store

INVOICE_FATES = ["Paid"] * 5 + ["Unpaid"] * 3 + ["Overdue"] * 2 + ["Draft"] * 2 + ["Void"]
RECENT_FATES = ["Unpaid", "Unpaid", "Unpaid", "Draft", "Paid"]
ESTIMATION_FATES = ["Draft", "Draft", "Accepted", "Accepted", "Rejected"]
ORDER_FATES = [
    "PendingPayment",
    "Processing",
    "Shipped",
    "Completed",
    "Completed",
    "OnHold",
    "Cancelled",
    "Refunded",
]
GATEWAY_SETS = [["paypal"], ["stripe"], ["paypal", "stripe"], ["payoneer"], []]
NOTES = [
    "Thank you for your business.",
    "Please quote the invoice number with your payment.",
    "Work delivered as agreed.",
    "Questions? Reply to this email.",
    "Late payments incur 2% monthly interest.",
]
PRODUCTS = [
    "E-book: Invoicing for freelancers",
    "Logo design package",
    "Website audit",
    "SEO starter kit",
    "Monthly hosting plan",
    "Brand workshop",
    "Conference ticket",
    "Support hours bundle",
]


def seed_account(store: Store, account: Account) -> None:
    """Fill a fresh account with clients, work types, taxes, documents and their histories."""
    with FAKER_LOCK:  # one shared Faker: seedings in other threads wait their turn
        _seed_account(store, account)


def _seed_account(store: Store, account: Account) -> None:
    cfg = store.spec.seed
    src = SeededSource(store.settings.seed, "data", account.key)
    rng = src.rng
    fake = src.faker()
    created = store.clock.now(account.key).replace(microsecond=0)
    anchor = min(parse_iso(str(cfg.get("anchor", "2024-01-01T00:00:00+00:00"))), created)
    span = float(cfg.get("history_days", 365))
    counts: dict[str, int] = cfg.get("counts") or {}

    def at(days_back: float) -> datetime:
        moment = anchor - timedelta(days=days_back)
        store.replay_at(moment.replace(microsecond=0))
        return moment

    try:
        at(span + 5)
        worktypes = [
            store.create(account, "worktype", {"Title": t})["Id"]
            for t in (cfg.get("work_types") or [])[: counts.get("worktypes", 8)]
        ]
        taxes = [
            store.create(account, "tax", dict(t))["Id"]
            for t in (cfg.get("taxes") or [])[: counts.get("taxes", 4)]
        ]
        for name in (cfg.get("categories") or [])[: counts.get("categories", 5)]:
            store.create(account, "category", {"Name": name})
        clients = []
        for _ in range(counts.get("clients", 12)):
            at(rng.uniform(span, span + 5))
            company = fake.company()
            clients.append(
                store.create(
                    account,
                    "client",
                    {
                        "Name": company,
                        "Email": f"billing@{fake.domain_name()}",
                        "Address": fake.address().replace("\n", ", "),
                        "PhoneNumber": fake.phone_number(),
                        "Vat": vat_number(rng),
                        "CompanyRegistrationNumber": f"{rng.randint(1_000_000, 9_999_999):08d}",
                        "ClientCurrencyId": rng.choice(cfg.get("client_currencies") or [163]),
                        "ClientCountryId": rng.choice(cfg.get("client_countries") or [235]),
                        "UiLanguageId": rng.choice(cfg.get("client_languages") or [1]),
                        "DefaultDueDateInDays": rng.choice([7, 14, 15, 30]),
                        "AdditionalEmails": [{"Email": fake.company_email()}] if rng.random() < 0.3 else [],
                    },
                )
            )

        def items(n: int) -> list[dict[str, Any]]:
            out = []
            for _ in range(n):
                item = {
                    "WorkTypeId": rng.choice(worktypes) if worktypes else None,
                    "Description": fake.catch_phrase(),
                    "Cost": float(rng.choice([45, 60, 75, 90, 120, 150, 250, 400, 950, 1200])),
                    "Quantity": float(rng.choice([1, 1, 2, 3, 5, 8, 10, 12.5, 20])),
                }
                if rng.random() < 0.2:
                    item["DiscountPercentage"] = float(rng.choice([5, 10, 15]))
                if taxes and rng.random() < 0.7:
                    item["TaxId"] = rng.choice(taxes)
                out.append({k: v for k, v in item.items() if v is not None})
            return out

        for i in range(counts.get("estimations", 15)):
            client = rng.choice(clients)
            issued = at(span - i * span / max(1, counts.get("estimations", 15)) - rng.uniform(0, 5))
            est = store.create(
                account,
                "estimation",
                {
                    "ClientId": client["Id"],
                    "CurrencyId": client["ClientCurrencyId"],
                    "IssuedOn": iso(issued),
                    "ExpiresOn": iso(issued + timedelta(days=30)),
                    "Items": items(rng.randint(1, 4)),
                    "Notes": rng.choice(NOTES),
                    "Terms": "Valid for 30 days.",
                    "PaymentGateways": [{"Name": g} for g in rng.choice(GATEWAY_SETS)],
                },
            )
            fate = rng.choice(ESTIMATION_FATES)
            if fate != "Draft":
                at_later(store, issued, rng.uniform(1, 10), end=anchor)
                store.send(account, "estimation", est["Id"], "EstimationSentViaEmail")
                store.change_status(account, "estimation", est["Id"], fate)

        n_invoices = counts.get("invoices", 45)
        for i in range(n_invoices):
            client = rng.choice(clients)
            issued = at(span - i * span / max(1, n_invoices) - rng.uniform(0, 3))
            due = issued + timedelta(days=client.get("DefaultDueDateInDays") or 15)
            recent = i >= n_invoices - max(3, n_invoices // 6)
            fate = rng.choice(RECENT_FATES if recent else INVOICE_FATES)
            if recent:
                due = max(due, anchor + timedelta(days=rng.randint(45, 75)))  # not due during a short story
            inv = store.create(
                account,
                "invoice",
                {
                    "ClientId": client["Id"],
                    "CurrencyId": client["ClientCurrencyId"],
                    "IssuedOn": iso(issued),
                    "Duedate": iso(due),
                    "Items": items(rng.randint(1, 5)),
                    "Notes": rng.choice(NOTES),
                    "Terms": rng.choice(["Payment within terms, please.", "Bank transfer or card.", ""])
                    or None,
                    "PoNumber": f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.3 else None,
                    "PaymentGateways": [{"Name": g} for g in rng.choice(GATEWAY_SETS)],
                    "InvoiceCategoryId": None,
                },
            )
            if fate == "Draft":
                continue
            at_later(store, issued, rng.uniform(0, 2), end=anchor)
            store.send(account, "invoice", inv["Id"], "SentViaEmail")
            if rng.random() < 0.6:
                at_later(store, issued, rng.uniform(2, 5), end=anchor)
                store.record_event(account, "invoice", inv["Id"], "viewed")
            if fate == "Paid":
                at_later(store, issued, rng.uniform(5, 14), end=anchor)
                gateways = [g["Name"] for g in inv.get("PaymentGateways") or []]
                store.pay(account, inv["Id"], gateway=rng.choice(gateways) if gateways else None)
            elif fate == "Void":
                at_later(store, issued, rng.uniform(3, 9), end=anchor)
                store.change_status(account, "invoice", inv["Id"], "Void")
            # Unpaid and Overdue fates stay unpaid: whether they are overdue is the clock's call, below.

        products = []
        for i in range(counts.get("products", 8)):
            at(span - i * 20)
            products.append(
                store.create(
                    account,
                    "product",
                    {
                        "Name": PRODUCTS[i % len(PRODUCTS)],
                        "Description": fake.paragraph(nb_sentences=2),
                        "CurrencyId": rng.choice(cfg.get("client_currencies") or [163]),
                        "Items": [
                            {
                                "Description": fake.bs().capitalize(),
                                "Cost": float(rng.choice([19, 49, 99, 199, 499])),
                                "MinimumQuantity": 1.0,
                                "ReferenceId": f"SKU-{rng.randint(10000, 99999)}",
                            }
                        ],
                        "Status": rng.choice(["Active", "Active", "Active", "NotAvailable", "Inactive"]),
                        "ButtonCallToAction": "Buy now",
                        "IsFeatured": rng.random() < 0.3,
                        "PaymentGateways": [{"Name": "stripe"}, {"Name": "paypal"}],
                        "ShippingAmount": float(rng.choice([0, 0, 5, 10])),
                    },
                )
            )
        for i in range(counts.get("orders", 14)):
            product = rng.choice(products) if products else None
            placed = at(span - 30 - i * (span - 40) / max(1, counts.get("orders", 14)))
            buyer = {
                "Name": fake.name(),
                "Email": fake.free_email(),
                "Address": fake.address().replace("\n", ", "),
                "PhoneNumber": fake.phone_number(),
                "CountryId": rng.choice(cfg.get("client_countries") or [235]),
            }
            order = store.create(
                account,
                "order",
                {
                    "Name": product["Name"] if product else "Order",
                    "ProductId": product["Id"] if product else None,
                    "CurrencyId": product["CurrencyId"] if product else 163,
                    "Items": [
                        {
                            "Description": (product or {}).get("Name", "Item"),
                            "Cost": (product or {}).get("SubTotalAmount", 49.0),
                            "Quantity": float(rng.randint(1, 3)),
                            "TaxPercentage": rng.choice([0.0, 20.0]),
                        }
                    ],
                    "ShippingAmount": (product or {}).get("ShippingAmount", 0.0),
                    "OrderBillingDetails": buyer,
                    "OrderShippingDetails": dict(buyer),
                    "Referral": rng.choice(["newsletter", "twitter", "", "partner"]) or None,
                },
            )
            fate = rng.choice(ORDER_FATES)
            path = {
                "PendingPayment": [],
                "Processing": ["Processing"],
                "Shipped": ["Processing", "Shipped"],
                "Completed": ["Processing", "Shipped", "Completed"],
                "OnHold": ["OnHold"],
                "Cancelled": ["Cancelled"],
                "Refunded": ["Processing", "Completed", "Refunded"],
            }[fate]
            for step, status in enumerate(path, 1):
                at_later(store, placed, step * rng.uniform(0.5, 3), end=anchor)
                store.change_status(account, "order", order["Id"], status)
        for i in range(counts.get("paymentlinks", 6)):
            client = rng.choice(clients)
            at(span / 2 - i * 10)
            store.create(
                account,
                "paymentlink",
                {
                    "ClientId": client["Id"],
                    "CurrencyId": client["ClientCurrencyId"],
                    "Items": items(rng.randint(1, 2)),
                },
            )
        mark_overdue(store, account, created)
    finally:
        store.replay_at(None)


def mark_overdue(store: Store, account: Account, now: datetime) -> None:
    """Unpaid invoices whose due date is before `now` become Overdue, each at its due date."""
    unpaid = [
        r for r in account.table("invoice").values() if r.get("Status") == "Unpaid" and r.get("Duedate")
    ]
    for row in sorted(unpaid, key=lambda r: (parse_iso(r["Duedate"]), r["Id"])):
        due = parse_iso(row["Duedate"])
        if due < now:
            store.replay_at(min(due + timedelta(seconds=1), now))
            store.change_status(account, "invoice", row["Id"], "Overdue")


def at_later(store: Store, start: datetime, days: float, end: datetime | None = None) -> None:
    """Set the seeding instant to `days` after `start`, but never past `end` (the history's end)."""
    moment = (start + timedelta(days=days)).replace(microsecond=0)
    store.replay_at(min(moment, end) if end is not None else moment)


def vat_number(rng: random.Random) -> str:
    """A VAT number shaped like a European one."""
    return f"{rng.choice(['GB', 'DE', 'NL', 'FR'])}{rng.randint(100_000_000, 999_999_999)}"
