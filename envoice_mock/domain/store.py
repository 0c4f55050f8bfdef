"""Per-account state behind one facade: accounts, documents, invoice rules, activities, shares.

The store knows nothing of HTTP. It is assembled from small parts, each with one job:
`accounts` (registry, authentication), `documents` (CRUD, paging, search, on `ledger`),
`rules` (validation and enrichment), `invoices` (the invoice-only rules), `activities` (the
log and its listeners) and `shares` (share tokens and links). This class adds the account
lifecycle (create, seed through the injected seeder, adopt, reset) and the invoice flows.
An optional journal (see persistence.py) is told of every write so that state survives a restart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from envoice_mock.clock import Clock, iso
from envoice_mock.config import Settings
from envoice_mock.domain.accounts import Account, Journal
from envoice_mock.domain.atomic import atomic
from envoice_mock.domain.documents import Documents, paginate
from envoice_mock.domain.errors import AccountLimit, NotFound, StoreError
from envoice_mock.domain.invoices import (
    add_payment,
    becomes_unpaid_when_sent,
    check_convertible,
    check_payable,
    check_sendable,
    fallen_due,
    index_due,
    invoice_from,
    payment_type,
    settled,
)
from envoice_mock.spec import Spec

# Fills a fresh account with its starting data (seeding.seed_account); writes through the store.
Seeder = Callable[["Store", Account], None]


class Store(Documents):
    """All accounts, with the business rules of resources.yaml."""

    def __init__(
        self,
        spec: Spec,
        settings: Settings,
        clock: Clock,
        journal: Journal | None = None,
        seeder: Seeder | None = None,
    ) -> None:
        super().__init__(spec, settings, clock, journal)
        self.seeder = seeder
        self.payment_types: dict[str, str] = {
            name: entry["payment_type"] for name, entry in spec.gateway_payments.items()
        }

    # --- accounts -----------------------------------------------------------------------
    def authenticate(self, key: str | None, secret: str | None) -> Account | None:
        """The account for a key/secret pair, creating it under --any-key; None when refused."""
        return self.registry.authenticate(key, secret, self.add_account)

    def id_block(self, key: str, reserved: Iterable[int] = ()) -> int:
        """The id base of a new account (see AccountRegistry.id_block)."""
        return self.registry.id_block(key, reserved)

    def own(self, account: Account) -> Account:
        """Register an account (created or restored) and let it draw further id blocks."""
        return self.registry.own(account)

    def add_account(
        self,
        key: str,
        secret: str,
        seed_data: bool = True,
        sequences: dict[str, int] | None = None,
        id_base: int | None = None,
        blocks: list[int] | None = None,
    ) -> Account:
        """Create (or return) an account, seeded deterministically from (seed, key) by the
        seeder; `sequences` and `id_base` carry ids over from a previous life of the account
        (a reset) or a block reserved for it."""
        if key in self.accounts:
            return self.accounts[key]
        account = self.registry.new_account(key, secret, id_base)
        account.sequences.update(sequences or {})
        account.blocks.extend(blocks or [])
        account.sweep_floor = iso(self.now(account))
        self.own(account)
        if seed_data and self.seeder is not None:
            self._seed(account, self.seeder)
        self.persist_new(account)
        return account

    def _seed(self, account: Account, seeder: Seeder) -> None:
        """Seed quietly (history raises no webhooks), journaled once afterwards in one commit."""
        journal, self.journal = self.journal, None
        self.log.quiet = True
        try:
            seeder(self, account)
        finally:
            self.log.quiet = False
            self.journal = journal

    def adopt(
        self, account: Account, shares: dict[str, tuple[str, str, int]], encoded: Any = None
    ) -> Account:
        """Take in an account seeded elsewhere (off the event loop) with its share tokens, and
        what the journal writes of it when that was encoded there too."""
        if account.key in self.accounts:
            return self.accounts[account.key]
        self.own(account)
        self.shares.update(shares)
        self.persist_new(account, encoded)
        return account

    def persist_new(self, account: Account, encoded: Any = None) -> None:
        """Write a newly seeded account to the journal in one commit."""
        if self.journal:
            self.journal.save_new_account(account, encoded)

    def reset(self, account: Account) -> Account:
        """Throw away an account's data and seed it afresh (in one commit).

        Id counters carry on where they were (document numbers start again): an id handed out
        before the reset is never handed out again, so receivers may de-duplicate by id.
        """
        self.share_index.forget(account.key)
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

    # --- invoice flows (the rules themselves are in invoices.py) --------------------------
    @atomic
    def send(self, account: Account, kind: str, obj_id: Any, activity_type: str) -> dict[str, Any]:
        """Send a document (to the client or accountant): a draft invoice becomes unpaid."""
        row = self.get(account, kind, obj_id)
        if kind == "invoice":
            check_sendable(row)
        self.record(account, kind, row, activity_type)
        if kind == "invoice" and becomes_unpaid_when_sent(row, activity_type):
            self.change_status(account, kind, row["Id"], "Unpaid")
        return row

    @atomic
    def convert(self, account: Account, estimation_id: Any) -> dict[str, Any]:
        """Create an invoice from an estimation (which becomes Accepted)."""
        est = self.get(account, "estimation", estimation_id)
        check_convertible(account, est)
        invoice = self.create(account, "invoice", invoice_from(account, est, self.now(account)))
        est["InvoiceId"] = invoice["Id"]
        self.save(account, "estimation", est)
        if est.get("Status") != "Accepted":
            self.change_status(account, "estimation", est["Id"], "Accepted")
        return invoice

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
        amount = check_payable(row, amount)
        through = payment_type(gateway, self.payment_types)
        if by_client:
            self.record(account, "invoice", row, "MarkAsPaidByTheClient")
        if through:
            name, ptype = through
            add_payment(account, row, ptype, amount, self.now(account), automatic=True)
            self.record(account, "invoice", row, f"NewPaymentWith{ptype}", gateway=name)
        else:
            add_payment(account, row, "Other", amount, self.now(account))
            self.record(account, "invoice", row, "NewManualPayment")
        if settled(row):
            old = row["Status"]
            row["Status"] = "Paid"
            if old != "Paid":
                self.record(account, "invoice", row, "Paid")
        self.save(account, "invoice", row)
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

        def move() -> int:
            moved = 0
            for row in fallen_due(account, now):
                row["Status"] = "Overdue"
                self.save(account, "invoice", row)
                self.record(account, "invoice", row, "Overdue")
                moved += 1
            return moved

        return self.unit.run(account, move)

    def index_due(self, account: Account, row: dict[str, Any]) -> None:
        """Remember when an unpaid invoice falls due (restoring an account)."""
        index_due(account, row)

    # --- share links ----------------------------------------------------------------------
    def share_link(self, account: Account, kind: str, row: dict[str, Any], pdf: bool = False) -> str:
        """`<base>/<kind>/shared?token=<AccessToken>&id=<opaque>` (or the pdf link)."""
        return self.share_index.link(account, kind, row, pdf)

    def resolve_share(
        self, token: str, path_kind: str, opaque: str
    ) -> tuple[Account, str, dict[str, Any]] | None:
        """The document behind a share link, if it still exists and was made for this path."""
        return self.share_index.resolve(self.accounts, token, path_kind, opaque)

    def register_share(self, account: Account, kind: str, row: dict[str, Any]) -> None:
        """Index a (restored) row's access token so its share link resolves."""
        self.share_index.register(account, kind, row)


__all__ = ["Account", "AccountLimit", "NotFound", "Seeder", "Store", "StoreError", "paginate"]
