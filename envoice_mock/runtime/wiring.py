"""The running mock's parts, wired together once: spec, clock, store, webhook engine."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from envoice_mock.clock import Clock
from envoice_mock.config import Settings
from envoice_mock.delivery.chaos import ChaosEngine
from envoice_mock.delivery.webhooks import WebhookEngine
from envoice_mock.domain.schema import Coercer, Renderer
from envoice_mock.domain.seeding import seed_account
from envoice_mock.domain.store import Store
from envoice_mock.faults import ApiFault
from envoice_mock.retention import Retention
from envoice_mock.runtime.provisioning import provision
from envoice_mock.runtime.runs import ScenarioRuns
from envoice_mock.spec import Spec, load_spec

ENUM_STYLES = ("int", "string")
# How far past a due date an advance stops, so that the date has passed there (a millisecond:
# activities are dated in whole seconds, so the Overdue one shows the due date itself).
DUE_MARGIN = 0.001


class ResponseCache:
    """Encoded GET responses keyed by (account, account version, operation, query, style, accept).

    Any write to an account bumps its version, so a stale entry is never served; the cache is
    cleared whole when it grows past `limit` entries.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._entries: dict[tuple[Any, ...], Any] = {}

    def get(self, key: tuple[Any, ...]) -> Any:
        """A cached response, or None."""
        return self._entries.get(key)

    def put(self, key: tuple[Any, ...], response: Any) -> None:
        """Remember a response."""
        if len(self._entries) >= self.limit:
            self._entries.clear()
        self._entries[key] = response


@dataclass
class Runtime:
    """Everything a request handler or a scenario needs."""

    settings: Settings
    spec: Spec
    clock: Clock
    store: Store
    webhooks: WebhookEngine
    coercer: Coercer
    chaos: ChaosEngine
    renderers: dict[str, Renderer] = field(default_factory=dict)
    responses: ResponseCache = field(default_factory=ResponseCache)
    retention: Retention = field(default_factory=Retention)
    errors: list[str] = field(default_factory=list)  # unhandled errors (the pytest plugin re-raises them)
    runs: ScenarioRuns = field(default_factory=ScenarioRuns)  # scenario runs started over HTTP
    extras: dict[str, Any] = field(default_factory=dict)  # the dashboard's live view (api/live.py)

    def renderer_for(self, style: str | None = None) -> Renderer:
        """The renderer for an enum style (the configured one unless a request asks otherwise);
        an unknown style asked for by a request is a 400 fault, never a silent fallback."""
        if style is None or not style.strip():
            style = self.settings.enum_style
        else:
            style = style.strip().lower()
            if style not in ENUM_STYLES:
                raise ApiFault(
                    400,
                    "InvalidValue",
                    f"x-mock-enum-style must be one of {', '.join(ENUM_STYLES)}, not {style!r}.",
                    field="x-mock-enum-style",
                )
        renderer = self.renderers.get(style)
        if renderer is None:
            renderer = self.renderers[style] = Renderer(self.spec, style)
        return renderer

    async def advance(self, seconds: float, account: str | None = None) -> None:
        """Move one account's clock (or the server's) forward, stopping at every timer that falls
        due on the way, so retries, probes and due dates fire at their own instants, in order."""
        target = self.clock.seconds(account) + seconds
        self.sweep(account)
        while True:
            # The next stop: the account's next due date on the way (just past it: an invoice is
            # Overdue once its due date has passed), or the end of the advance.
            stop = min(target, self._next_due(account))
            await self.webhooks.run_until_idle(
                max_virtual=max(0.0, stop - self.clock.seconds(account)),
                on_advance=lambda: self.sweep(account),
                account=account,
            )
            self.clock.advance(max(0.0, stop - self.clock.seconds(account)), account)
            self.sweep(account)
            if stop >= target:
                break
        await self.webhooks.settle_due(account)

    def _next_due(self, account: str | None) -> float:
        """When (on the clock's time line) the account's next unpaid invoice will have fallen
        due; infinity when none is waiting (or for the server's own clock)."""
        found = self.store.accounts.get(account) if account is not None else None
        if found is None or not found.due_heap:
            return math.inf
        due_in = found.due_heap[0][0] - self.clock.now(account).timestamp()
        return self.clock.seconds(account) + max(0.0, due_in) + DUE_MARGIN

    def close(self) -> None:
        """Release the state file (its lock too); idempotent."""
        journal = self.store.journal
        if journal is not None:
            journal.close()
            self.store.journal = self.webhooks.journal = None

    def sweep(self, account: str | None = None) -> int:
        """Run the overdue sweep over one account (or every account), each on its own clock."""
        if account is not None:
            found = self.store.accounts.get(account)
            return self.store.sweep_overdue(found) if found is not None else 0
        return sum(self.store.sweep_overdue(a) for a in list(self.store.accounts.values()))


def build_runtime(settings: Settings, spec: Spec | None = None, clock: Clock | None = None) -> Runtime:
    """Load the fixtures, restore or seed the accounts, and wire the webhook engine."""
    spec = spec or load_spec(settings.fixtures)
    if clock is None:
        clock = Clock(origin=settings.clock_start, speed=settings.clock_speed)
    journal = None
    if settings.state_file:
        from envoice_mock.runtime.persistence import SqliteJournal

        journal = SqliteJournal(settings.state_file)
    store = Store(spec, settings, clock, journal=journal, seeder=seed_account)
    webhooks = WebhookEngine(
        settings,
        clock,
        journal=journal,
        activity_types=spec.enums["ActivityType"],
        payload_fields=spec.webhook_fields,
    )
    store.listeners.append(webhooks.on_activity)
    retention = Retention()
    store.listeners.append(retention.on_activity)  # after delivery is queued: compact, then trim
    try:
        if journal:
            journal.restore(store, webhooks)
        provision(store, webhooks, spec, settings)
    except BaseException:
        if journal:
            journal.close()
        raise
    chaos = ChaosEngine(webhooks, settings.seed)
    webhooks.chaos = chaos  # every attempt is planned by the chaos rules (none: plain delivery)
    return Runtime(
        settings=settings,
        spec=spec,
        clock=clock,
        store=store,
        webhooks=webhooks,
        coercer=Coercer(spec),
        chaos=chaos,
        retention=retention,
    )
