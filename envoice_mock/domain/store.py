"""Per-account state: CRUD, paging, search, status transitions and the activity log.

The store knows nothing of HTTP. Every state change that the real service audits records
an Activity and hands it to `on_activity` (the webhook engine listens there). An optional
journal (see persistence.py) is told of every write so that state survives a restart.
"""

from __future__ import annotations

import contextlib
import heapq
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Protocol

from envoice_mock.clock import Clock, iso, parse_iso
from envoice_mock.config import Settings
from envoice_mock.domain.atomic import UnitOfWork, atomic
from envoice_mock.domain.money import outstanding, price_document
from envoice_mock.domain.numbering import forget, holder_of, number_index, remember
from envoice_mock.fakedata import FAKER_LOCK, SeededSource, derive_seed
from envoice_mock.ids import derived_token
from envoice_mock.spec import Resource, Spec

DOCUMENT_ID_FIELDS = {
    "invoice": ("InvoiceId", "InvoiceNumber"),
    "estimation": ("EstimationId", "EstimationNumber"),
    "order": ("OrderId", "OrderNumber"),
}
# Each account draws its ids from its own block of ID_BLOCK ids per kind; ID_BLOCKS blocks fit
# below 2**31 (ids are 32-bit in the API).
ID_BLOCK = 100_000
ID_BLOCKS = 21_000
# The largest cost, quantity or amount a request may carry: keeps every computed amount
# finite and exact to the cent (a bigger figure is refused with a 400, never a 500).
MAX_FIGURE = 1e12
SHARE_PATHS = {
    "invoice": "invoice",
    "estimation": "estimation",
    "paymentlink": "paymentlink",
    "order": "order",
}
# How an error names a thing of a reference list.
REFERENCE_LABELS = {
    "currencies": "currency",
    "countries": "country",
    "uilanguages": "UI language",
    "gateways": "payment gateway",
    "dateformats": "date format",
}
GATEWAY_PAYMENT_TYPES = {
    "paypal": "Paypal",
    "stripe": "Stripe",
    "payoneer": "Payoneer",
    "square": "Square",
    "klikandpay": "KlikAndPay",
    "razorpay": "Razorpay",
    "wepay": "Wepay",
    "halkbank": "Halkbank",
    "twocheckout": "TwoCheckout",
    "paymentwall": "PaymentWall",
    "bamboraeu": "BamboraEU",
    "bamborana": "BamboraNA",
    "nlb": "Nlb",
    "authorizenet": "AuthorizeNet",
    "braintree": "Braintree",
}


class StoreError(Exception):
    """A request the store refuses; carries the fault code and HTTP status to report."""

    status = 400
    code = "BadRequest"

    def __init__(self, message: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class NotFound(StoreError):
    """No such object in this account."""

    status = 404
    code = "NotFound"


class AccountLimit(StoreError):
    """--any-key may not create more accounts."""

    status = 429
    code = "AccountLimit"


class Journal(Protocol):
    """Where durable state goes (persistence.SqliteJournal implements it)."""

    def save_account(self, account: Account) -> None: ...
    def save_object(self, account: Account, kind: str, obj: dict[str, Any]) -> None: ...
    def delete_object(self, account: Account, kind: str, obj_id: int) -> None: ...
    def save_activity(self, account: Account, activity: dict[str, Any]) -> None: ...
    def forget_account(self, key: str) -> None: ...
    def transaction(self) -> contextlib.AbstractContextManager[None]: ...
    def close(self) -> None: ...


@dataclass
class Account:
    """One API key's world: its tables, id sequences and activity log."""

    key: str
    secret: str
    user_id: int
    id_base: int
    tables: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)
    activities: list[dict[str, Any]] = field(default_factory=list)
    doc_activities: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    sweep_floor: str = ""
    version: int = 0  # bumped by every write; response caches key on it
    due_heap: list[tuple[float, int]] = field(default_factory=list)  # (due timestamp, invoice id)
    blocks: list[int] = field(default_factory=list)  # further id blocks, once a sequence outgrew one
    allocate: Callable[[], int] | None = field(default=None, repr=False, compare=False)
    numbers: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> number key -> id

    def next_id(self, sequence: str) -> int:
        """The next id of a sequence (ids of different accounts never meet): in the account's
        block, then in further blocks handed out by `allocate` as the sequence outgrows them."""
        value = self.sequences.get(sequence, 0) + 1
        self.sequences[sequence] = value
        index, offset = divmod(value, ID_BLOCK)
        if index == 0:
            return self.id_base + offset
        while len(self.blocks) < index:
            assert self.allocate is not None, "an account outgrew its id block outside a store"
            self.blocks.append(self.allocate())
        return self.blocks[index - 1] + offset

    def table(self, kind: str) -> dict[int, dict[str, Any]]:
        """The rows of one table, by id."""
        return self.tables.setdefault(kind, {})

    def meta(self) -> dict[str, Any]:
        """What, besides rows and activities, must be saved to rebuild this account."""
        return {
            "sequences": self.sequences,
            "sweep_floor": self.sweep_floor,
            "user_id": self.user_id,
            "id_base": self.id_base,
            "blocks": self.blocks,
        }


ActivityListener = Callable[[Account, dict[str, Any]], None]


class Store:
    """All accounts, with the business rules of resources.yaml."""

    def __init__(self, spec: Spec, settings: Settings, clock: Clock, journal: Journal | None = None) -> None:
        self.spec = spec
        self.settings = settings
        self.clock = clock
        self.journal = journal
        self.accounts: dict[str, Account] = {}
        self.listeners: list[ActivityListener] = []
        self.shares: dict[str, tuple[str, str, int]] = {}
        self._ref_index = {
            t: {row["Id"]: row for row in rows}
            for t, rows in spec.reference.items()
            if rows and isinstance(rows[0], dict) and "Id" in rows[0]
        }
        self._ref_index["gateways"] = {g["Name"]: g for g in spec.reference.get("gateways", [])}
        self._quiet = False
        self._now_override: datetime | None = None
        self.unit = UnitOfWork(self)

    def replay_at(self, moment: datetime | None) -> None:
        """Make `now()` answer `moment` (seeding writes history this way); None: the clock again."""
        self._now_override = moment

    def now(self, account: Account | None = None) -> datetime:
        """The store's notion of now: the (account's) clock, or the instant seeding is replaying."""
        return self._now_override or self.clock.now(account.key if account is not None else None)

    # --- accounts -----------------------------------------------------------------------
    def authenticate(self, key: str | None, secret: str | None) -> Account | None:
        """The account for a key/secret pair, creating it under --any-key; None when refused."""
        if not key or not secret:
            return None
        account = self.accounts.get(key)
        if account is None:
            if not self.settings.any_key:
                return None
            self.check_room()
            account = self.add_account(key, secret)
        return account if hmac.compare_digest(account.secret.encode(), secret.encode()) else None

    def check_room(self) -> None:
        """Refuse (429) a new --any-key account once --max-accounts exist."""
        limit = self.settings.max_accounts
        if len(self.accounts) >= limit:
            raise AccountLimit(
                f"This server already has {limit} accounts, its limit (--max-accounts {limit}); "
                "reuse a key or start the server with a higher limit."
            )

    def id_block(self, key: str, reserved: Iterable[int] = ()) -> int:
        """The id base of a new account: the block its key hashes to, or, when another account
        (or a `reserved` one) has it, the next free block. Accounts never share ids."""
        return self._free_block(1 + derive_seed(self.settings.seed, "account", key) % 900, reserved)

    def _free_block(self, slot: int, reserved: Iterable[int] = ()) -> int:
        taken = {b for a in self.accounts.values() for b in (a.id_base, *a.blocks)} | set(reserved)
        for _ in range(ID_BLOCKS):
            if slot * ID_BLOCK not in taken:
                return slot * ID_BLOCK
            slot = slot % ID_BLOCKS + 1
        raise StoreError("Every block of ids is in use: this server cannot hand out more ids.")

    def own(self, account: Account) -> Account:
        """Let the account draw further id blocks from this store (after creating or restoring it)."""
        account.allocate = lambda: self._free_block(
            ((account.blocks or [account.id_base])[-1] // ID_BLOCK) + 1
        )
        return account

    def add_account(
        self,
        key: str,
        secret: str,
        seed_data: bool = True,
        sequences: dict[str, int] | None = None,
        id_base: int | None = None,
        blocks: list[int] | None = None,
    ) -> Account:
        """Create (or return) an account, seeded deterministically from (seed, key); `sequences`
        and `id_base` carry ids over from a previous life of the account (a reset) or a block
        reserved for it."""
        if key in self.accounts:
            return self.accounts[key]
        h = derive_seed(self.settings.seed, "account", key)
        account = Account(
            key=key, secret=secret, user_id=1000 + h % 9000, id_base=id_base or self.id_block(key)
        )
        account.sequences.update(sequences or {})
        account.blocks.extend(blocks or [])
        account.sweep_floor = iso(self.now(account))
        self.accounts[key] = self.own(account)
        journal, self.journal = self.journal, None  # seeding writes once, below, in one commit
        try:
            if seed_data:
                from envoice_mock.domain.seeding import seed_account

                self._quiet = True
                try:
                    with FAKER_LOCK:  # one shared Faker: seedings in other threads wait their turn
                        seed_account(self, account)
                finally:
                    self._quiet = False
        finally:
            self.journal = journal
        self.persist_new(account)
        return account

    def adopt(self, account: Account, shares: dict[str, tuple[str, str, int]]) -> Account:
        """Take in an account seeded elsewhere (off the event loop) with its share tokens."""
        if account.key in self.accounts:
            return self.accounts[account.key]
        self.accounts[account.key] = self.own(account)
        self.shares.update(shares)
        self.persist_new(account)
        return account

    def persist_new(self, account: Account) -> None:
        """Write a newly seeded account to the journal in one commit."""
        if self.journal:
            with self.journal.transaction():
                self.journal.save_account(account)
                for kind, rows in account.tables.items():
                    for row in rows.values():
                        self.journal.save_object(account, kind, row)
                for act in account.activities:
                    self.journal.save_activity(account, act)

    def reset(self, account: Account) -> Account:
        """Throw away an account's data and seed it afresh (in one commit).

        Id counters carry on where they were (document numbers start again): an id handed out
        before the reset is never handed out again, so receivers may de-duplicate by id.
        """
        for token in [t for t, (k, _, _) in self.shares.items() if k == account.key]:
            del self.shares[token]
        del self.accounts[account.key]
        carried = {k: v for k, v in account.sequences.items() if not k.startswith("number:")}
        with self.journal.transaction() if self.journal else contextlib.nullcontext():
            if self.journal:
                self.journal.forget_account(account.key)
            fresh = self.add_account(
                account.key, account.secret, sequences=carried, id_base=account.id_base, blocks=account.blocks
            )
        fresh.version += account.version + 1  # never answered from a cache of the account before
        return fresh

    # --- reading ------------------------------------------------------------------------
    def reference(self, table: str) -> list[Any]:
        """A reference list (countries, currencies, ...)."""
        return self.spec.reference[table]

    def get(self, account: Account, kind: str, obj_id: Any) -> dict[str, Any]:
        """One row, or NotFound."""
        row = account.table(kind).get(obj_id) if isinstance(obj_id, int) else None
        if row is None:
            raise NotFound(f"There is no {self._label(kind)} {obj_id}.", field="Id")
        return row

    def rows(self, account: Account, kind: str) -> list[dict[str, Any]]:
        """All rows of a table, newest first for documents, by id otherwise."""
        rows = list(account.table(kind).values())
        if self.spec.resources[kind].number:
            rows.reverse()
        return rows

    def page(
        self, account: Account, kind: str, page: int | None, size: int | None
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total, rows of the 1-based page); no page size means everything. A page is read
        off the table without copying it: the cost grows with the page's offset, not the table."""
        if page is None or size is None or page < 1 or size < 1:
            return paginate(self.rows(account, kind), page, size)
        table = account.table(kind)
        ordered = reversed(table.values()) if self.spec.resources[kind].number else iter(table.values())
        start = (page - 1) * size
        return len(table), list(islice(ordered, start, start + size))

    def search(
        self,
        account: Account,
        kind: str,
        query: str | None,
        order_by: str | None = None,
        order: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows whose text fields contain `query` (case-insensitive), optionally sorted."""
        rows = list(account.table(kind).values())
        if query:
            needle = query.lower()
            rows = [r for r in rows if any(isinstance(v, str) and needle in v.lower() for v in r.values())]
        if order_by:
            sample = rows[0] if rows else {}
            key = next((k for k in sample if k.lower() == order_by.lower()), None)
            if rows and key is None:
                raise StoreError(f"Cannot order by {order_by!r}: no such field.", field="orderBy")
            if key:
                rows.sort(key=lambda r: (r.get(key) is None, r.get(key)), reverse=order == "Desc")
        elif order == "Desc":
            rows.reverse()
        return rows

    def view(
        self, account: Account, kind: str, row: dict[str, Any], model: str | None = None
    ) -> dict[str, Any]:
        """The row with its joins (Client, Currency) and Activities filled in, for rendering."""
        res = self.spec.resources[kind]
        fields = self.spec.models[model].fields if model else None
        out = dict(row)
        for name, join in res.joins.items():
            if fields is not None and name not in fields:
                continue
            target = row.get(join["from"])
            if target is None:
                continue
            if join["table"] in self._ref_index:
                joined = self._ref_index[join["table"]].get(target)
            else:
                joined = account.table(join["table"]).get(target)
            if joined is not None:
                out[name] = joined
        if res.document and (fields is None or "Activities" in fields):
            out["Activities"] = account.doc_activities.get((kind, row["Id"]), [])
        return out

    # --- writing ------------------------------------------------------------------------
    @atomic
    def create(self, account: Account, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Validate references, fill defaults and amounts, store, record `created`."""
        res = self.spec.resources[kind]
        data = {k: v for k, v in data.items() if v is not None}
        row = {**clone(res.defaults), **clone(data)}
        row.pop("Id", None)
        self._check_references(account, res, row)
        if res.number and row.get("Number"):
            self._check_number_free(account, kind, row["Number"], None)
        row["Id"] = account.next_id(kind)
        row["CreatedOn"] = iso(self.now(account))
        row.setdefault("UserId", account.user_id)
        if res.number or kind in ("product",):
            row["AccessToken"] = self._token(account, kind, row["Id"])
        if res.number and not row.get("Number"):
            row["Number"] = self._next_number(account, res)
        self._prepare(account, kind, res, row, None)
        account.table(kind)[row["Id"]] = row
        if res.number:
            remember(self._numbers(account, kind), row)
        self._save(account, kind, row)
        self.record(account, kind, row, res.activities.get("created"))
        return row

    @atomic
    def update(self, account: Account, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Apply the given fields to an existing row; items sent replace the item list."""
        res = self.spec.resources[kind]
        row = self.get(account, kind, data.get("Id"))
        merged = {**clone(row), **clone(data)}
        # Only what the request sends must refer to existing rows: a work type, tax, category
        # or product deleted since must not make the document impossible to edit.
        self._check_references(account, res, {k: v for k, v in merged.items() if k in data})
        status_field = res.status_field
        old_status = row.get(status_field) if status_field else None
        if status_field and merged.get(status_field) != old_status:
            self._check_transition(res, old_status, merged[status_field])
        if res.number and merged.get("Number"):
            self._check_number_free(account, kind, merged["Number"], row["Id"])
        self._prepare(account, kind, res, merged, row)
        old_number = row.get("Number")
        row.clear()
        row.update(merged)
        if res.number:
            remember(self._numbers(account, kind), row, old_number)
        self._save(account, kind, row)
        self.record(account, kind, row, res.activities.get("updated"))
        if status_field and row.get(status_field) != old_status:
            self._status_activity(account, kind, res, row)
        return row

    @atomic
    def delete(self, account: Account, kind: str, obj_id: Any) -> int:
        """Remove a row; refused while other rows refer to it."""
        row = self.get(account, kind, obj_id)
        users = self.users_of(account, kind, row["Id"])
        if users:
            raise StoreError(
                f"The {self._label(kind)} {row['Id']} cannot be deleted: "
                f"{users} {'document refers' if users == 1 else 'documents refer'} to it.",
                field="Id",
                code="InUse",
            )
        del account.table(kind)[row["Id"]]
        if self.spec.resources[kind].number:
            forget(self._numbers(account, kind), row)
        account.version += 1
        if self.journal:
            self.journal.delete_object(account, kind, row["Id"])
        return int(row["Id"])

    def users_of(self, account: Account, kind: str, obj_id: int) -> int:
        """How many rows of guarding tables refer to this one."""
        res = self.spec.resources[kind]
        return sum(
            1
            for table, fname in res.guarded_by.items()
            for r in account.table(table).values()
            if r.get(fname) == obj_id
        )

    @atomic
    def change_status(
        self, account: Account, kind: str, obj_id: Any, status: str, reason: str | None = None
    ) -> dict[str, Any]:
        """Move a document to a new status along the allowed transitions."""
        res = self.spec.resources[kind]
        row = self.get(account, kind, obj_id)
        fname = res.status_field
        assert fname
        old = row.get(fname)
        if old == status:
            return row
        self._check_transition(res, old, status)
        row[fname] = status
        if reason:
            row["Note"] = reason
        if kind == "invoice" and status == "Paid":
            self._add_payment(account, row, "Other", outstanding(row), note="Marked as paid")
        self._save(account, kind, row)
        self._status_activity(account, kind, res, row)
        return row

    @atomic
    def record_event(self, account: Account, kind: str, obj_id: Any, event: str) -> dict[str, Any]:
        """Record a named event of resources.yaml (viewed, pdf, ...) or a raw activity type."""
        res = self.spec.resources[kind]
        row = self.get(account, kind, obj_id)
        activity_type = res.activities.get(event, event)
        if activity_type not in self.spec.enums["ActivityType"]:
            raise StoreError(f"Unknown activity {event!r} for {self._label(kind)}.", field="event")
        self.record(account, kind, row, activity_type)
        return row

    @atomic
    def send(self, account: Account, kind: str, obj_id: Any, activity_type: str) -> dict[str, Any]:
        """Send a document (to the client or accountant): a draft invoice becomes unpaid."""
        row = self.get(account, kind, obj_id)
        if kind == "invoice" and row.get("Status") == "Void":
            raise StoreError(
                f"Invoice {row['Number']} is void and cannot be sent.", field="Id", code="InvalidState"
            )
        self.record(account, kind, row, activity_type)
        if kind == "invoice" and row.get("Status") == "Draft" and activity_type == "SentViaEmail":
            self.change_status(account, kind, row["Id"], "Unpaid")
        return row

    @atomic
    def convert(self, account: Account, estimation_id: Any) -> dict[str, Any]:
        """Create an invoice from an estimation (which becomes Accepted)."""
        est = self.get(account, "estimation", estimation_id)
        if est.get("InvoiceId") in account.table("invoice"):
            raise StoreError(
                f"Estimation {est.get('Number')} was already converted to invoice {est['InvoiceId']}.",
                field="Id",
                code="AlreadyConverted",
            )
        client = account.table("client").get(est.get("ClientId", 0))
        due_days = (client or {}).get("DefaultDueDateInDays") or 15
        now = self.now(account)
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
        invoice = self.create(account, "invoice", {k: v for k, v in data.items() if v is not None})
        est["InvoiceId"] = invoice["Id"]
        self._save(account, "estimation", est)
        if est.get("Status") != "Accepted":
            self.change_status(account, "estimation", est["Id"], "Accepted")
        return invoice

    @atomic
    def change_shipping(self, account: Account, order_id: Any, details: dict[str, Any]) -> dict[str, Any]:
        """Replace an order's shipping details."""
        res = self.spec.resources["order"]
        row = self.get(account, "order", order_id)
        self._check_references(account, res, {"OrderShippingDetails": details})
        row["OrderShippingDetails"] = details
        self._save(account, "order", row)
        self.record(account, "order", row, res.activities.get("updated"))
        return row

    @atomic
    def pay(
        self,
        account: Account,
        invoice_id: Any,
        gateway: str | None = None,
        amount: float | None = None,
        by_client: bool = False,
    ) -> dict[str, Any]:
        """A payment arrives (through a gateway, or by hand); a fully paid invoice becomes Paid."""
        row = self.get(account, "invoice", invoice_id)
        if row.get("Status") in ("Void", "Draft"):
            raise StoreError(
                f"Invoice {row['Number']} is {row['Status']} and cannot be paid.",
                field="Id",
                code="InvalidState",
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
        name = gateway.lower() if isinstance(gateway, str) else ""
        if gateway and name not in GATEWAY_PAYMENT_TYPES:
            raise StoreError(f"Unknown payment gateway {gateway!r}.", field="gateway")
        if by_client:
            self.record(account, "invoice", row, "MarkAsPaidByTheClient")
        if gateway:
            ptype = GATEWAY_PAYMENT_TYPES[name]
            self._add_payment(account, row, ptype, amount, automatic=True)
            self.record(account, "invoice", row, f"NewPaymentWith{ptype}", gateway=name)
        else:
            self._add_payment(account, row, "Other", amount)
            self.record(account, "invoice", row, "NewManualPayment")
        if outstanding(row) <= 0:
            old = row["Status"]
            row["Status"] = "Paid"
            if old != "Paid":
                self.record(account, "invoice", row, "Paid")
        self._save(account, "invoice", row)
        return row

    def sweep_overdue(self, account: Account) -> int:
        """Unpaid invoices whose due date passed (since the account began) become Overdue.

        Cheap enough to run before every request: a heap of due dates is popped only when
        something fell due.
        """
        heap = account.due_heap
        if not heap:
            return 0
        now = self.now(account).timestamp()
        if heap[0][0] >= now:
            return 0
        with self.unit(account):
            return self._sweep(account, now)

    def _sweep(self, account: Account, now: float) -> int:
        heap = account.due_heap
        floor = parse_iso(account.sweep_floor).timestamp() if account.sweep_floor else 0.0
        moved = 0
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
            row["Status"] = "Overdue"
            self._save(account, "invoice", row)
            self.record(account, "invoice", row, "Overdue")
            moved += 1
        return moved

    def index_due(self, account: Account, row: dict[str, Any]) -> None:
        """Remember when an unpaid invoice falls due (the sweep skips stale entries)."""
        if row.get("Status") == "Unpaid" and row.get("Duedate"):
            heapq.heappush(account.due_heap, (parse_iso(row["Duedate"]).timestamp(), row["Id"]))

    # --- activities ---------------------------------------------------------------------
    @atomic
    def record(
        self, account: Account, kind: str, row: dict[str, Any], activity_type: str | None, **extra: Any
    ) -> dict[str, Any] | None:
        """Append an Activity about a document and tell the listeners."""
        if not activity_type or kind not in DOCUMENT_ID_FIELDS:
            return None
        id_field, number_field = DOCUMENT_ID_FIELDS[kind]
        activity = {
            "Id": account.next_id("activity"),
            "Type": activity_type,
            "Message": self._message(account, kind, row, activity_type, extra),
            "Link": self.share_link(account, kind, row),
            id_field: row["Id"],
            number_field: row.get("Number"),
            "CreatedOn": iso(extra.pop("when", None) or self.now(account)),
            "UserId": account.user_id,
        }
        if kind == "estimation" and row.get("InvoiceId"):
            activity["InvoiceId"] = row["InvoiceId"]
        account.activities.append(activity)
        account.version += 1
        account.doc_activities.setdefault((kind, row["Id"]), []).append(activity)
        self.unit.recorded(account, activity)
        if self.journal:
            self.journal.save_activity(account, activity)
        if not self._quiet:
            self.unit.after_commit(lambda: self._tell(account, activity))
        return activity

    def _tell(self, account: Account, activity: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(account, activity)

    def share_link(self, account: Account, kind: str, row: dict[str, Any], pdf: bool = False) -> str:
        """`<base>/<kind>/shared?token=<AccessToken>&id=<opaque>` (or the pdf link)."""
        token = row.get("AccessToken") or self._token(account, kind, row["Id"])
        opaque = self._opaque(account, kind, row["Id"])
        verb = "pdf" if pdf else "shared"
        return f"{self.settings.base_url}/{SHARE_PATHS.get(kind, kind)}/{verb}?token={token}&id={opaque}"

    def resolve_share(
        self, token: str, path_kind: str, opaque: str
    ) -> tuple[Account, str, dict[str, Any]] | None:
        """The document behind a share link, if it still exists and the link's path kind and
        `id` are the ones the token was made for."""
        found = self.shares.get(token)
        if not found:
            return None
        key, kind, obj_id = found
        account = self.accounts.get(key)
        row = account.table(kind).get(obj_id) if account else None
        if not account or not row or SHARE_PATHS.get(kind, kind) != path_kind:
            return None
        if not hmac.compare_digest(opaque.encode(), self._opaque(account, kind, obj_id).encode()):
            return None
        return account, kind, row

    # --- internals ----------------------------------------------------------------------
    def _label(self, kind: str) -> str:
        return {"worktype": "work type", "paymentlink": "payment link", "category": "invoice category"}.get(
            kind, kind
        )

    def _token(self, account: Account, kind: str, obj_id: int) -> str:
        """An AccessToken: keyed by the account's secret, so only its holder can compute links."""
        token = derived_token(self.settings.seed, account.key, kind, obj_id, nbytes=16, key=account.secret)
        self.shares[token] = (account.key, kind, obj_id)
        return token

    def _opaque(self, account: Account, kind: str, obj_id: int) -> str:
        """The `id` of a share link (keyed like the token)."""
        return derived_token(self.settings.seed, account.key, "link", kind, obj_id, key=account.secret)

    def register_share(self, account: Account, kind: str, row: dict[str, Any]) -> None:
        """Index a (restored) row's access token so its share link resolves."""
        if row.get("AccessToken"):
            self.shares[row["AccessToken"]] = (account.key, kind, row["Id"])

    def _next_number(self, account: Account, res: Resource) -> str:
        """The next generated number of a kind, skipping numbers a client already chose."""
        index = self._numbers(account, res.name)
        while True:
            seq = account.sequences.get(f"number:{res.name}", 0) + 1
            account.sequences[f"number:{res.name}"] = seq
            number = f"{res.number.get('prefix', '')}{seq:0{int(res.number.get('width', 4))}d}"
            if holder_of(index, number) is None:
                return number

    def _numbers(self, account: Account, kind: str) -> dict[str, int]:
        return number_index(account.numbers, kind, account.table(kind))

    def _check_number_free(self, account: Account, kind: str, number: Any, own_id: int | None) -> None:
        holder = holder_of(self._numbers(account, kind), number, own_id)
        if holder is not None:
            label = self._label(kind)
            taken = account.table(kind)[holder].get("Number")
            raise StoreError(
                f"{label.capitalize()} {holder} already has the number {taken!r}; "
                f"numbers are unique among an account's {label}s.",
                field="Number",
                code="NotUnique",
            )

    def _check_transition(self, res: Resource, old: Any, new: Any) -> None:
        if not res.can_transition(old, new):
            allowed = res.status.get("transitions", {}).get(old, [])
            raise StoreError(
                f"{article(self._label(res.name)).capitalize()} cannot go from {old} to {new}; from {old} "
                + (f"it may go to {', '.join(allowed)}." if allowed else "it may go nowhere (it is final)."),
                field="Status",
                code="InvalidStatusTransition",
            )

    def _status_activity(self, account: Account, kind: str, res: Resource, row: dict[str, Any]) -> None:
        mapping = res.activities.get("status")
        status = row.get(res.status_field or "")
        activity = mapping.get(status, "ChangeStatus") if isinstance(mapping, dict) else mapping
        self.record(account, kind, row, activity, status=status)

    def _check_references(self, account: Account, res: Resource, row: dict[str, Any]) -> None:
        for dotted, table in res.references.items():
            for path, value in _values_at(row, dotted.split(".")):
                if value is None:
                    continue
                if table in self._ref_index:
                    key = value.lower() if table == "gateways" and isinstance(value, str) else value
                    ok = key in self._ref_index[table]
                else:
                    ok = value in account.table(table)
                if not ok:
                    raise StoreError(
                        f"There is no {REFERENCE_LABELS.get(table, self._label(table))} {value!r}.",
                        field=path,
                        code="InvalidReference",
                    )

    def _prepare(
        self, account: Account, kind: str, res: Resource, row: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        """Domain hooks: item ids, tax percentages from tax ids, gateway names, amounts."""
        items = row.get("Items")
        if isinstance(items, list):
            old_ids = {i.get("Id") for i in (old or {}).get("Items") or []}
            for item in items:
                if item.get("Id") not in old_ids:
                    item["Id"] = account.next_id("item")
                tax = account.table("tax").get(item.get("TaxId")) if item.get("TaxId") else None
                if tax is not None and "TaxPercentage" not in item:
                    item["TaxPercentage"] = tax["Percentage"]
                if res.amounts == "product":
                    item.setdefault("MinimumQuantity", 1.0)
        for gateway in row.get("PaymentGateways") or []:
            if isinstance(gateway.get("Name"), str):
                gateway["Name"] = gateway["Name"].lower()
        if kind == "tax" and not 0 <= float(row.get("Percentage") or 0) <= 100:
            raise StoreError("Percentage must be between 0 and 100.", field="Percentage")
        for i, item in enumerate(items or []):
            for fname in ("Quantity", "MinimumQuantity", "Cost", "DiscountPercentage", "TaxPercentage"):
                if (item.get(fname) or 0) < 0:
                    raise StoreError("cannot be negative", field=f"Items[{i}].{fname}")
                if (item.get(fname) or 0) > MAX_FIGURE:
                    raise StoreError(f"cannot be more than {MAX_FIGURE:.0e}", field=f"Items[{i}].{fname}")
            for fname in ("DiscountPercentage", "TaxPercentage"):
                if not 0 <= (item.get(fname) or 0) <= 100:
                    raise StoreError("must be between 0 and 100", field=f"Items[{i}].{fname}")
        for fname in ("ShippingAmount", "DiscountAmount") if res.amounts in ("order", "product") else ():
            if isinstance(row.get(fname), int | float) and not 0 <= row[fname] <= MAX_FIGURE:
                raise StoreError(f"{fname} must be between 0 and {MAX_FIGURE:.0e}.", field=fname)
        for a, b in (("IssuedOn", "Duedate"), ("IssuedOn", "ExpiresOn")):
            if row.get(a) and row.get(b) and parse_iso(row[b]) < parse_iso(row[a]):
                raise StoreError(f"{b} cannot be before {a}.", field=b)
        if res.amounts:
            price_document(row, res.amounts)
        if res.status_field and res.status_field in row:
            enum = res.status.get("enum")
            if enum and row[res.status_field] not in self.spec.enums[enum]:
                raise StoreError(f"Unknown status {row[res.status_field]!r}.", field=res.status_field)

    def _add_payment(
        self,
        account: Account,
        row: dict[str, Any],
        ptype: str,
        amount: float,
        note: str | None = None,
        automatic: bool = False,
    ) -> None:
        if amount <= 0:
            return
        payment = {
            "Id": account.next_id("payment"),
            "Amount": amount,
            "PaidOn": iso(self.now(account)),
            "Type": ptype,
            "IsAutomatic": automatic,
            "ReferenceId": f"PAY-{account.sequences.get('payment', 0):06d}",
        }
        if note:
            payment["Note"] = note
        row.setdefault("Payments", []).append(payment)

    def _message(
        self, account: Account, kind: str, row: dict[str, Any], activity_type: str, extra: dict[str, Any]
    ) -> str:
        messages = self.spec.activity_messages
        client = account.table("client").get(row.get("ClientId", 0)) or {}
        template = (messages.get("messages") or {}).get(activity_type)
        if template is None:
            key = "payment" if activity_type.startswith("NewPaymentWith") else "default"
            template = messages.get(key) or "{kind} {number}: {type}"
        values = {
            "number": row.get("Number") or row.get("Name") or row["Id"],
            "client": client.get("Name")
            or (row.get("OrderBillingDetails") or {}).get("Name")
            or "The client",
            "status": extra.get("status") or row.get("Status"),
            "gateway": extra.get("gateway") or activity_type.removeprefix("NewPaymentWith"),
            "kind": kind.capitalize(),
            "type": activity_type,
        }
        return template.format(**values)

    def _save(self, account: Account, kind: str, row: dict[str, Any]) -> None:
        account.version += 1
        if kind == "invoice":
            self.index_due(account, row)
        self.unit.touched(account)
        if self.journal:
            self.journal.save_object(account, kind, row)


def paginate(rows: list[Any], page: int | None, size: int | None) -> tuple[int, list[Any]]:
    """(total, rows of the 1-based page); no size means one page of everything."""
    if page is not None and page < 1:
        raise StoreError("page is 1-based: it must be 1 or more.", field="page", code="InvalidValue")
    if size is not None and size < 1:
        raise StoreError("pageSize must be 1 or more.", field="pageSize", code="InvalidValue")
    size = size or len(rows) or 1
    start = ((page or 1) - 1) * size
    return len(rows), rows[start : start + size]


def clone(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars), faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def _values_at(obj: Any, parts: list[str], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Every value at a dotted path, descending into lists."""
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from _values_at(item, parts, f"{prefix}[{i}]")
        return
    if not isinstance(obj, dict):
        return
    head, rest = parts[0], parts[1:]
    path = f"{prefix}.{head}" if prefix else head
    if not rest:
        yield path, obj.get(head)
    elif head in obj:
        yield from _values_at(obj[head], rest, path)


def article(noun: str) -> str:
    """`an order`, `a payment link`."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def history_instant(anchor: datetime, days_back: float) -> str:
    """An ISO instant `days_back` days before `anchor` (used by seeding)."""
    return iso(anchor - timedelta(days=days_back))


__all__ = ["Account", "NotFound", "SeededSource", "Store", "StoreError"]
