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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from envoice_mock.clock import iso, parse_iso
from envoice_mock.fakedata import FAKER_LOCK, SeededSource
from envoice_mock.spec import Resource

if TYPE_CHECKING:
    from envoice_mock.domain.store import Account, Store


@dataclass
class Seeding:
    """One account's seeding: where it writes, what it draws from, and when its history lies."""

    store: Store
    account: Account
    cfg: dict[str, Any]
    rng: random.Random
    fake: Any  # the account's seeded Faker
    anchor: datetime  # the end of the history
    span: float  # days of history before the anchor
    created: datetime  # the account's creation instant (the clock's now)
    worktypes: list[int] = field(default_factory=list)
    taxes: list[int] = field(default_factory=list)
    clients: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)

    def count(self, kind: str, default: int) -> int:
        """How many rows of `kind` to seed (seed.yaml `counts`)."""
        return int((self.cfg.get("counts") or {}).get(kind, default))

    def at(self, days_back: float) -> datetime:
        """Write what follows `days_back` days before the anchor; that instant."""
        moment = self.anchor - timedelta(days=days_back)
        self.store.replay_at(moment.replace(microsecond=0))
        return moment

    def later(self, start: datetime, days: float) -> None:
        """Write what follows `days` after `start`, but never past the end of the history."""
        at_later(self.store, start, days, end=self.anchor)

    def fate(self, table: str) -> str:
        """Draw a fate from a weighted table of seed.yaml."""
        return self.rng.choice(weighted(self.cfg[table]))


def seed_account(store: Store, account: Account) -> None:
    """Fill a fresh account with clients, work types, taxes, documents and their histories."""
    with FAKER_LOCK:  # one shared Faker: seedings in other threads wait their turn
        cfg = store.spec.seed
        src = SeededSource(store.settings.seed, "data", account.key)
        created = store.clock.now(account.key).replace(microsecond=0)
        anchor = min(parse_iso(str(cfg.get("anchor", "2024-01-01T00:00:00+00:00"))), created)
        span = float(cfg.get("history_days", 365))
        run = Seeding(store, account, cfg, src.rng, src.faker(), anchor, span, created)
        try:
            for step in SEED_STEPS:
                step(run)
            mark_overdue(store, account, created)
        finally:
            store.replay_at(None)


def seed_lists(run: Seeding) -> None:
    """Work types, taxes and categories, before any client."""
    store, account, cfg = run.store, run.account, run.cfg
    run.at(run.span + 5)
    run.worktypes = [
        store.create(account, "worktype", {"Title": t})["Id"]
        for t in (cfg.get("work_types") or [])[: run.count("worktypes", 8)]
    ]
    run.taxes = [
        store.create(account, "tax", dict(t))["Id"] for t in (cfg.get("taxes") or [])[: run.count("taxes", 4)]
    ]
    for name in (cfg.get("categories") or [])[: run.count("categories", 5)]:
        store.create(account, "category", {"Name": name})


def seed_clients(run: Seeding) -> None:
    """Clients, in the first days of the history."""
    rng, fake, cfg = run.rng, run.fake, run.cfg
    for _ in range(run.count("clients", 12)):
        run.at(rng.uniform(run.span, run.span + 5))
        company = fake.company()
        client = {
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
        }
        run.clients.append(run.store.create(run.account, "client", client))


def items(run: Seeding, n: int) -> list[dict[str, Any]]:
    """`n` item lines of work, some discounted, most taxed."""
    rng, out = run.rng, []
    for _ in range(n):
        item = {
            "WorkTypeId": rng.choice(run.worktypes) if run.worktypes else None,
            "Description": run.fake.catch_phrase(),
            "Cost": float(rng.choice([45, 60, 75, 90, 120, 150, 250, 400, 950, 1200])),
            "Quantity": float(rng.choice([1, 1, 2, 3, 5, 8, 10, 12.5, 20])),
        }
        if rng.random() < 0.2:
            item["DiscountPercentage"] = float(rng.choice([5, 10, 15]))
        if run.taxes and rng.random() < 0.7:
            item["TaxId"] = rng.choice(run.taxes)
        out.append({k: v for k, v in item.items() if v is not None})
    return out


def gateways(run: Seeding) -> list[dict[str, str]]:
    """A set of payment gateways a document offers."""
    return [{"Name": g} for g in run.rng.choice(run.cfg["gateway_sets"])]


def seed_estimations(run: Seeding) -> None:
    """Estimations spread over the history; some sent and then accepted or rejected."""
    store, account, rng = run.store, run.account, run.rng
    total = run.count("estimations", 15)
    for i in range(total):
        client = rng.choice(run.clients)
        issued = run.at(run.span - i * run.span / max(1, total) - rng.uniform(0, 5))
        est = store.create(
            account,
            "estimation",
            {
                "ClientId": client["Id"],
                "CurrencyId": client["ClientCurrencyId"],
                "IssuedOn": iso(issued),
                "ExpiresOn": iso(issued + timedelta(days=30)),
                "Items": items(run, rng.randint(1, 4)),
                "Notes": rng.choice(run.cfg["notes"]),
                "Terms": "Valid for 30 days.",
                "PaymentGateways": gateways(run),
            },
        )
        fate = run.fate("estimation_fates")
        if fate != "Draft":
            run.later(issued, rng.uniform(1, 10))
            store.send(account, "estimation", est["Id"], "EstimationSentViaEmail")
            store.change_status(account, "estimation", est["Id"], fate)


def seed_invoices(run: Seeding) -> None:
    """Invoices spread over the history, each living out its fate; the recent ones not yet due."""
    rng = run.rng
    total = run.count("invoices", 45)
    for i in range(total):
        client = rng.choice(run.clients)
        issued = run.at(run.span - i * run.span / max(1, total) - rng.uniform(0, 3))
        due = issued + timedelta(days=client.get("DefaultDueDateInDays") or 15)
        recent = i >= total - max(3, total // 6)
        fate = run.fate("recent_invoice_fates" if recent else "invoice_fates")
        if recent:
            due = max(due, run.anchor + timedelta(days=rng.randint(45, 75)))  # not due during a short story
        invoice = run.store.create(
            run.account,
            "invoice",
            {
                "ClientId": client["Id"],
                "CurrencyId": client["ClientCurrencyId"],
                "IssuedOn": iso(issued),
                "Duedate": iso(due),
                "Items": items(run, rng.randint(1, 5)),
                "Notes": rng.choice(run.cfg["notes"]),
                "Terms": rng.choice(["Payment within terms, please.", "Bank transfer or card.", ""]) or None,
                "PoNumber": f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.3 else None,
                "PaymentGateways": gateways(run),
                "InvoiceCategoryId": None,
            },
        )
        if fate != "Draft":
            live_invoice(run, invoice, issued, fate)


def live_invoice(run: Seeding, invoice: dict[str, Any], issued: datetime, fate: str) -> None:
    """Send an invoice, maybe have it viewed, then pay or void it as its fate says.

    Unpaid and Overdue fates stay unpaid: whether they are overdue is the clock's call (mark_overdue).
    """
    store, account, rng = run.store, run.account, run.rng
    run.later(issued, rng.uniform(0, 2))
    store.send(account, "invoice", invoice["Id"], "SentViaEmail")
    if rng.random() < 0.6:
        run.later(issued, rng.uniform(2, 5))
        store.record_event(account, "invoice", invoice["Id"], "viewed")
    if fate == "Paid":
        run.later(issued, rng.uniform(5, 14))
        names = [g["Name"] for g in invoice.get("PaymentGateways") or []]
        store.pay(account, invoice["Id"], gateway=rng.choice(names) if names else None)
    elif fate == "Void":
        run.later(issued, rng.uniform(3, 9))
        store.change_status(account, "invoice", invoice["Id"], "Void")


def seed_products(run: Seeding) -> None:
    """Products of the online shop, one every twenty days."""
    rng, names = run.rng, run.cfg["products"]
    for i in range(run.count("products", 8)):
        run.at(run.span - i * 20)
        product = {
            "Name": names[i % len(names)],
            "Description": run.fake.paragraph(nb_sentences=2),
            "CurrencyId": rng.choice(run.cfg.get("client_currencies") or [163]),
            "Items": [
                {
                    "Description": run.fake.bs().capitalize(),
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
        }
        run.products.append(run.store.create(run.account, "product", product))


def seed_orders(run: Seeding) -> None:
    """Orders of the products, each walked along its fate's route of statuses."""
    store, account, rng, fake = run.store, run.account, run.rng, run.fake
    routes = order_routes(store.spec.resources["order"], run.cfg["order_fates"])
    total = run.count("orders", 14)
    for i in range(total):
        product = rng.choice(run.products) if run.products else None
        placed = run.at(run.span - 30 - i * (run.span - 40) / max(1, total))
        buyer = {
            "Name": fake.name(),
            "Email": fake.free_email(),
            "Address": fake.address().replace("\n", ", "),
            "PhoneNumber": fake.phone_number(),
            "CountryId": rng.choice(run.cfg.get("client_countries") or [235]),
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
        for step, status in enumerate(routes[rng.choice(weighted(run.cfg["order_fates"]))], 1):
            run.later(placed, step * rng.uniform(0.5, 3))
            store.change_status(account, "order", order["Id"], status)


def seed_payment_links(run: Seeding) -> None:
    """Payment links, in the second half of the history."""
    for i in range(run.count("paymentlinks", 6)):
        client = run.rng.choice(run.clients)
        run.at(run.span / 2 - i * 10)
        run.store.create(
            run.account,
            "paymentlink",
            {
                "ClientId": client["Id"],
                "CurrencyId": client["ClientCurrencyId"],
                "Items": items(run, run.rng.randint(1, 2)),
            },
        )


# The steps of a seeding, in order (each draws from the one seeded source: the order matters).
SEED_STEPS: tuple[Callable[[Seeding], None], ...] = (
    seed_lists,
    seed_clients,
    seed_estimations,
    seed_invoices,
    seed_products,
    seed_orders,
    seed_payment_links,
)


def weighted(table: dict[str, Any]) -> list[str]:
    """A fate table of seed.yaml as a list to draw from: each fate repeated by its weight, in order."""
    out: list[str] = []
    for fate, entry in table.items():
        weight = entry.get("weight", 1) if isinstance(entry, dict) else entry
        out.extend([fate] * int(weight))
    return out


def order_routes(res: Resource, fates: dict[str, Any]) -> dict[str, list[str]]:
    """The statuses an order passes through to reach each fate: from the default status, by the
    shortest route the transitions allow, through each `via` status in turn."""
    start = str(res.defaults.get(res.status_field or "Status"))
    routes = {}
    for fate, entry in fates.items():
        route: list[str] = []
        here = start
        for stop in [*(entry.get("via") or []), fate]:
            route += shortest_route(res, here, stop)
            here = stop
        routes[fate] = route
    return routes


def shortest_route(res: Resource, start: str, goal: str) -> list[str]:
    """The statuses after `start` on the shortest way to `goal` (transitions tried in listed order)."""
    transitions = res.status.get("transitions", {})
    came_from: dict[str, str] = {start: start}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        if here == goal:
            route = []
            while here != start:
                route.append(here)
                here = came_from[here]
            return route[::-1]
        for nxt in transitions.get(here, []):
            if nxt not in came_from:
                came_from[nxt] = here
                queue.append(nxt)
    raise ValueError(f"no route from {start} to {goal} in the transitions of {res.name}")


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
