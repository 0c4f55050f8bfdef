"""Rendered views of rows, remembered per account while nothing they show has changed.

A page of 20 invoices rendered afresh after every write cost ~55 us, though the write touched
one of them at most. Each rendered view is kept with its row's stamp (`Documents.view_stamp`:
when the row and the rows it joins last changed, and its activity log's length and ends);
the next request for the same view renders only if the stamp moved. The newest `LIMIT` views
(of all accounts together) are kept, each with its account: an account that was reset is a
new object, and none of the old one's views can pass for its own. Rendered values are
shared, so nobody may change them.
"""

from __future__ import annotations

from typing import Any

from envoice_mock.domain.accounts import Account
from envoice_mock.domain.schema import Renderer
from envoice_mock.domain.store import Store

LIMIT = 20_000  # rendered views kept, of all accounts together


class RenderedView(dict[str, Any]):
    """A remembered rendered view (shared: not to be changed). Its JSON is encoded once, the
    first time an answer carries it, and kept in `json` (api/codecs.py splices it in)."""

    __slots__ = ("json",)

    def __init__(self, value: dict[str, Any]) -> None:
        super().__init__(value)
        self.json: bytes | None = None


def rendered_view(
    store: Store, account: Account, renderer: Renderer, kind: str, row: dict[str, Any], model: str
) -> Any:
    """The row's view as `model`, rendered in the renderer's enum style (or remembered)."""
    key = (account.key, kind, row.get("Id"), model, renderer.enum_style)
    stamp = store.view_stamp(account, kind, row, model)
    memo = store.views
    hit = memo.get(key)
    if hit is not None and hit[0] is account and hit[1] == stamp:
        return hit[2]
    value = RenderedView(renderer.render(model, store.view(account, kind, row, model)))
    if hit is None and len(memo) >= LIMIT:
        del memo[next(iter(memo))]  # the oldest remembered
    memo[key] = (account, stamp, value)
    return value
