"""Pages read straight off a table agree with slicing the whole ordered list."""

from __future__ import annotations

import pytest

from envoice_mock.config import Settings
from envoice_mock.domain.store import paginate
from envoice_mock.runtime.wiring import build_runtime


@pytest.mark.parametrize("kind", ["invoice", "client"])
@pytest.mark.parametrize(("page", "size"), [(1, 1), (1, 20), (2, 7), (3, 20), (99, 5), (None, 10), (2, None)])
def test_a_page_is_the_slice_of_the_ordered_rows(kind: str, page: int | None, size: int | None) -> None:
    store = build_runtime(Settings()).store
    account = store.accounts["sandbox-key"]
    assert store.page(account, kind, page, size) == paginate(store.rows(account, kind), page, size)


def test_bad_paging_is_still_refused() -> None:
    store = build_runtime(Settings()).store
    account = store.accounts["sandbox-key"]
    for page, size in ((0, 5), (1, 0), (-1, 3)):
        with pytest.raises(Exception, match="page"):
            store.page(account, "invoice", page, size)
