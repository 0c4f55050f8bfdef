"""Share links: the access token of a document, its opaque link id, and the index that resolves them.

A token and a link id are keyed by the account's secret, so only its holder can compute links.
The base URL the links point at is given, not read from settings.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Mapping
from typing import Any

from envoice_mock.domain.accounts import Account
from envoice_mock.ids import derived_token

# The path segment of each kind's share page.
SHARE_PATHS = {
    "invoice": "invoice",
    "estimation": "estimation",
    "paymentlink": "paymentlink",
    "order": "order",
}

Share = tuple[str, str, int]  # (account key, kind, row id)


@functools.lru_cache(maxsize=8192)
def _opaque(seed: int, key: str, secret: str, kind: str, obj_id: int) -> str:
    """A link id: a pure function of its inputs, remembered for the documents in use (every
    activity carries its document's link, and a keyed hash per activity showed in profiles)."""
    return derived_token(seed, key, "link", kind, obj_id, key=secret)


class ShareIndex:
    """Every access token handed out, and the links built from them."""

    def __init__(self, seed: int, base_url: str) -> None:
        self.seed = seed
        self.base_url = base_url
        self.tokens: dict[str, Share] = {}

    def token(self, account: Account, kind: str, obj_id: int) -> str:
        """A row's AccessToken (indexed, so that its link resolves)."""
        token = derived_token(self.seed, account.key, kind, obj_id, nbytes=16, key=account.secret)
        self.tokens[token] = (account.key, kind, obj_id)
        return token

    def opaque(self, account: Account, kind: str, obj_id: int) -> str:
        """The `id` of a share link (keyed like the token)."""
        return _opaque(self.seed, account.key, account.secret, kind, obj_id)

    def link(self, account: Account, kind: str, row: dict[str, Any], pdf: bool = False) -> str:
        """`<base>/<kind>/shared?token=<AccessToken>&id=<opaque>` (or the pdf link)."""
        token = row.get("AccessToken") or self.token(account, kind, row["Id"])
        opaque = self.opaque(account, kind, row["Id"])
        verb = "pdf" if pdf else "shared"
        return f"{self.base_url}/{SHARE_PATHS.get(kind, kind)}/{verb}?token={token}&id={opaque}"

    def register(self, account: Account, kind: str, row: dict[str, Any]) -> None:
        """Index a (restored) row's access token so its share link resolves."""
        if row.get("AccessToken"):
            self.tokens[row["AccessToken"]] = (account.key, kind, row["Id"])

    def forget(self, key: str) -> None:
        """Drop every token of one account (it is being reset)."""
        for token in [t for t, (k, _, _) in self.tokens.items() if k == key]:
            del self.tokens[token]

    def resolve(
        self, accounts: Mapping[str, Account], token: str, path_kind: str, opaque: str
    ) -> tuple[Account, str, dict[str, Any]] | None:
        """The document behind a share link, if it still exists and the link's path kind and
        `id` are the ones the token was made for."""
        found = self.tokens.get(token)
        if not found:
            return None
        key, kind, obj_id = found
        account = accounts.get(key)
        row = account.table(kind).get(obj_id) if account else None
        if not account or not row or SHARE_PATHS.get(kind, kind) != path_kind:
            return None
        if not hmac.compare_digest(opaque.encode(), self.opaque(account, kind, obj_id).encode()):
            return None
        return account, kind, row
