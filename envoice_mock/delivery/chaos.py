"""Delivery chaos: fail, reorder, duplicate, delay, corrupt the signature, replay.

Directives are plain dicts (from scenario YAML or `POST /_mock/chaos`), validated here, and
applied by the webhook engine to the deliveries that follow them. Every random choice comes
from the seeded source, so a scenario with a seed misbehaves the same way every run. Each
affected attempt is marked in the delivery log (`Chaos: ["chaos:fail", ...]`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from envoice_mock.config import SettingsError, parse_duration
from envoice_mock.delivery.webhooks import Job, Plan, Webhook, chronological
from envoice_mock.fakedata import SeededSource
from envoice_mock.limits import MAX_CHAOS_COUNT, MAX_CHAOS_RULES, MAX_DUPLICATE_COPIES

if TYPE_CHECKING:
    from envoice_mock.delivery.webhooks import WebhookEngine

DIRECTIVES = ("fail", "reorder", "duplicate", "delay", "corrupt_signature", "replay", "clear")


class ChaosError(ValueError):
    """A chaos directive is malformed; the message says which part and why."""


class ChaosLimit(ChaosError):
    """Too many chaos rules are active (answered 429)."""


@dataclass
class Rule:
    """An active directive: what it does and how much of it is left."""

    kind: str
    account: str | None = None  # only this account's webhooks (None: all)
    remaining: int | None = None  # attempts (or activities) still affected; None = no count limit
    until: float | None = None  # clock seconds after which it stops
    status: int | None = None
    error: str | None = None
    delay: tuple[float, float] = (0.0, 0.0)
    copies: int = 1
    window: int = 0
    mode: str = "shuffle"
    every: int = 1
    seen: int = 0
    buffer: list[Job] = field(default_factory=list)

    def live(self, now: float, hook: Webhook | None = None) -> bool:
        """Whether the rule still applies (to this webhook)."""
        if hook is not None and self.account not in (None, hook.account):
            return False
        return (self.remaining is None or self.remaining > 0) and (self.until is None or now < self.until)

    def use(self) -> None:
        """Count one use."""
        if self.remaining is not None:
            self.remaining -= 1


def _int(
    spec: dict[str, Any],
    key: str,
    default: int | None,
    where: str,
    minimum: int = 0,
    maximum: int = MAX_CHAOS_COUNT,
) -> int | None:
    value = spec.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ChaosError(f"{where}.{key} must be a whole number >= {minimum}, got {value!r}")
    if value > maximum:
        raise ChaosError(f"{where}.{key} may be at most {maximum} (limit), got {value!r}")
    return value


def _duration(value: Any, where: str) -> float:
    try:
        return parse_duration(value)
    except SettingsError as exc:
        raise ChaosError(f"{where}: {exc}") from None


def parse_directive(directive: Any, now: float = 0.0) -> tuple[str, dict[str, Any]]:
    """Check a directive `{name: {options}}`; returns (name, options) or raises ChaosError."""
    if not isinstance(directive, dict) or len(directive) != 1:
        raise ChaosError(
            f"a chaos directive is one of {', '.join(DIRECTIVES)} with its options, got {directive!r}"
        )
    ((name, options),) = directive.items()
    if name not in DIRECTIVES:
        raise ChaosError(f"unknown chaos directive {name!r}; use one of {', '.join(DIRECTIVES)}")
    if options is None or options is True:
        options = {}
    if not isinstance(options, dict):
        raise ChaosError(f"chaos {name}: options must be a mapping, got {options!r}")
    known = {
        "fail": {"attempts", "for", "status", "error"},
        "reorder": {"window", "mode"},
        "duplicate": {"count", "copies"},
        "delay": {"seconds", "range", "count", "for"},
        "corrupt_signature": {"count", "every"},
        "replay": {"order", "last"},
        "clear": set(),
    }[name]
    unknown = set(options) - known
    if unknown:
        raise ChaosError(
            f"chaos {name}: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known)) or 'none'}"
        )
    return name, options


class ChaosEngine:
    """The engine's chaos hook: active rules, seeded choices, and the immediate actions."""

    def __init__(self, engine: WebhookEngine, seed: int) -> None:
        self.engine = engine
        self.source = SeededSource(seed, "chaos")
        self.rules: list[Rule] = []
        engine.chaos = self

    # --- directives ---------------------------------------------------------------------
    def apply(
        self,
        directive: Any,
        hooks: list[Webhook],
        activities: list[dict[str, Any]],
        account: str | None = None,
    ) -> dict[str, Any]:
        """Install (or, for replay/clear, perform) a directive; returns what was done."""
        now = self.engine.clock.seconds(account)
        name, o = parse_directive(directive, now)
        where = f"chaos {name}"
        if name == "clear":
            self.flush(account)
            self.rules = [r for r in self.rules if account is not None and r.account not in (None, account)]
            return {"Cleared": True}
        if name == "replay":
            order = o.get("order", "chronological")
            if order not in ("chronological", "shuffled", "reverse"):
                raise ChaosError(f"{where}.order must be chronological, shuffled or reverse")
            last = _int(o, "last", None, where, 1)
            picked = sorted(activities, key=chronological)
            if last:
                picked = picked[-last:]
            if len(picked) * len(hooks) > MAX_CHAOS_COUNT:
                raise ChaosError(
                    f"{where} would send {len(picked) * len(hooks)} deliveries; at most {MAX_CHAOS_COUNT} "
                    f"(limit): choose fewer with {where}.last"
                )
            if order == "shuffled":
                self.source.rng.shuffle(picked)
            elif order == "reverse":
                picked.reverse()
            sent = sum(self.engine.replay(h, picked, ("replay", f"replay:{order}")) for h in hooks)
            return {"Replayed": sent}
        active = [r for r in self.rules if r.account == account and (r.live(now) or r.buffer)]
        if len(active) >= MAX_CHAOS_RULES:
            raise ChaosLimit(
                f"at most {MAX_CHAOS_RULES} chaos rules may be active per account (limit); "
                "DELETE /_mock/chaos clears them"
            )
        rule = Rule(kind=name, account=account)
        if name == "fail":
            rule.remaining = _int(o, "attempts", None if "for" in o else 1, where, 1)
            if "for" in o:
                rule.until = now + _duration(o["for"], f"{where}.for")
            error = o.get("error")
            if error is not None and error not in ("timeout", "refused"):
                raise ChaosError(f"{where}.error must be timeout or refused, got {error!r}")
            rule.error = error
            status = o.get("status", 503 if error is None else None)
            if status is not None and (
                isinstance(status, bool)
                or not isinstance(status, int)
                or not 100 <= status <= 599
                or status == 200
            ):
                raise ChaosError(f"{where}.status must be an HTTP status other than 200, got {status!r}")
            rule.status = status
        elif name == "reorder":
            rule.window = _int(o, "window", 5, where, 2) or 5
            rule.mode = o.get("mode", "shuffle")
            if rule.mode not in ("shuffle", "reverse"):
                raise ChaosError(f"{where}.mode must be shuffle or reverse, got {rule.mode!r}")
            rule.remaining = rule.window
        elif name == "duplicate":
            rule.remaining = _int(o, "count", 1, where, 1)
            rule.copies = _int(o, "copies", 1, where, 1, MAX_DUPLICATE_COPIES) or 1
        elif name == "delay":
            if "range" in o:
                rng = o["range"]
                if not isinstance(rng, list) or len(rng) != 2:
                    raise ChaosError(f"{where}.range must be [low, high]")
                low, high = (_duration(v, f"{where}.range") for v in rng)
                if high < low:
                    raise ChaosError(f"{where}.range: high is below low")
                rule.delay = (low, high)
            else:
                seconds = _duration(o.get("seconds", 5), f"{where}.seconds")
                rule.delay = (seconds, seconds)
            rule.remaining = _int(o, "count", None if "for" in o else 1, where, 1)
            if "for" in o:
                rule.until = now + _duration(o["for"], f"{where}.for")
        elif name == "corrupt_signature":
            rule.remaining = _int(o, "count", 1, where, 1)
            rule.every = _int(o, "every", 1, where, 1) or 1
        self.rules.append(rule)
        return {"Installed": name}

    # --- the engine's hooks -------------------------------------------------------------
    def on_enqueue(self, hook: Webhook, jobs: list[Job]) -> list[Job]:
        """Reorder: hold live jobs until the window fills, then release them shuffled/reversed."""
        now = self.engine.clock.seconds(hook.account)
        rule = next((r for r in self.rules if r.kind == "reorder" and r.live(now, hook)), None)
        if rule is None:
            return jobs
        for job in jobs:
            rule.buffer.append(job)
            rule.use()
        if rule.remaining is not None and rule.remaining <= 0:
            self._release(rule)
        return []

    def plan(self, hook: Webhook, job: Job) -> Plan:
        """What happens to this attempt: fail, delay, corrupt, duplicate (each marked)."""
        plan = Plan()
        if job.kind in ("duplicate",):
            return plan
        clock = self.engine.clock
        self.rules = [r for r in self.rules if r.live(clock.seconds(r.account)) or r.buffer]
        now = clock.seconds(hook.account)
        for rule in self.rules:
            if not rule.live(now, hook):
                continue
            if rule.kind == "delay" and "chaos:delay" not in job.marks:
                low, high = rule.delay
                plan.delay = low if high == low else self.source.rng.uniform(low, high)
                plan.marks.append("chaos:delay")
                rule.use()
                return plan  # the attempt comes back later, marked, and meets the other rules then
        for rule in self.rules:
            if not rule.live(now, hook):
                continue
            if rule.kind == "fail" and plan.status is None and plan.error is None:
                plan.status, plan.error = rule.status, rule.error
                plan.marks.append("chaos:fail")
                rule.use()
            elif rule.kind == "corrupt_signature" and not plan.corrupt_signature:
                rule.seen += 1
                if (rule.seen - 1) % rule.every == 0:
                    plan.corrupt_signature = True
                    plan.marks.append("chaos:corrupt_signature")
                    rule.use()
            elif (
                rule.kind == "duplicate" and job.kind in ("live", "catchup", "retry") and not plan.duplicates
            ):
                plan.duplicates = rule.copies
                plan.marks.append("chaos:duplicate")
                rule.use()
        return plan

    def flush(self, account: str | None = None) -> int:
        """Release held reorder buffers now (a wait step does this)."""
        released = 0
        for rule in self.rules:
            if (
                rule.kind == "reorder"
                and rule.buffer
                and (account is None or rule.account in (None, account))
            ):
                released += len(rule.buffer)
                self._release(rule)
        return released

    def _release(self, rule: Rule) -> None:
        held = list(rule.buffer)
        rule.buffer.clear()
        if rule.mode == "reverse":
            held.reverse()
        else:
            self.source.rng.shuffle(held)
        for job in held:
            job.marks = (*job.marks, f"chaos:reorder:{rule.mode}")
            self.engine.push_now(job)
