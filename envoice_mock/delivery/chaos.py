"""Delivery chaos: fail, reorder, duplicate, delay, corrupt the signature, replay.

Directives are plain dicts (from scenario YAML or `POST /_mock/chaos`), one registered class
each: a `Rule` is installed and shapes the attempts that follow it; an `Action` (replay, clear)
happens at once. A directive's class names its options, checks them (with their limits) and
keeps only its own fields, so adding one is one class here. Every random choice comes from the
seeded source, so a scenario with a seed misbehaves the same way every run. Each affected
attempt is marked in the delivery log (`Chaos: ["chaos:fail", ...]`).

The runtime's wiring plugs the `ChaosEngine` into the webhook engine (`engine.chaos`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from envoice_mock.config import SettingsError, parse_duration
from envoice_mock.delivery.webhooks import Job, Plan, Webhook, chronological
from envoice_mock.fakedata import SeededSource
from envoice_mock.limits import MAX_CHAOS_COUNT, MAX_CHAOS_RULES, MAX_DUPLICATE_COPIES

if TYPE_CHECKING:
    from envoice_mock.delivery.webhooks import WebhookEngine

Options = dict[str, Any]


class ChaosError(ValueError):
    """A chaos directive is malformed; the message says which part and why."""


class ChaosLimit(ChaosError):
    """Too many chaos rules are active (answered 429)."""


def _int(
    spec: Options, key: str, default: int | None, where: str, minimum: int = 0, maximum: int = MAX_CHAOS_COUNT
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


class Directive:
    """One kind of directive: its name and the options it takes."""

    name: ClassVar[str]
    options: ClassVar[frozenset[str]] = frozenset()


DIRECTIVES: dict[str, type[Directive]] = {}


def directive(cls: type[Directive]) -> type[Directive]:
    """Register a directive class under its name (the order of registration is the order listed)."""
    DIRECTIVES[cls.name] = cls
    return cls


@dataclass
class Rule(Directive):
    """An installed directive: whose webhooks it affects and how much of it is left."""

    account: str | None = None  # only this account's webhooks (None: all)
    remaining: int | None = None  # attempts (or activities) still affected; None = no count limit
    until: float | None = None  # clock seconds after which it stops

    @classmethod
    def parse(cls, options: Options, now: float, account: str | None) -> Rule:
        """The rule the options describe, or ChaosError."""
        raise NotImplementedError

    def live(self, now: float, hook: Webhook | None = None) -> bool:
        """Whether the rule still applies (to this webhook)."""
        if hook is not None and self.account not in (None, hook.account):
            return False
        return (self.remaining is None or self.remaining > 0) and (self.until is None or now < self.until)

    @property
    def holding(self) -> bool:
        """Whether it still holds jobs back (then it stays until they are released)."""
        return False

    def use(self) -> None:
        """Count one use."""
        if self.remaining is not None:
            self.remaining -= 1

    def hold_back(self, job: Job, plan: Plan, source: SeededSource) -> bool:
        """First pass over an attempt: True when the rule postpones it (nothing else applies now)."""
        return False

    def shape(self, job: Job, plan: Plan) -> None:
        """Second pass over an attempt that goes out now: add this rule's fault to the plan."""


@directive
@dataclass
class Fail(Rule):
    """Answer attempts with a status (503 by default) or a network error, without sending them."""

    name = "fail"
    options = frozenset({"attempts", "for", "status", "error"})
    status: int | None = None
    error: str | None = None

    @classmethod
    def parse(cls, options: Options, now: float, account: str | None) -> Rule:
        """`attempts` (1 unless `for` a duration), `status` other than 200, or `error` timeout/refused."""
        where = "chaos fail"
        rule = cls(
            account=account, remaining=_int(options, "attempts", None if "for" in options else 1, where, 1)
        )
        if "for" in options:
            rule.until = now + _duration(options["for"], f"{where}.for")
        error = options.get("error")
        if error is not None and error not in ("timeout", "refused"):
            raise ChaosError(f"{where}.error must be timeout or refused, got {error!r}")
        rule.error = error
        status = options.get("status", 503 if error is None else None)
        if status is not None and (
            isinstance(status, bool)
            or not isinstance(status, int)
            or not 100 <= status <= 599
            or status == 200
        ):
            raise ChaosError(f"{where}.status must be an HTTP status other than 200, got {status!r}")
        rule.status = status
        return rule

    def shape(self, job: Job, plan: Plan) -> None:
        """Fail the attempt unless an earlier rule already does."""
        if plan.status is None and plan.error is None:
            plan.status, plan.error = self.status, self.error
            plan.marks.append("chaos:fail")
            self.use()


@directive
@dataclass
class Reorder(Rule):
    """Hold the next `window` live jobs, then release them shuffled (or reversed)."""

    name = "reorder"
    options = frozenset({"window", "mode"})
    window: int = 5
    mode: str = "shuffle"
    buffer: list[Job] = field(default_factory=list)

    @classmethod
    def parse(cls, options: Options, now: float, account: str | None) -> Rule:
        """`window` of at least 2 jobs, `mode` shuffle or reverse."""
        where = "chaos reorder"
        window = _int(options, "window", 5, where, 2) or 5
        mode = options.get("mode", "shuffle")
        if mode not in ("shuffle", "reverse"):
            raise ChaosError(f"{where}.mode must be shuffle or reverse, got {mode!r}")
        return cls(account=account, remaining=window, window=window, mode=mode)

    @property
    def holding(self) -> bool:
        """Jobs are held until the window fills or a wait flushes them."""
        return bool(self.buffer)

    def take(self, jobs: list[Job]) -> bool:
        """Hold the jobs; True when the window is full (time to release)."""
        for job in jobs:
            self.buffer.append(job)
            self.use()
        return self.remaining is not None and self.remaining <= 0

    def release(self, source: SeededSource) -> list[Job]:
        """The held jobs in their new order, marked."""
        held = list(self.buffer)
        self.buffer.clear()
        if self.mode == "reverse":
            held.reverse()
        else:
            source.rng.shuffle(held)
        for job in held:
            job.marks = (*job.marks, f"chaos:reorder:{self.mode}")
        return held


@directive
@dataclass
class Duplicate(Rule):
    """Deliver the next `count` attempts `copies` more times."""

    name = "duplicate"
    options = frozenset({"count", "copies"})
    copies: int = 1

    @classmethod
    def parse(cls, options: Options, now: float, account: str | None) -> Rule:
        """`count` attempts, `copies` each (limited)."""
        where = "chaos duplicate"
        remaining = _int(options, "count", 1, where, 1)
        copies = _int(options, "copies", 1, where, 1, MAX_DUPLICATE_COPIES) or 1
        return cls(account=account, remaining=remaining, copies=copies)

    def shape(self, job: Job, plan: Plan) -> None:
        """Copy a first delivery, a retry or a catch-up (never a probe or a replay)."""
        if job.kind in ("live", "catchup", "retry") and not plan.duplicates:
            plan.duplicates = self.copies
            plan.marks.append("chaos:duplicate")
            self.use()


@directive
@dataclass
class Delay(Rule):
    """Hold attempts back by `seconds` (or a seeded choice within `range`)."""

    name = "delay"
    options = frozenset({"seconds", "range", "count", "for"})
    low: float = 0.0
    high: float = 0.0

    @classmethod
    def parse(cls, options: Options, now: float, account: str | None) -> Rule:
        """`seconds` (5) or `range` [low, high]; `count` attempts (1 unless `for` a duration)."""
        where = "chaos delay"
        if "range" in options:
            rng = options["range"]
            if not isinstance(rng, list) or len(rng) != 2:
                raise ChaosError(f"{where}.range must be [low, high]")
            low, high = (_duration(v, f"{where}.range") for v in rng)
            if high < low:
                raise ChaosError(f"{where}.range: high is below low")
        else:
            low = high = _duration(options.get("seconds", 5), f"{where}.seconds")
        rule = cls(account=account, low=low, high=high)
        rule.remaining = _int(options, "count", None if "for" in options else 1, where, 1)
        if "for" in options:
            rule.until = now + _duration(options["for"], f"{where}.for")
        return rule

    def hold_back(self, job: Job, plan: Plan, source: SeededSource) -> bool:
        """Postpone an attempt not delayed yet; it meets the other rules when it comes back."""
        if "chaos:delay" in job.marks:
            return False
        plan.delay = self.low if self.high == self.low else source.rng.uniform(self.low, self.high)
        plan.marks.append("chaos:delay")
        self.use()
        return True


@directive
@dataclass
class CorruptSignature(Rule):
    """Sign `count` attempts (every `every`-th one) with a wrong signature."""

    name = "corrupt_signature"
    options = frozenset({"count", "every"})
    every: int = 1
    seen: int = 0

    @classmethod
    def parse(cls, options: Options, now: float, account: str | None) -> Rule:
        """`count` attempts, `every` n-th one."""
        where = "chaos corrupt_signature"
        remaining = _int(options, "count", 1, where, 1)
        return cls(account=account, remaining=remaining, every=_int(options, "every", 1, where, 1) or 1)

    def shape(self, job: Job, plan: Plan) -> None:
        """Corrupt every `every`-th attempt this rule sees."""
        if not plan.corrupt_signature:
            self.seen += 1
            if (self.seen - 1) % self.every == 0:
                plan.corrupt_signature = True
                plan.marks.append("chaos:corrupt_signature")
                self.use()


class Action(Directive):
    """A directive done at once, on the account's webhooks and activities."""

    @classmethod
    def parse(cls, options: Options) -> Action:
        """The action the options describe, or ChaosError."""
        return cls()

    def perform(
        self, chaos: ChaosEngine, hooks: list[Webhook], activities: list[dict[str, Any]], account: str | None
    ) -> dict[str, Any]:
        """Do it; what was done."""
        raise NotImplementedError


@directive
@dataclass
class Replay(Action):
    """Send past activities again: the `last` n (or all), chronological, shuffled or reversed."""

    name = "replay"
    options = frozenset({"order", "last"})
    order: str = "chronological"
    last: int | None = None

    @classmethod
    def parse(cls, options: Options) -> Action:
        """`order` chronological, shuffled or reverse; `last` n activities."""
        order = options.get("order", "chronological")
        if order not in ("chronological", "shuffled", "reverse"):
            raise ChaosError("chaos replay.order must be chronological, shuffled or reverse")
        return cls(order=order, last=_int(options, "last", None, "chaos replay", 1))

    def perform(
        self, chaos: ChaosEngine, hooks: list[Webhook], activities: list[dict[str, Any]], account: str | None
    ) -> dict[str, Any]:
        """Queue the replays on every webhook (at most MAX_CHAOS_COUNT deliveries)."""
        picked = sorted(activities, key=chronological)
        if self.last:
            picked = picked[-self.last :]
        if len(picked) * len(hooks) > MAX_CHAOS_COUNT:
            raise ChaosError(
                f"chaos replay would send {len(picked) * len(hooks)} deliveries; at most {MAX_CHAOS_COUNT} "
                "(limit): choose fewer with chaos replay.last"
            )
        if self.order == "shuffled":
            chaos.source.rng.shuffle(picked)
        elif self.order == "reverse":
            picked.reverse()
        sent = sum(chaos.engine.replay(h, picked, ("replay", f"replay:{self.order}")) for h in hooks)
        return {"Replayed": sent}


@directive
class Clear(Action):
    """Release what reorder holds and remove the account's rules."""

    name = "clear"

    def perform(
        self, chaos: ChaosEngine, hooks: list[Webhook], activities: list[dict[str, Any]], account: str | None
    ) -> dict[str, Any]:
        """Clear."""
        chaos.clear(account)
        return {"Cleared": True}


def parse_directive(directive: Any, now: float = 0.0) -> tuple[str, Options]:
    """Check a directive `{name: {options}}`; returns (name, options) or raises ChaosError."""
    names = ", ".join(DIRECTIVES)
    if not isinstance(directive, dict) or len(directive) != 1:
        raise ChaosError(f"a chaos directive is one of {names} with its options, got {directive!r}")
    ((name, options),) = directive.items()
    kind = DIRECTIVES.get(name)
    if kind is None:
        raise ChaosError(f"unknown chaos directive {name!r}; use one of {names}")
    if options is None or options is True:
        options = {}
    if not isinstance(options, dict):
        raise ChaosError(f"chaos {name}: options must be a mapping, got {options!r}")
    unknown = set(options) - kind.options
    if unknown:
        raise ChaosError(
            f"chaos {name}: unknown option(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(kind.options)) or 'none'}"
        )
    return name, options


class ChaosEngine:
    """The webhook engine's chaos hook: active rules, seeded choices, and the immediate actions."""

    def __init__(self, engine: WebhookEngine, seed: int) -> None:
        self.engine = engine
        self.source = SeededSource(seed, "chaos")
        self.rules: list[Rule] = []

    def apply(
        self,
        directive: Any,
        hooks: list[Webhook],
        activities: list[dict[str, Any]],
        account: str | None = None,
    ) -> dict[str, Any]:
        """Install (or, for replay/clear, perform) a directive; returns what was done."""
        now = self.engine.clock.seconds(account)
        name, options = parse_directive(directive, now)
        kind = DIRECTIVES[name]
        if issubclass(kind, Action):
            return kind.parse(options).perform(self, hooks, activities, account)
        assert issubclass(kind, Rule)
        active = [r for r in self.rules if r.account == account and (r.live(now) or r.holding)]
        if len(active) >= MAX_CHAOS_RULES:
            raise ChaosLimit(
                f"at most {MAX_CHAOS_RULES} chaos rules may be active per account (limit); "
                "DELETE /_mock/chaos clears them"
            )
        self.rules.append(kind.parse(options, now, account))
        return {"Installed": name}

    def clear(self, account: str | None) -> None:
        """Release what is held, then drop the rules of `account` (every rule when None)."""
        self.flush(account)
        self.rules = [r for r in self.rules if account is not None and r.account not in (None, account)]

    def on_enqueue(self, hook: Webhook, jobs: list[Job]) -> list[Job]:
        """Reorder: hold live jobs until the window fills, then release them shuffled/reversed."""
        now = self.engine.clock.seconds(hook.account)
        rule = next((r for r in self.rules if isinstance(r, Reorder) and r.live(now, hook)), None)
        if rule is None:
            return jobs
        if rule.take(jobs):
            self._release(rule)
        return []

    def plan(self, hook: Webhook, job: Job) -> Plan:
        """What happens to this attempt: delay it, or fail, corrupt, duplicate it (each marked)."""
        plan = Plan()
        if not self.rules or job.kind == "duplicate":  # the usual case: nothing to plan (hot path)
            return plan
        clock = self.engine.clock
        self.rules = [r for r in self.rules if r.live(clock.seconds(r.account)) or r.holding]
        now = clock.seconds(hook.account)
        for rule in self.rules:
            if rule.live(now, hook) and rule.hold_back(job, plan, self.source):
                return plan  # the attempt comes back later, marked, and meets the other rules then
        for rule in self.rules:
            if rule.live(now, hook):
                rule.shape(job, plan)
        return plan

    def flush(self, account: str | None = None) -> int:
        """Release held reorder buffers now (a wait step does this)."""
        released = 0
        for rule in self.rules:
            if (
                isinstance(rule, Reorder)
                and rule.buffer
                and (account is None or rule.account in (None, account))
            ):
                released += len(rule.buffer)
                self._release(rule)
        return released

    def _release(self, rule: Reorder) -> None:
        for job in rule.release(self.source):
            self.engine.push_now(job)
