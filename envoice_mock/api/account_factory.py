"""--any-key accounts are seeded off the event loop, so a flood of new keys never stalls others.

Seeding an account takes 15-40 ms of CPU (faker, pricing, histories). Done inline, a thousand
new keys at once queue every other request behind them; done in a thread, it holds the GIL
against the event loop. This ASGI middleware sees a request with an unseen key, has that
account seeded in a worker process (runtime/seed_workers.py: same seed, same key, same bytes as
inline seeding), then hands it to the live store on the event loop (about a millisecond: load
the pickled account, register it, journal it) and lets the request through. Concurrent first
requests with one key wait for one seeding, which goes on even when the request that started it
is cancelled. Where no worker process can run (or one died mid-seeding), that account is seeded
in a thread instead, as before.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from starlette.types import ASGIApp, Receive, Scope, Send

from envoice_mock.api.credentials import credentials
from envoice_mock.domain.store import Store
from envoice_mock.runtime.seed_workers import BrokenProcessPool, Seeded, SeedPool, seed_privately

log = logging.getLogger("envoice_mock.accounts")


class AccountFactory:
    """Seeds new accounts in worker processes and adopts them into the store."""

    def __init__(self, store: Store, pool: SeedPool | None = None) -> None:
        self.store = store
        self.pool = pool or SeedPool(store.spec, store.settings)
        self._thread: ThreadPoolExecutor | None = None  # the fallback
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._reserved: dict[str, int] = {}  # id blocks of the accounts being seeded

    async def ensure(self, key: str, secret: str) -> None:
        """Make sure `key` has an account (when --any-key and the limit allow; else the normal
        authentication answers 401 or 429)."""
        store = self.store
        if key in store.accounts or not store.settings.any_key:
            return
        task = self._pending.get(key)
        if task is None:
            if len(store.accounts) + len(self._pending) >= store.settings.max_accounts:
                return
            id_base = store.id_block(key, reserved=self._reserved.values())
            self._reserved[key] = id_base
            now = store.clock.now(key)  # the account is created now, however long the queue
            task = self._pending[key] = asyncio.create_task(self._make(key, secret, id_base, now))
        await asyncio.shield(task)

    async def ensure_for(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """`ensure` the account named by a request's raw x-auth-key / x-auth-secret headers (the
        first of each, as authentication reads them)."""
        key, secret = credentials(headers)
        if key and secret:
            await self.ensure(key, secret)

    async def _make(self, key: str, secret: str, id_base: int, now: datetime) -> None:
        try:
            account, shares, encoded = await self._seed(key, secret, id_base, now)
            self.store.adopt(account, shares, encoded)
        finally:
            del self._pending[key]
            del self._reserved[key]

    async def _seed(self, key: str, secret: str, id_base: int, now: datetime) -> Seeded:
        try:
            return await self.pool.seed(key, secret, id_base, now)
        except (BrokenProcessPool, OSError) as exc:
            log.warning("seeding %r in a thread: no worker process could (%s)", key, exc)
        if self._thread is None:
            sys.setswitchinterval(0.001)  # the loop gets the GIL back within 1 ms (not 5)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="envoice-mock-seeding")
        store = self.store
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, seed_privately, store.spec, store.settings, now, key, secret, id_base
        )

    def close(self) -> None:
        """Stop the worker processes (and the fallback thread)."""
        self.pool.close()
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=True)
            self._thread = None


class SeedOffLoop:
    """ASGI middleware: a request with an unseen key waits for its account, seeded off-loop."""

    def __init__(self, app: ASGIApp, factory: AccountFactory) -> None:
        self.app = app
        self.factory = factory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.factory.store.settings.any_key:
            await self.factory.ensure_for(scope.get("headers", ()))
        await self.app(scope, receive, send)
