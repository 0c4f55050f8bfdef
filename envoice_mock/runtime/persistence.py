"""Optional durable state: a SQLite file with accounts, rows, activities, webhooks, deliveries.

Every write commits at once (WAL mode), so a kill -9 loses nothing that was answered. What a
webhook still owes is derived on restart: every activity after its registration that it has
not acknowledged with HTTP 200 is queued again, so each pending delivery resumes at least
once, never zero times (attempt counters restart at 1).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envoice_mock.config import SettingsError
from envoice_mock.delivery.records import Webhook
from envoice_mock.statelock import StateLock

if TYPE_CHECKING:
    from envoice_mock.delivery.webhooks import WebhookEngine
    from envoice_mock.domain.store import Account, Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (key TEXT PRIMARY KEY, secret TEXT NOT NULL, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (account TEXT, kind TEXT, id INTEGER, body TEXT NOT NULL,
                                    PRIMARY KEY (account, kind, id));
CREATE TABLE IF NOT EXISTS activities (account TEXT, id INTEGER, body TEXT NOT NULL,
                                       PRIMARY KEY (account, id));
CREATE TABLE IF NOT EXISTS webhooks (account TEXT, id TEXT, body TEXT NOT NULL, PRIMARY KEY (account, id));
CREATE TABLE IF NOT EXISTS delivered (account TEXT, webhook TEXT, activity INTEGER,
                                      PRIMARY KEY (account, webhook, activity));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
SQLITE_MAGIC = b"SQLite format 3\x00"
DOC_FIELDS = (("estimation", "EstimationId"), ("order", "OrderId"), ("invoice", "InvoiceId"))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# An account's rows as the journal stores them: ([(kind, id, body)], [(activity id, body)]).
EncodedAccount = tuple[list[tuple[str, int, str]], list[tuple[int, str]]]


def encode_account(account: Account) -> EncodedAccount:
    """An account's rows and activities as the journal writes them (the JSON of each)."""
    objects = [
        (kind, row["Id"], _dumps(row)) for kind, rows in account.tables.items() for row in rows.values()
    ]
    return objects, [(act["Id"], _dumps(act)) for act in account.activities]


class SqliteJournal:
    """Write-through persistence of the store and the webhook engine."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.lock = StateLock(self.path)  # first: a second server must not even read the file
        try:
            self.db = self._open()
        except BaseException:
            self.lock.release(refused=True)
            raise
        self._depth = 0

    def _open(self) -> sqlite3.Connection:
        """Connect, check the file is a whole SQLite database, then (only then) write to it."""
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb") as f:
                if f.read(16) != SQLITE_MAGIC:
                    raise SettingsError(f"state file {self.path} is not a SQLite database (left untouched)")
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            problems = [row[0] for row in db.execute("PRAGMA quick_check(1)")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError(problems[0] if problems else "no answer to a check")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            self.db = db
            self.boot = self._count_boot()
        except sqlite3.DatabaseError as exc:
            db.close()
            raise SettingsError(
                f"state file {self.path} is damaged or not an envoice-mock state file ({exc}); "
                "left untouched: move it away or pass another --state-file"
            ) from None
        return db

    def _count_boot(self) -> int:
        """How many times this file was opened, this time included (1 for a new file)."""
        row = self.db.execute("SELECT value FROM meta WHERE key='boots'").fetchone()
        boot = int(row[0]) + 1 if row else 1
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('boots', ?)", (str(boot),))
        return boot

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit (nested groups join the outer one)."""
        if self._depth == 0:
            self.db.execute("BEGIN")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.db.execute("COMMIT")

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        self.db.execute(sql, args)  # autocommit outside a transaction() block

    # --- the store's journal ------------------------------------------------------------
    def save_account(self, account: Account) -> None:
        """Upsert an account and its sequences."""
        self._write(
            "INSERT OR REPLACE INTO accounts VALUES (?, ?, ?)",
            (account.key, account.secret, _dumps(account.meta())),
        )

    def save_object(self, account: Account, kind: str, obj: dict[str, Any]) -> None:
        """Upsert one row."""
        self._write(
            "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", (account.key, kind, obj["Id"], _dumps(obj))
        )

    def save_new_account(self, account: Account, encoded: EncodedAccount | None = None) -> None:
        """Write a new account whole (its rows and activities) in one commit; `encoded` is what
        `encode_account` made of it (elsewhere: a seeding process), or None to encode it here."""
        objects, activities = encoded or encode_account(account)
        key = account.key
        with self.transaction():
            self.save_account(account)
            self.db.executemany(
                "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", [(key, *row) for row in objects]
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO activities VALUES (?, ?, ?)", [(key, *row) for row in activities]
            )

    def delete_object(self, account: Account, kind: str, obj_id: int) -> None:
        """Remove one row."""
        self._write("DELETE FROM objects WHERE account=? AND kind=? AND id=?", (account.key, kind, obj_id))

    def save_activity(self, account: Account, activity: dict[str, Any]) -> None:
        """Append an activity."""
        self._write(
            "INSERT OR REPLACE INTO activities VALUES (?, ?, ?)",
            (account.key, activity["Id"], _dumps(activity)),
        )

    def forget_account(self, key: str) -> None:
        """Drop an account's rows, activities and delivery marks (before it is re-seeded)."""
        with self.transaction():
            for table in ("objects", "activities", "delivered"):
                self.db.execute(f"DELETE FROM {table} WHERE account=?", (key,))

    # --- the webhook engine's journal ---------------------------------------------------
    def save_webhook(self, hook: Webhook) -> None:
        """Upsert a webhook's registration and state."""
        body = {k: v for k, v in asdict(hook).items() if k not in ("delivered", "retrying", "held", "tries")}
        self._write("INSERT OR REPLACE INTO webhooks VALUES (?, ?, ?)", (hook.account, hook.id, _dumps(body)))

    def delete_webhook(self, account_key: str, hook_id: str) -> None:
        """Remove a webhook and its delivery marks."""
        with self.transaction():
            self.db.execute("DELETE FROM webhooks WHERE account=? AND id=?", (account_key, hook_id))
            self.db.execute("DELETE FROM delivered WHERE account=? AND webhook=?", (account_key, hook_id))

    def mark_delivered(self, account_key: str, hook_id: str, activity_id: int) -> None:
        """Remember that a webhook acknowledged an activity."""
        self._write("INSERT OR IGNORE INTO delivered VALUES (?, ?, ?)", (account_key, hook_id, activity_id))

    def activities_for(self, account_key: str) -> list[dict[str, Any]]:
        """An account's activities in id order."""
        rows = self.db.execute("SELECT body FROM activities WHERE account=? ORDER BY id", (account_key,))
        return [json.loads(body) for (body,) in rows]

    # --- restart ------------------------------------------------------------------------
    def restore(self, store: Store, webhooks: WebhookEngine) -> bool:
        """Rebuild the store and the webhooks from the file; False when the file is new.
        A file whose rows cannot be read is a SettingsError (one line; the file is left as is)."""
        try:
            return self._restore(store, webhooks)
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as exc:
            raise SettingsError(
                f"state file {self.path} cannot be restored ({type(exc).__name__}: {exc}); left untouched"
            ) from None

    def _restore(self, store: Store, webhooks: WebhookEngine) -> bool:
        from envoice_mock.domain.store import Account

        accounts = self.db.execute("SELECT key, secret, meta FROM accounts").fetchall()
        if not accounts:
            return False
        for key, secret, meta_text in accounts:
            meta = json.loads(meta_text)
            account = Account(
                key=key,
                secret=secret,
                user_id=meta["user_id"],
                id_base=meta["id_base"],
                blocks=meta.get("blocks", []),
                sequences=meta["sequences"],
                sweep_floor=meta["sweep_floor"],
            )
            store.accounts[key] = store.own(account)
            for kind, body in self.db.execute(
                "SELECT kind, body FROM objects WHERE account=? ORDER BY id", (key,)
            ):
                row = json.loads(body)
                account.table(kind)[row["Id"]] = row
                store.register_share(account, kind, row)
                if kind == "invoice":
                    store.index_due(account, row)
            for activity in self.activities_for(key):
                account.activities.append(activity)
                for kind, fname in DOC_FIELDS:
                    if activity.get(fname) is not None and (
                        kind != "invoice" or "EstimationId" not in activity
                    ):
                        account.doc_activities.setdefault((kind, activity[fname]), []).append(activity)
                        break
        for key, body in self.db.execute("SELECT account, body FROM webhooks"):
            data = json.loads(body)
            hook = Webhook(**data)
            hook.delivered = {
                a
                for (a,) in self.db.execute(
                    "SELECT activity FROM delivered WHERE account=? AND webhook=?", (key, hook.id)
                )
            }
            webhooks.restore_webhook(hook)
        return True

    def close(self) -> None:
        """Close the file and let another server have it (idempotent)."""
        self.db.close()
        self.lock.release()
