"""Step kinds: what a scenario step may say and what it does, one registered class each.

To add a kind, write a class with `name`, its allowed `options`, `check` (validate the value;
raise `Refused` with the reason) and `run` (do it through the run's HTTP client; return the
report entry's fields), and decorate it with `@step_kind`: the loader and the runner find it
in `STEP_KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import httpx

from envoice_mock.config import SettingsError, parse_duration
from envoice_mock.delivery.chaos import ChaosError, parse_directive
from envoice_mock.scenarios.errors import Refused
from envoice_mock.scenarios.refs import resolve
from envoice_mock.scenarios.report import Printer
from envoice_mock.spec import Operation, Spec

EVENT_TARGETS = ("invoice", "estimation", "order")


@dataclass(frozen=True)
class Step:
    """One validated step."""

    kind: str
    value: Any
    options: dict[str, Any]
    line: int
    route: tuple[str, str] | None = None  # (method, path) of a `do` step's operation


class StepContext(Protocol):
    """What a step may use of the run that executes it."""

    saved: dict[str, Any]
    printer: Printer

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP call to the mock."""

    async def wait(self, max_seconds: float | None) -> None:
        """Until the deliveries are idle (or `max_seconds` of virtual time passed)."""


class StepKind:
    """One kind of step; `settles` when what it queues should go out before the next step."""

    name: ClassVar[str]
    options: ClassVar[frozenset[str]] = frozenset()
    settles: ClassVar[bool] = False

    def check(self, value: Any, options: dict[str, Any], spec: Spec) -> tuple[Any, tuple[str, str] | None]:
        """The value to run with and the route it calls (if any), or Refused."""
        return value, None

    async def run(self, step: Step, run: StepContext) -> dict[str, Any]:
        """Do the step; the fields to add to its report entry."""
        raise NotImplementedError


STEP_KINDS: dict[str, StepKind] = {}


def step_kind(cls: type[StepKind]) -> type[StepKind]:
    """Register a step kind under its name (the order of registration is the order listed)."""
    STEP_KINDS[cls.name] = cls()
    return cls


def find_operation(spec: Spec, text: Any) -> Operation | None:
    """An operation by id (invoice.new) or by 'METHOD /path'."""
    if not isinstance(text, str):
        return None
    for op in spec.operations:
        if op.id == text:
            return op
    method, _, path = text.strip().partition(" ")
    for op in spec.operations:
        if op.method == method.upper() and op.path.lower() == path.strip().rstrip("/").lower():
            return op
    return None


@step_kind
class Do(StepKind):
    """Call one API operation (by id or 'METHOD /path'), optionally saving its answer."""

    name = "do"
    options = frozenset({"body", "query", "save", "expect_status"})
    settles = True

    def check(self, value: Any, options: dict[str, Any], spec: Spec) -> tuple[Any, tuple[str, str] | None]:
        """The operation exists and the body, query and expected status have the right shapes."""
        op = find_operation(spec, value)
        if op is None:
            raise Refused(
                f"unknown operation {value!r}: use an id such as invoice.new or 'POST /api/invoice/new'"
            )
        if "body" in options and not isinstance(options["body"], dict | int | str):
            raise Refused("body must be a mapping (or an integer for estimation.convert)")
        if op.body is not None and "body" not in options:
            raise Refused(f"{op.id} needs a body")
        if "query" in options and not isinstance(options["query"], dict):
            raise Refused("query must be a mapping")
        status = options.get("expect_status")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
            raise Refused("expect_status must be an HTTP status code")
        return op.id, (op.method, op.path)

    async def run(self, step: Step, run: StepContext) -> dict[str, Any]:
        """Call it; ok when the status is the expected one (any success by default)."""
        body = resolve(step.options.get("body"), run.saved)
        query = resolve(step.options.get("query") or {}, run.saved)
        assert step.route is not None
        method, path = step.route
        kwargs: dict[str, Any] = {"params": query}
        if method == "POST":
            kwargs["json"] = body
        r = await run.call(method, path, **kwargs)
        expected = step.options.get("expect_status")
        ok = r.status_code == expected if expected else r.status_code < 400
        value: Any = None
        if r.content:
            try:
                value = r.json()
            except ValueError:
                value = r.text
        save = step.options.get("save")
        if isinstance(save, str):
            run.saved[save] = value
        run.printer(
            f"  ▶ {step.value} → {r.status_code}"
            + (f" (saved as {save})" if save else "")
            + ("" if ok else f"  UNEXPECTED: {r.text[:200]}")
        )
        return {"operation": step.value, "status": r.status_code, "ok": ok}


@step_kind
class Event(StepKind):
    """A client's action on a document (view, pay, sign, ...), through the control plane."""

    name = "event"
    options = frozenset({*EVENT_TARGETS, "gateway", "amount", "save"})
    settles = True

    def check(self, value: Any, options: dict[str, Any], spec: Spec) -> tuple[Any, tuple[str, str] | None]:
        """A known event on exactly one document."""
        if value not in spec.client_event_names:
            raise Refused(f"unknown event {value!r}; use one of {', '.join(spec.client_event_names)}")
        if len([k for k in EVENT_TARGETS if k in options]) != 1:
            raise Refused("an event names exactly one of invoice, estimation or order (an id or ${ref})")
        return value, None

    async def run(self, step: Step, run: StepContext) -> dict[str, Any]:
        """Post the event; ok when the mock accepted it."""
        kind = next(k for k in EVENT_TARGETS if k in step.options)
        obj_id = resolve(step.options[kind], run.saved)
        body = {k: resolve(v, run.saved) for k, v in step.options.items() if k in ("gateway", "amount")}
        r = await run.call("POST", f"/_mock/{kind}/{obj_id}/{step.value}", json=body)
        ok = r.status_code == 200
        run.printer(
            f"  ☞ client {step.value}s {kind} {obj_id}"
            + (f" via {body['gateway']}" if body.get("gateway") else "")
            + (f" → {r.json().get('Status')}" if ok else f" refused: {r.text[:200]}")
        )
        if isinstance(step.options.get("save"), str) and ok:
            run.saved[step.options["save"]] = r.json()
        return {"event": step.value, kind: obj_id, "status": r.status_code, "ok": ok}


@step_kind
class Advance(StepKind):
    """Move the mock's clock forward (timers fall due on the way)."""

    name = "advance"

    def check(self, value: Any, options: dict[str, Any], spec: Spec) -> tuple[Any, tuple[str, str] | None]:
        """A duration."""
        try:
            return parse_duration(value), None
        except SettingsError as exc:
            raise Refused(f"advance: {exc}") from None

    async def run(self, step: Step, run: StepContext) -> dict[str, Any]:
        """Advance; the entry shows the new instant."""
        r = await run.call("POST", "/_mock/clock/advance", json={"seconds": step.value})
        now = r.json().get("Now")
        run.printer(f"  ⏩ advance {step.value:g}s → {now}")
        return {"now": now}


@step_kind
class Wait(StepKind):
    """Wait until every due delivery is done (at most `max` of virtual time)."""

    name = "wait"
    options = frozenset({"max"})

    def check(self, value: Any, options: dict[str, Any], spec: Spec) -> tuple[Any, tuple[str, str] | None]:
        """`wait: deliveries`, with an optional duration as `max` (parsed in place)."""
        if value not in ("deliveries", True):
            raise Refused("wait takes 'deliveries'")
        if "max" in options:
            try:
                options["max"] = parse_duration(options["max"])
            except SettingsError as exc:
                raise Refused(f"wait.max: {exc}") from None
        return value, None

    async def run(self, step: Step, run: StepContext) -> dict[str, Any]:
        """Wait."""
        await run.wait(step.options.get("max"))
        return {"waited": True}


@step_kind
class Chaos(StepKind):
    """Install a delivery chaos directive (or replay / clear)."""

    name = "chaos"
    settles = True

    def check(self, value: Any, options: dict[str, Any], spec: Spec) -> tuple[Any, tuple[str, str] | None]:
        """A directive the chaos registry knows, with valid options."""
        try:
            parse_directive(value)
        except ChaosError as exc:
            raise Refused(str(exc)) from None
        return value, None

    async def run(self, step: Step, run: StepContext) -> dict[str, Any]:
        """Post it; ok when the mock installed it."""
        r = await run.call("POST", "/_mock/chaos", json=step.value)
        ok = r.status_code == 200
        run.printer(f"  ⚡ chaos {step.value}" + ("" if ok else f" refused: {r.text}"))
        return {"chaos": step.value, "ok": ok}


@step_kind
class Say(StepKind):
    """A line of narration, printed as the run reaches it."""

    name = "say"

    def check(self, value: Any, options: dict[str, Any], spec: Spec) -> tuple[Any, tuple[str, str] | None]:
        """A line of text."""
        if not isinstance(value, str):
            raise Refused("say takes a line of text")
        return value, None

    async def run(self, step: Step, run: StepContext) -> dict[str, Any]:
        """Print it."""
        run.printer(f"  » {step.value}")
        return {"text": step.value}
