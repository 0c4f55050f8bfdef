"""Ids handed out beside the store's counters: derived from the seed and a saved counter.

Each id is a keyed hash of (seed, owner, counter): the same seed and the same inputs from a
fresh start give the same ids, and since the counter is saved with the row that uses it, a
server restarted from its state file never hands the same id out twice.
"""

from __future__ import annotations

import functools
import hashlib


def derived_token(seed: int, *parts: object, nbytes: int = 6, key: str = "") -> str:
    """A hex token of `nbytes` from the seed and the parts, keyed (BLAKE2b MAC) when `key` is
    given: then nobody without the key can compute it."""
    text = ":".join(str(p) for p in (seed, *parts))
    return hashlib.blake2b(text.encode(), digest_size=nbytes, key=_mac_key(key)).hexdigest()


@functools.lru_cache(maxsize=1024)
def _mac_key(key: str) -> bytes:
    """The MAC key of an account secret (hashed once, not on every token)."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass")).digest() if key else b""


def webhook_id(seed: int, account_key: str, counter: int) -> str:
    """`wh_` + 12 hex digits for the account's n-th webhook registration."""
    return "wh_" + derived_token(seed, account_key, "webhook", counter)
