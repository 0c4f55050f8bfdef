"""The account registry: one `Account` per API key, its id blocks, and authentication.

Every account draws its ids from its own blocks, so ids of two accounts never meet. Under
`--any-key` an unknown key/secret pair creates an account (up to `--max-accounts`); the
registry asks its owner (the store) to create and seed it.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from envoice_mock.config import Settings
from envoice_mock.domain.errors import AccountLimit, StoreError
from envoice_mock.fakedata import derive_seed

# Each account draws its ids from its own block of ID_BLOCK ids per kind; ID_BLOCKS blocks fit
# below 2**31 (ids are 32-bit in the API).
ID_BLOCK = 100_000
ID_BLOCKS = 21_000

Row = dict[str, Any]


class Journal(Protocol):
    """Where durable state goes (persistence.SqliteJournal implements it)."""

    def save_account(self, account: Account) -> None: ...
    def save_object(self, account: Account, kind: str, obj: dict[str, Any]) -> None: ...
    def delete_object(self, account: Account, kind: str, obj_id: int) -> None: ...
    def save_activity(self, account: Account, activity: dict[str, Any]) -> None: ...
    def save_new_account(self, account: Account, encoded: Any = None) -> None: ...
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
    # The activity log in its served (JSON) form; activities.Activity describes an entry.
    activities: list[dict[str, Any]] = field(default_factory=list)
    doc_activities: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    sweep_floor: str = ""
    version: int = 0  # bumped by every write; response caches key on it
    due_heap: list[tuple[float, int]] = field(default_factory=list)  # (due timestamp, invoice id)
    blocks: list[int] = field(default_factory=list)  # further id blocks, once a sequence outgrew one
    allocate: Callable[[], int] | None = field(default=None, repr=False, compare=False)
    numbers: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> number key -> id
    # The version at which each row last changed ((kind, id) -> version; Ledger.save keeps it):
    # with it, a row's rendered view is known to be current (Documents.view_stamp).
    stamps: dict[tuple[str, Any], int] = field(default_factory=dict, repr=False, compare=False)

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


class AccountRegistry:
    """All accounts by key, their id blocks, and who may use them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.accounts: dict[str, Account] = {}
        self._taken: set[int] = set()  # the id blocks of every account registered (kept, not recomputed)

    def authenticate(
        self, key: str | None, secret: str | None, create: Callable[[str, str], Account]
    ) -> Account | None:
        """The account for a key/secret pair, made by `create` under --any-key; None when refused."""
        if not key or not secret:
            return None
        account = self.accounts.get(key)
        if account is None:
            if not self.settings.any_key:
                return None
            self.check_room()
            account = create(key, secret)
        return account if hmac.compare_digest(account.secret.encode(), secret.encode()) else None

    def check_room(self) -> None:
        """Refuse (429) a new --any-key account once --max-accounts exist."""
        limit = self.settings.max_accounts
        if len(self.accounts) >= limit:
            raise AccountLimit(
                f"This server already has {limit} accounts, its limit (--max-accounts {limit}); "
                "reuse a key or start the server with a higher limit."
            )

    def new_account(self, key: str, secret: str, id_base: int | None = None) -> Account:
        """A blank account for `key` (its user id derived from the seed), not yet registered."""
        h = derive_seed(self.settings.seed, "account", key)
        return Account(key=key, secret=secret, user_id=1000 + h % 9000, id_base=id_base or self.id_block(key))

    def id_block(self, key: str, reserved: Iterable[int] = ()) -> int:
        """The id base of a new account: the block its key hashes to, or, when another account
        (or a `reserved` one) has it, the next free block. Accounts never share ids."""
        return self._free_block(1 + derive_seed(self.settings.seed, "account", key) % 900, reserved)

    def _free_block(self, slot: int, reserved: Iterable[int] = ()) -> int:
        taken, held = self._taken, set(reserved)
        for _ in range(ID_BLOCKS):
            if slot * ID_BLOCK not in taken and slot * ID_BLOCK not in held:
                return slot * ID_BLOCK
            slot = slot % ID_BLOCKS + 1
        raise StoreError("Every block of ids is in use: this server cannot hand out more ids.")

    def own(self, account: Account) -> Account:
        """Register the account and let it draw further id blocks (after creating or restoring it)."""

        def allocate() -> int:
            block = self._free_block(((account.blocks or [account.id_base])[-1] // ID_BLOCK) + 1)
            self._taken.add(block)
            return block

        account.allocate = allocate
        self._taken.update((account.id_base, *account.blocks))
        self.accounts[account.key] = account
        return account
