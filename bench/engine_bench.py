#!/usr/bin/env python3
"""CPU time of the webhook engine per delivery, without the network.

    .venv/bin/python bench/engine_bench.py [--deliveries 20000] [--rounds 5] [--webhooks 1,10]

A `WebhookEngine` on a frozen clock with a poster that answers 200 at once: what is measured
is the engine's own work per delivery (queueing, the state machine, the signed body, the
delivery log), as process CPU time, best of `--rounds`. `webhook_bench.py` measures the same
path end to end over loopback HTTP, where this cost is a small part and the machine's noise
is large; this one shows a change to the engine's hot path within a microsecond.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from envoice_mock.clock import Clock
from envoice_mock.config import Settings
from envoice_mock.delivery.records import Answer
from envoice_mock.delivery.webhooks import WebhookEngine


class InstantPoster:
    """Answers 200 to everything, at once."""

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """Accept."""
        return Answer(200)

    async def close(self) -> None:
        """Nothing to close."""


class BenchAccount:
    """Just enough of an account for the engine."""

    key = "bench"
    secret = "bench-secret"

    def __init__(self) -> None:
        self.activities: list[dict[str, Any]] = []
        self._ids = 0

    def next_id(self, sequence: str) -> int:
        """Sequential ids."""
        self._ids += 1
        return self._ids


def cpu_per_delivery(webhooks: int, deliveries: int) -> float:
    """Seconds of CPU per delivery for one run."""
    clock = Clock(origin=datetime(2024, 3, 1, 12, tzinfo=UTC), speed=0.0)
    engine = WebhookEngine(Settings(), clock, poster=InstantPoster(), activity_types=("Created",))
    account = BenchAccount()
    for i in range(webhooks):
        engine.add(account, f"http://127.0.0.1:9/hook/{i}")

    async def run() -> float:
        await engine.start()
        started = time.process_time()
        for n in range(1, deliveries // webhooks + 1):
            activity = {
                "Id": n,
                "Type": "Created",
                "Message": f"Invoice {n} created",
                "CreatedOn": "2024-03-01T12:00:00+00:00",
                "InvoiceId": n,
            }
            account.activities.append(activity)
            engine.on_activity(account, activity)
            if n % 50 == 0:
                await engine.settle_due()
        await engine.settle_due()
        spent = time.process_time() - started
        await engine.stop()
        return spent

    return asyncio.run(run()) / deliveries


def main() -> None:
    """Print the best-of-N CPU time per delivery for each webhook count."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deliveries", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--webhooks", default="1,10", help="comma list [1,10]")
    args = ap.parse_args()
    for hooks in (int(h) for h in args.webhooks.split(",")):
        best = min(cpu_per_delivery(hooks, args.deliveries) for _ in range(max(1, args.rounds)))
        print(
            f"webhooks={hooks}: {best * 1e6:.1f} us CPU per delivery (best of {args.rounds}, {args.deliveries})"
        )


if __name__ == "__main__":
    main()
