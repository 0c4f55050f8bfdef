"""One unit of work per store operation: all of it is saved in one commit, or none of it.

A store operation (create, update, pay, ...) may write rows, bump id counters and record
activities. The unit of work opens one journal transaction around it and saves the account's
counters in that same transaction, so after a restart (even `kill -9`) the counters are never
behind the rows and activities that used them. When the operation fails, the transaction is
rolled back, the counters and the activities it recorded are taken back in memory, and nobody
hears of them: activity listeners (the webhook engine) are told only after the commit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from envoice_mock.retention import doc_key

if TYPE_CHECKING:
    from envoice_mock.domain.accounts import Account, Journal

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class HasJournal(Protocol):
    """The owner of the journal (the store; it unplugs its journal while seeding)."""

    journal: Journal | None


class UnitOfWork:
    """Groups the writes of one operation; nested operations join the outer one."""

    def __init__(self, owner: HasJournal) -> None:
        self.owner = owner
        self._depth = 0
        self._dirty: dict[str, Account] = {}
        self._recorded: list[tuple[Account, dict[str, Any]]] = []
        self._after: list[Callable[[], None]] = []

    def run(self, account: Account, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` as one unit over `account` (joining a unit already open)."""
        if self._depth:
            return fn(*args, **kwargs)
        sequences = dict(account.sequences)
        journal = self.owner.journal
        self._depth = 1
        try:
            if journal is None:
                result = fn(*args, **kwargs)
            else:
                with journal.transaction():
                    result = fn(*args, **kwargs)
                    for dirty in self._dirty.values():
                        journal.save_account(dirty)
        except BaseException:
            account.sequences.clear()
            account.sequences.update(sequences)
            self._take_back()
            self._after.clear()
            raise
        finally:
            self._depth = 0
            self._dirty.clear()
            self._recorded.clear()
        after, self._after = self._after, []
        for callback in after:
            callback()
        return result

    def touched(self, account: Account) -> None:
        """The account's rows or counters changed: save its counters with this commit."""
        self._dirty[account.key] = account

    def recorded(self, account: Account, activity: dict[str, Any]) -> None:
        """An activity was appended (taken back if the unit fails)."""
        self._recorded.append((account, activity))
        self.touched(account)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the unit has committed (at once outside a unit)."""
        if self._depth:
            self._after.append(callback)
        else:
            callback()

    def _take_back(self) -> None:
        for account, activity in reversed(self._recorded):
            if account.activities and account.activities[-1] is activity:
                account.activities.pop()
            key = doc_key(activity)
            entries = account.doc_activities.get(key) if key else None
            if entries and entries[-1] is activity:
                entries.pop()
                continue
            for entries in account.doc_activities.values():  # filed elsewhere: look everywhere
                if entries and entries[-1] is activity:
                    entries.pop()


def atomic(method: F) -> F:
    """Make a Store method `(self, account, ...)` one unit of work."""

    @functools.wraps(method)
    def wrapper(self: Any, account: Account, *args: Any, **kwargs: Any) -> Any:
        unit = self.unit
        if unit._depth:  # already inside a unit: join it (the cheap path seeding takes)
            return method(self, account, *args, **kwargs)
        return unit.run(account, method, self, account, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
