"""--any-key accounts are seeded off the event loop, so a flood of new keys never stalls others.

Seeding an account takes milliseconds of CPU (faker, pricing, histories). Done inline, a
thousand new keys at once queue every other request behind them. This ASGI middleware sees a
request with an unseen key, seeds that account in a worker thread (one at a time, into a
private scratch store, so the data are exactly what inline seeding gives: same seed, same key,
same bytes), then hands it to the live store on the event loop and lets the request through.
Concurrent first requests with one key wait for one seeding.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from envoice_mock.domain.store import Account, Store

Shares = dict[str, tuple[str, str, int]]


class AccountFactory:
    """Seeds new accounts in one worker thread and adopts them into the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._executor: ThreadPoolExecutor | None = None
        self._pending: dict[str, asyncio.Future[tuple[Account, Shares]]] = {}
        self._reserved: dict[str, int] = {}  # id blocks of the accounts being seeded

    async def ensure(self, key: str, secret: str) -> None:
        """Make sure `key` has an account (when --any-key and the limit allow; else the normal
        authentication answers 401 or 429)."""
        store = self.store
        if key in store.accounts or not store.settings.any_key:
            return
        if (
            key not in self._pending
            and len(store.accounts) + len(self._pending) >= store.settings.max_accounts
        ):
            return
        future = self._pending.get(key)
        if future is None:
            id_base = store.id_block(key, reserved=self._reserved.values())
            self._reserved[key] = id_base
            if self._executor is None:
                # The event loop gets the GIL back within 1 ms (not 5) while a seeding runs.
                sys.setswitchinterval(0.001)
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="envoice-mock-seeding")
            loop = asyncio.get_running_loop()
            future = self._pending[key] = loop.run_in_executor(
                self._executor, self._seed, key, secret, id_base
            )
            try:
                account, shares = await future
            finally:
                del self._pending[key]
                del self._reserved[key]
            store.adopt(account, shares)
        else:
            await asyncio.shield(future)

    async def ensure_for(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """`ensure` the account named by a request's raw x-auth-key / x-auth-secret headers."""
        key = secret = None
        for name, value in headers:
            if name == b"x-auth-key":
                key = value.decode("latin-1")
            elif name == b"x-auth-secret":
                secret = value.decode("latin-1")
        if key and secret:
            await self.ensure(key, secret)

    def _seed(self, key: str, secret: str, id_base: int) -> tuple[Account, Shares]:
        from envoice_mock.domain.seeding import seed_account
        from envoice_mock.domain.store import Store

        live = self.store
        scratch = Store(live.spec, live.settings, live.clock, seeder=seed_account)
        account = scratch.add_account(key, secret, id_base=id_base)
        return account, scratch.shares

    def close(self) -> None:
        """Stop the worker thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


class SeedOffLoop:
    """ASGI middleware: a request with an unseen key waits for its account, seeded off-loop."""

    def __init__(self, app: ASGIApp, factory: AccountFactory) -> None:
        self.app = app
        self.factory = factory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.factory.store.settings.any_key:
            await self.factory.ensure_for(scope.get("headers", ()))
        await self.app(scope, receive, send)
