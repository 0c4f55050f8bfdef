"""The asyncio side of delivery: run due attempts, a few at a time per webhook, and drive
virtual time for `settle` / `idle`.

The dispatcher knows attempts only as jobs in the outbox. It wakes when something is queued
or the clock is advanced, moves what fell due into the webhooks' lanes, and starts up to
`concurrency` workers per webhook; a worker hands each job it takes to `handle` (the engine),
one after another, until the lane is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Container, Mapping
from typing import Any

from envoice_mock.clock import Clock
from envoice_mock.delivery.outbox import Outbox
from envoice_mock.delivery.records import Job, Webhook

log = logging.getLogger("envoice_mock.delivery.webhooks")


class Dispatcher:
    """Workers per webhook over the outbox's lanes, woken by new jobs and clock advances."""

    def __init__(
        self,
        clock: Clock,
        outbox: Outbox,
        webhooks: Mapping[str, Webhook],
        stalled: Container[str],
        handle: Callable[[Webhook, Job], Awaitable[None] | None],
        concurrency: int,
    ) -> None:
        self.clock = clock
        self.outbox = outbox
        self.webhooks = webhooks  # hook id -> webhook (a removed one is gone)
        self.stalled = stalled  # hook ids to which only retries and probes may go out
        self.handle = handle  # a job -> the attempt to await, or None when it was dealt with at once
        self.concurrency = max(1, concurrency)
        self.stopping = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: dict[asyncio.Task[None], str] = {}  # worker task -> account key
        self._busy: Counter[str] = Counter()  # hook id -> workers running
        clock.on_advance(self.poke)

    def open(self) -> None:
        """Get ready to run on the current loop (before anything is queued at start)."""
        self.stopping = False
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()

    @property
    def running(self) -> bool:
        """Whether the loop task runs."""
        return self._task is not None

    def launch(self) -> None:
        """Start the loop task, and workers for what an earlier stop left waiting."""
        for hook_id in self.outbox.ready_hooks():
            self._pump(hook_id)
        self._task = asyncio.create_task(self._run(), name="envoice-mock-dispatcher")

    async def stop(self) -> None:
        """Stop at once: the loop ends and workers in flight are cancelled."""
        self.stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        tasks = list(self._inflight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def stop_soon(self) -> None:
        """From any thread or a signal handler: abandon attempts in flight and end every wait."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._abandon)

    def _abandon(self) -> None:
        self.stopping = True
        for task in list(self._inflight):
            task.cancel()
        self.poke()

    def poke(self) -> None:
        """Something was queued or time moved: look again."""
        if self._wake is not None:
            self._wake.set()

    async def settle_due(self, account: str | None = None, timeout: float = 30.0) -> None:
        """Wait until no attempt (of one account, or any) is due now and none is in flight."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            self._dispatch_due(account)
            tasks = [t for t, key in self._inflight.items() if account is None or key == account]
            if not tasks:
                nxt = self.outbox.next_in(account)
                if nxt is None or nxt > 0:
                    return
                continue
            await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))

    async def run_until_idle(
        self,
        max_virtual: float = 86400.0,
        timeout: float = 120.0,
        on_advance: Callable[[], Any] | None = None,
        account: str | None = None,
    ) -> None:
        """Drive virtual time (one account's, or the server's): deliver, jump to the next due
        attempt, repeat, until nothing is queued or `max_virtual` seconds have passed."""
        start = self.clock.seconds(account)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            await self.settle_due(account, timeout=max(0.1, deadline - time.monotonic()))
            nxt = self.outbox.next_in(account)
            if nxt is None or self.clock.seconds(account) + nxt - start > max_virtual:
                return
            self.clock.advance(max(0.0, nxt), account)
            if on_advance:
                on_advance()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._dispatch_due()
            nxt = self.outbox.next_in()
            wait = None if nxt is None else self.clock.real_delay(nxt)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=None if wait is None else max(wait, 0.001))

    def _dispatch_due(self, account: str | None = None) -> None:
        for hook_id in self.outbox.promote(account):
            self._pump(hook_id)

    def _pump(self, hook_id: str) -> None:
        """Start workers for the webhook's ready attempts, up to its concurrency."""
        if self.stopping:
            return
        hook = self.webhooks.get(hook_id)
        if hook is None:
            for dropped in self.outbox.take_all(hook_id):
                self.outbox.release(dropped)
            return
        while self._busy[hook_id] < self.concurrency and self.outbox.has_ready(
            hook_id, hook_id in self.stalled
        ):
            self._busy[hook_id] += 1
            task = asyncio.ensure_future(self._work(hook))
            self._inflight[task] = hook.account
            task.add_done_callback(functools.partial(self._finished, hook_id))

    async def _work(self, hook: Webhook) -> None:
        """One slot of a webhook: handle ready jobs one after another."""
        while not self.stopping and self.webhooks.get(hook.id) is hook:
            job = self.outbox.take(hook.id, urgent_only=hook.id in self.stalled)
            if job is None:
                return
            attempt = self.handle(hook, job)  # None: handled at once (held)
            if attempt is not None:
                await attempt

    def _finished(self, hook_id: str, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._busy[hook_id] -= 1
        if self._busy[hook_id] <= 0:
            del self._busy[hook_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook dispatcher error", exc_info=task.exception())
        self._pump(hook_id)  # what fell due while this worker was finishing
