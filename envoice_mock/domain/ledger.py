"""The base of the store: its parts, its notion of now, and the two primitives every write ends in.

`save` marks a row changed (journal, caches, the overdue index); `record` appends an activity
and tells the listeners after the commit. Documents (CRUD) and the Store facade build on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from envoice_mock.clock import Clock, iso
from envoice_mock.config import Settings
from envoice_mock.domain.accounts import Account, AccountRegistry, Journal
from envoice_mock.domain.activities import DOCUMENT_ID_FIELDS, ActivityListener, ActivityLog
from envoice_mock.domain.atomic import UnitOfWork, atomic
from envoice_mock.domain.invoices import index_due
from envoice_mock.domain.shares import ShareIndex
from envoice_mock.spec import Spec


class Ledger:
    """The state of every account and the primitives that change it."""

    def __init__(self, spec: Spec, settings: Settings, clock: Clock, journal: Journal | None = None) -> None:
        self.spec = spec
        self.settings = settings
        self.clock = clock
        self.journal = journal
        self.registry = AccountRegistry(settings)
        self.share_index = ShareIndex(settings.seed, settings.base_url)
        self.log = ActivityLog(spec.activity_messages)
        self.ref_index: dict[str, dict[Any, Any]] = {
            t: {row["Id"]: row for row in rows}
            for t, rows in spec.reference.items()
            if rows and isinstance(rows[0], dict) and "Id" in rows[0]
        }
        self.ref_index["gateways"] = {g["Name"]: g for g in spec.reference.get("gateways", [])}
        self._now_override: datetime | None = None
        self.unit = UnitOfWork(self)
        # Rendered views of rows, remembered while unchanged (api/views.py keeps it bounded).
        self.views: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    @property
    def accounts(self) -> dict[str, Account]:
        """Every account, by key."""
        return self.registry.accounts

    @property
    def listeners(self) -> list[ActivityListener]:
        """Who hears of every activity (after its commit)."""
        return self.log.listeners

    @property
    def shares(self) -> dict[str, tuple[str, str, int]]:
        """Every access token: (account key, kind, row id)."""
        return self.share_index.tokens

    def replay_at(self, moment: datetime | None) -> None:
        """Make `now()` answer `moment` (seeding writes history this way); None: the clock again."""
        self._now_override = moment

    def now(self, account: Account | None = None) -> datetime:
        """The store's notion of now: the (account's) clock, or the instant seeding is replaying."""
        return self._now_override or self.clock.now(account.key if account is not None else None)

    def save(self, account: Account, kind: str, row: dict[str, Any]) -> None:
        """A row changed: bump the account's version, index a due date, journal the row."""
        account.version += 1
        account.stamps[(kind, row.get("Id"))] = account.version
        if kind == "invoice":
            index_due(account, row)
        self.unit.touched(account)
        if self.journal:
            self.journal.save_object(account, kind, row)

    @atomic
    def record(
        self, account: Account, kind: str, row: dict[str, Any], activity_type: str | None, **extra: Any
    ) -> dict[str, Any] | None:
        """Append an Activity about a document and tell the listeners (after the commit)."""
        if not activity_type or kind not in DOCUMENT_ID_FIELDS:
            return None
        link = self.share_index.link(account, kind, row)
        activity = self.log.build(account, kind, row, activity_type, link, extra)
        activity["CreatedOn"] = iso(extra.pop("when", None) or self.now(account))
        activity["UserId"] = account.user_id
        if kind == "estimation" and row.get("InvoiceId"):
            activity["InvoiceId"] = row["InvoiceId"]
        entry = self.log.append(account, kind, row, activity)
        self.unit.recorded(account, entry)
        if self.journal:
            self.journal.save_activity(account, entry)
        if not self.log.quiet:
            self.unit.after_commit(lambda: self.log.tell(account, entry))
        return entry
