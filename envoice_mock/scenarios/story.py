"""Scenarios: YAML stories of business events and delivery chaos, validated, then run.

A scenario is checked completely before anything runs; a mistake is reported with the file,
the line and the reason. The runner drives the mock only through HTTP (the in-process ASGI
transport when embedded, the network with --server), so every step takes the same code
paths as a real client's call.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from envoice_mock.clock import parse_iso
from envoice_mock.config import SettingsError, parse_duration, parse_retry_schedule
from envoice_mock.delivery.chaos import ChaosError, parse_directive
from envoice_mock.spec import Spec

DEFAULT_START = "2024-01-01T00:00:00Z"
STEP_KINDS = ("do", "event", "advance", "wait", "chaos", "say")
EVENTS = ("view", "open", "pay", "mark-paid", "reject", "remind", "sign", "open-attachment", "pdf")
EXPECTATIONS = (
    "all_delivered",
    "delivered_within",
    "corrupt_rejected",
    "out_of_order",
    "duplicates",
    "states_seen",
    "kinds_seen",
    "catch_up_chronological",
    "min_deliveries",
    "final_state",
    "replayed",
)
REF = re.compile(r"\$\{([A-Za-z_][\w]*)((?:\.[\w]+)*)\}")


class ScenarioError(ValueError):
    """A scenario file is malformed: one `file:line: reason` per problem, all of them at once."""

    def __init__(self, *errors: str) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping."""


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping that knows the line it started on."""

    line: int = 0


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    mapping = LineDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class Step:
    """One validated step."""

    kind: str
    value: Any
    options: dict[str, Any]
    line: int
    route: tuple[str, str] | None = None  # (method, path) of a `do` step's operation


@dataclass(frozen=True)
class Scenario:
    """A validated scenario."""

    name: str
    description: str
    seed: int
    start: datetime
    steps: tuple[Step, ...]
    expect: tuple[tuple[str, Any, int], ...]
    retry_schedule: tuple[float, ...] | None
    probe_interval: float | None
    path: Path | None = None


def load_scenario(path: Path, spec: Spec) -> Scenario:
    """Read and validate one scenario file."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{where}: cannot read: {exc.strerror}") from None
    return parse_scenario(text, spec, where, path)


def parse_scenario(text: str, spec: Spec, where: str = "<scenario>", path: Path | None = None) -> Scenario:
    """Validate a scenario's YAML text; every problem names file and line."""
    try:
        raw = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark else "?"
        raise ScenarioError(f"{where}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}:1: a scenario is a mapping with name, description and steps")

    def fail(line: int, reason: str) -> ScenarioError:
        return ScenarioError(f"{where}:{line}: {reason}")

    errors: list[str] = []
    top = getattr(raw, "line", 1)
    unknown = set(raw) - {"name", "description", "seed", "start", "steps", "expect", "settings"}
    if unknown:
        errors.append(
            f"{where}:{top}: unknown top-level key(s): {', '.join(sorted(map(str, unknown)))} "
            "(expected name, description, seed, start, settings, steps, expect)"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        errors.append(f"{where}:{top}: name must be a lower-case slug such as invoice-lifecycle")
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
        errors.append(f"{where}:{top}: description must be one line of text")
    seed = raw.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        errors.append(f"{where}:{top}: seed must be an integer, got {seed!r}")
    start = parse_iso(DEFAULT_START)
    try:
        start = parse_iso(str(raw.get("start", DEFAULT_START)))
    except ValueError:
        errors.append(f"{where}:{top}: start must be an ISO-8601 instant, got {raw.get('start')!r}")
    retry = probe = None
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        errors.append(f"{where}:{top}: settings must be a mapping")
        settings = {}
    bad = set(settings) - {"retry_schedule", "probe_interval"}
    if bad:
        errors.append(
            f"{where}:{getattr(settings, 'line', top)}: unknown setting(s): {', '.join(sorted(map(str, bad)))} "
            "(expected retry_schedule, probe_interval)"
        )
    try:
        if "retry_schedule" in settings:
            rs = settings["retry_schedule"]
            retry = parse_retry_schedule(",".join(str(x) for x in rs) if isinstance(rs, list) else str(rs))
        if "probe_interval" in settings:
            probe = parse_duration(settings["probe_interval"])
            if probe <= 0:
                raise SettingsError("probe interval must be positive")
    except SettingsError as exc:
        errors.append(f"{where}:{getattr(settings, 'line', top)}: {exc}")
    steps_raw = raw.get("steps")
    steps: list[Step] = []
    if not isinstance(steps_raw, list) or not steps_raw:
        errors.append(f"{where}:{top}: steps must be a non-empty list")
        steps_raw = []
    saved: set[str] = set()
    for item in steps_raw:
        try:
            steps.append(_step(item, spec, saved, fail, top))
        except ScenarioError as exc:
            errors.extend(exc.errors)
            if isinstance(item, dict) and isinstance(item.get("save"), str):
                saved.add(item["save"])  # later steps may still refer to it: report only real mistakes
    expect = _expectations(raw.get("expect") or [], fail, top, errors)
    if errors:
        raise ScenarioError(*errors)
    assert isinstance(name, str) and isinstance(description, str) and isinstance(seed, int)
    return Scenario(name, description.strip(), seed, start, tuple(steps), tuple(expect), retry, probe, path)


_STEP_OPTIONS: dict[str, set[str]] = {
    "do": {"body", "query", "save", "expect_status"},
    "event": {"invoice", "estimation", "order", "gateway", "amount", "save"},
    "advance": set(),
    "wait": {"max"},
    "chaos": set(),
    "say": set(),
}


def _step(raw: Any, spec: Spec, saved: set[str], fail: Callable[[int, str], ScenarioError], top: int) -> Step:
    line = getattr(raw, "line", top)
    if not isinstance(raw, dict):
        raise fail(line, f"a step is a mapping with one of {', '.join(STEP_KINDS)}, got {raw!r}")
    kinds = [k for k in STEP_KINDS if k in raw]
    if not kinds:
        known = set().union(*_STEP_OPTIONS.values()) | {"note"}
        strange = [str(k) for k in raw if k not in known] or [str(k) for k in raw]
        raise fail(line, f"unknown step {strange[0]!r} (expected one of {', '.join(STEP_KINDS)})")
    if len(kinds) != 1:
        raise fail(line, f"a step needs exactly one of {', '.join(STEP_KINDS)}; found {', '.join(kinds)}")
    kind = kinds[0]
    value = raw[kind]
    route: tuple[str, str] | None = None
    options = {k: v for k, v in raw.items() if k != kind}
    allowed = _STEP_OPTIONS[kind]
    extra = set(options) - allowed - {"note"}
    if extra:
        raise fail(
            line,
            f"{kind} step: unknown key(s) {', '.join(sorted(extra))}; allowed: {', '.join(sorted(allowed))}",
        )
    for ref in _refs(options) | _refs(value):
        if ref not in saved:
            raise fail(
                line,
                f"${{{ref}}} refers to nothing saved by an earlier step (saved so far: {', '.join(sorted(saved)) or 'none'})",
            )
    if kind == "do":
        op = _find_operation(spec, value)
        if op is None:
            raise fail(
                line, f"unknown operation {value!r}: use an id such as invoice.new or 'POST /api/invoice/new'"
            )
        if "body" in options and not isinstance(options["body"], dict | int | str):
            raise fail(line, "body must be a mapping (or an integer for estimation.convert)")
        if op.body is not None and "body" not in options:
            raise fail(line, f"{op.id} needs a body")
        if "query" in options and not isinstance(options["query"], dict):
            raise fail(line, "query must be a mapping")
        status = options.get("expect_status")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
            raise fail(line, "expect_status must be an HTTP status code")
        value = op.id
        route = (op.method, op.path)
    elif kind == "event":
        if value not in EVENTS:
            raise fail(line, f"unknown event {value!r}; use one of {', '.join(EVENTS)}")
        targets = [k for k in ("invoice", "estimation", "order") if k in options]
        if len(targets) != 1:
            raise fail(line, "an event names exactly one of invoice, estimation or order (an id or ${ref})")
    elif kind == "advance":
        try:
            value = parse_duration(value)
        except SettingsError as exc:
            raise fail(line, f"advance: {exc}") from None
    elif kind == "wait":
        if value not in ("deliveries", True):
            raise fail(line, "wait takes 'deliveries'")
        if "max" in options:
            try:
                options["max"] = parse_duration(options["max"])
            except SettingsError as exc:
                raise fail(line, f"wait.max: {exc}") from None
    elif kind == "chaos":
        try:
            parse_directive(value)
        except ChaosError as exc:
            raise fail(line, str(exc)) from None
    elif kind == "say" and not isinstance(value, str):
        raise fail(line, "say takes a line of text")
    if isinstance(options.get("save"), str):
        saved.add(options["save"])
    elif "save" in options:
        raise fail(line, "save takes a name")
    return Step(kind, value, options, line, route)


def _expectations(
    raw: Any, fail: Callable[[int, str], ScenarioError], top: int, errors: list[str]
) -> list[tuple[str, Any, int]]:
    if not isinstance(raw, list):
        errors.append(str(fail(top, "expect must be a list")))
        return []
    out = []
    for item in raw:
        try:
            out.append(_expectation(item, fail, top))
        except ScenarioError as exc:
            errors.extend(exc.errors)
    return out


def _expectation(item: Any, fail: Callable[[int, str], ScenarioError], top: int) -> tuple[str, Any, int]:
    line = getattr(item, "line", top)
    if not isinstance(item, dict) or len(item) != 1:
        raise fail(line, f"an expectation is one of {', '.join(EXPECTATIONS)} with its value")
    ((name, value),) = item.items()
    if name not in EXPECTATIONS:
        raise fail(line, f"unknown expectation {name!r}; use one of {', '.join(EXPECTATIONS)}")
    if name == "delivered_within":
        try:
            value = parse_duration(value)
        except SettingsError as exc:
            raise fail(line, f"delivered_within: {exc}") from None
    if name in ("states_seen", "kinds_seen") and not (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        raise fail(line, f"{name} takes a list of names")
    if name in ("min_deliveries", "replayed") and (isinstance(value, bool) or not isinstance(value, int)):
        raise fail(line, f"{name} takes a number")
    return (name, value, line)


def _find_operation(spec: Spec, text: Any) -> Any:
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


def _refs(value: Any) -> set[str]:
    if isinstance(value, str):
        return {m.group(1) for m in REF.finditer(value)}
    if isinstance(value, dict):
        return set().union(*(_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def resolve(value: Any, saved: dict[str, Any]) -> Any:
    """Replace ${name.path} references with saved values (a whole-string ref keeps its type)."""
    if isinstance(value, str):
        whole = REF.fullmatch(value)
        if whole:
            return _lookup(saved, whole.group(1), whole.group(2))
        return REF.sub(lambda m: str(_lookup(saved, m.group(1), m.group(2))), value)
    if isinstance(value, dict):
        return {k: resolve(v, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, saved) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()  # YAML reads 2024-01-15 as a date; the API wants text
    return value


def _lookup(saved: dict[str, Any], name: str, path: str) -> Any:
    value = saved[name]
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(f"${{{name}{path}}}: no {part!r} in the saved value")
    return value


def scenario_files(directory: Path) -> list[Path]:
    """The scenario files of a directory, by name."""
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


def find_scenario(name_or_file: str, directory: Path) -> Path:
    """A scenario by name (in the directory) or by path."""
    candidate = Path(name_or_file)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    path = directory / f"{name_or_file}.yaml"
    if path.exists():
        return path
    names = ", ".join(p.stem for p in scenario_files(directory))
    raise ScenarioError(f"no scenario {name_or_file!r}; built-in: {names}")


# Delivery-log fields measured in real time: they differ between two runs of the same seed.
MEASURED = frozenset({"DurationMs"})


# --- running -----------------------------------------------------------------------------
@dataclass
class Report:
    """What a run did and whether its expectations held."""

    scenario: str
    seed: int
    target: str
    webhook: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    expectations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step succeeded and every expectation held."""
        return all(s.get("ok", True) for s in self.steps) and all(e["ok"] for e in self.expectations)

    def as_dict(self, timings: bool = True) -> dict[str, Any]:
        """The machine-readable report; without `timings`, no measured durations (same seed, same bytes)."""
        deliveries = self.deliveries
        if not timings:
            deliveries = [{k: v for k, v in d.items() if k not in MEASURED} for d in deliveries]
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "target": self.target,
            "ok": self.ok,
            "webhook": self.webhook,
            "steps": self.steps,
            "activities": self.activities,
            "deliveries": deliveries,
            "expectations": self.expectations,
        }


Printer = Callable[[str], None]


class ScenarioRunner:
    """Runs a scenario over an HTTP client pointed at a mock (in-process or remote)."""

    def __init__(
        self,
        scenario: Scenario,
        client: httpx.AsyncClient,
        target: str,
        seed: int,
        printer: Printer | None = None,
        realtime: bool = False,
        verbose: bool = False,
    ) -> None:
        self.scenario = scenario
        self.verbose = verbose
        self.client = client
        self.target = target
        self.printer = printer or (lambda line: None)
        self.realtime = realtime
        self.report = Report(scenario.name, seed, target)
        self.saved: dict[str, Any] = {}
        self._shown = 0
        self._hook_id = ""
        self._first_activity = 0

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, path, **kwargs)

    async def _every(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every row of a paged control-plane list, following its `Link: rel="next"` pages."""
        rows: list[dict[str, Any]] = []
        response = await self._call("GET", path, params=params)
        while True:
            rows += response.json()
            following = response.links.get("next", {}).get("url")
            if not following:
                return rows
            response = await self._call("GET", following)

    async def run(self) -> Report:
        """Register the target, run every step, settle deliveries, judge the expectations."""
        sc = self.scenario
        self.printer(f"scenario {sc.name} (seed {self.report.seed}): {sc.description}")
        hook = await self._call("POST", "/_mock/webhooks", json={"Url": self.target})
        if hook.status_code != 201:
            raise ScenarioError(f"could not register the target webhook: {hook.status_code} {hook.text}")
        self._hook_id = hook.json()["Id"]
        activities = await self._every("/_mock/activities")
        self._first_activity = activities[-1]["Id"] if activities else 0
        try:
            for step in sc.steps:
                await self._step(step)
                if step.kind in ("do", "event", "chaos"):
                    await self._call("POST", "/_mock/deliveries/settle")  # what is due now goes out now
                await self._show_deliveries()
            await self._wait(None)
            await self._show_deliveries()
            await self._collect()
        finally:
            await self._call("POST", "/_mock/chaos", json={"clear": {}})
        self._judge()
        return self.report

    async def _step(self, step: Step) -> None:
        entry: dict[str, Any] = {"line": step.line, "kind": step.kind, "ok": True}
        if step.kind == "say":
            self.printer(f"  » {step.value}")
            entry["text"] = step.value
        elif step.kind == "do":
            entry.update(await self._do(step))
        elif step.kind == "event":
            entry.update(await self._event(step))
        elif step.kind == "advance":
            r = await self._call("POST", "/_mock/clock/advance", json={"seconds": step.value})
            entry["now"] = r.json().get("Now")
            self.printer(f"  ⏩ advance {step.value:g}s → {entry['now']}")
        elif step.kind == "wait":
            await self._wait(step.options.get("max"))
            entry["waited"] = True
        elif step.kind == "chaos":
            r = await self._call("POST", "/_mock/chaos", json=step.value)
            entry["chaos"] = step.value
            entry["ok"] = r.status_code == 200
            self.printer(f"  ⚡ chaos {step.value}" + ("" if entry["ok"] else f" refused: {r.text}"))
        self.report.steps.append(entry)

    async def _do(self, step: Step) -> dict[str, Any]:
        op_id = step.value
        body = resolve(step.options.get("body"), self.saved)
        query = resolve(step.options.get("query") or {}, self.saved)
        assert step.route is not None
        method, path = step.route
        kwargs: dict[str, Any] = {"params": query}
        if method == "POST":
            kwargs["json"] = body
        r = await self._call(method, path, **kwargs)
        expected = step.options.get("expect_status")
        ok = r.status_code == expected if expected else r.status_code < 400
        value: Any = None
        if r.content:
            try:
                value = r.json()
            except ValueError:
                value = r.text
        if isinstance(step.options.get("save"), str):
            self.saved[step.options["save"]] = value
        self.printer(
            f"  ▶ {op_id} → {r.status_code}"
            + (f" (saved as {step.options['save']})" if step.options.get("save") else "")
            + ("" if ok else f"  UNEXPECTED: {r.text[:200]}")
        )
        return {"operation": op_id, "status": r.status_code, "ok": ok}

    async def _event(self, step: Step) -> dict[str, Any]:
        kind = next(k for k in ("invoice", "estimation", "order") if k in step.options)
        obj_id = resolve(step.options[kind], self.saved)
        body = {k: resolve(v, self.saved) for k, v in step.options.items() if k in ("gateway", "amount")}
        r = await self._call("POST", f"/_mock/{kind}/{obj_id}/{step.value}", json=body)
        ok = r.status_code == 200
        self.printer(
            f"  ☞ client {step.value}s {kind} {obj_id}"
            + (f" via {body['gateway']}" if body.get("gateway") else "")
            + (f" → {r.json().get('Status')}" if ok else f" refused: {r.text[:200]}")
        )
        if isinstance(step.options.get("save"), str) and ok:
            self.saved[step.options["save"]] = r.json()
        return {"event": step.value, kind: obj_id, "status": r.status_code, "ok": ok}

    async def _wait(self, max_seconds: float | None) -> None:
        body = {"max": max_seconds} if max_seconds else {}
        if not self.realtime:
            await self._call("POST", "/_mock/deliveries/idle", json=body)
            return
        import asyncio

        while True:  # real time (a demo): let the server's clock run, showing arrivals as they come
            r = (await self._call("POST", "/_mock/deliveries/settle", json={"flush": True})).json()
            await self._show_deliveries()
            if r["Pending"] == 0 and r.get("NextDueIn") is None:
                return
            await asyncio.sleep(min(0.5, r.get("NextDueIn") or 0.5))

    async def _show_deliveries(self) -> None:
        rows = await self._every("/_mock/deliveries", webhook=self._hook_id)
        if not self.verbose:
            self._progress(rows[self._shown :])
            self._shown = len(rows)
            return
        for d in rows[self._shown :]:
            chaos = f" [{', '.join(d['Chaos'])}]" if d["Chaos"] else ""
            answer = d["StatusCode"] if d["StatusCode"] is not None else d["Error"]
            self.printer(
                f"    ↳ {d['SentAt']} activity {d['ActivityId']} {d['ActivityType']} "
                f"{d['Kind']} #{d['Attempt']} → {answer}  webhook {d.get('State', '?')}{chaos}"
            )
        self._shown = len(rows)

    def _progress(self, rows: list[dict[str, Any]]) -> None:
        """One line for the attempts since the last step (every attempt stays in --json and the log)."""
        if not rows:
            return
        delivered = sum(1 for d in rows if d["Outcome"] == "delivered")
        answers: dict[str, int] = {}
        for d in rows:
            if d["Outcome"] != "delivered":
                key = str(d["StatusCode"] if d["StatusCode"] is not None else d["Error"])
                answers[key] = answers.get(key, 0) + 1
        failed = ", ".join(f"{n}x {a}" for a, n in answers.items())
        self.printer(
            f"    ↳ {len(rows)} attempt(s): {delivered} delivered"
            + (f", failed: {failed}" if failed else "")
            + f"; webhook {rows[-1].get('State', '?')} at {rows[-1]['SentAt']}"
        )

    async def _collect(self) -> None:
        self.report.deliveries = await self._every("/_mock/deliveries", webhook=self._hook_id)
        hooks = (await self._call("GET", "/_mock/webhooks")).json()
        self.report.webhook = next((h for h in hooks if h["Id"] == self._hook_id), {})
        acts = await self._every("/_mock/activities", since=self._first_activity)
        self.report.activities = acts

    def _judge(self) -> None:
        for name, value, line in self.scenario.expect:
            ok, detail = judge(name, value, self.report)
            self.report.expectations.append(
                {"name": name, "value": value, "line": line, "ok": ok, "detail": detail}
            )


def judge(name: str, value: Any, report: Report) -> tuple[bool, str]:
    """Evaluate one expectation against a finished run."""
    deliveries = report.deliveries
    if not deliveries:
        return False, "no delivery was attempted, so there was nothing to check"
    ok_rows = [d for d in deliveries if d["Outcome"] == "delivered"]
    activity_ids = [a["Id"] for a in report.activities]
    delivered_ids = {d["ActivityId"] for d in ok_rows}
    if name == "all_delivered":
        missing = [a for a in activity_ids if a not in delivered_ids]
        return (not missing) == bool(
            value
        ), f"{len(activity_ids) - len(missing)}/{len(activity_ids)} activities delivered"
    if name == "delivered_within":
        worst = 0.0
        for a in report.activities:
            firsts = [d for d in ok_rows if d["ActivityId"] == a["Id"]]
            if not firsts:
                return False, f"activity {a['Id']} was never delivered"
            lag = (
                parse_iso(firsts[0]["SentAt"].replace("0Z", "Z"))
                - parse_iso(a["CreatedOn"].replace("0Z", "Z"))
            ).total_seconds()
            worst = max(worst, lag)
        return worst <= value, f"slowest first delivery took {worst:g}s (limit {value:g}s)"
    if name == "corrupt_rejected":
        corrupt = [d for d in deliveries if "chaos:corrupt_signature" in d["Chaos"]]
        accepted = [d for d in corrupt if d["StatusCode"] == 200]
        ok = bool(corrupt) and not accepted
        return ok == bool(
            value
        ), f"{len(corrupt)} corrupt deliveries, {len(accepted)} accepted by the receiver"
    if name == "out_of_order":
        keys = [
            (d["ActivityCreatedOn"], d["ActivityId"])
            for d in ok_rows
            if d["Kind"] not in ("duplicate", "replay")
        ]
        disordered = any(b < a for a, b in itertools.pairwise(keys))
        return disordered == bool(
            value
        ), "deliveries arrived out of order" if disordered else "deliveries arrived in order"
    if name == "duplicates":
        counts: dict[int, int] = {}
        for d in ok_rows:
            counts[d["ActivityId"]] = counts.get(d["ActivityId"], 0) + 1
        dup = sum(1 for c in counts.values() if c > 1)
        return (dup > 0) == bool(value), f"{dup} activities delivered more than once"
    if name == "states_seen":
        seen = [s for _, s in report.webhook.get("History", [])]
        it = iter(seen)
        ok = all(any(s == want for s in it) for want in value)
        return ok, f"webhook states: {' → '.join(['healthy', *seen])}"
    if name == "kinds_seen":
        kinds = {d["Kind"] for d in deliveries}
        missing = [k for k in value if k not in kinds]
        return not missing, f"delivery kinds seen: {', '.join(sorted(kinds))}"
    if name == "catch_up_chronological":
        rows = [d for d in ok_rows if d["Kind"] in ("probe", "catchup")]
        keys = [(d["ActivityCreatedOn"], d["ActivityId"]) for d in rows]
        ok = bool(rows) and keys == sorted(keys)
        return (
            ok == bool(value),
            f"{len(rows)} probe/catch-up deliveries, {'in' if keys == sorted(keys) else 'out of'} chronological order",
        )
    if name == "min_deliveries":
        return len(deliveries) >= value, f"{len(deliveries)} delivery attempts"
    if name == "replayed":
        n = sum(1 for d in ok_rows if d["Kind"] == "replay")
        return n >= value, f"{n} replayed deliveries"
    if name == "final_state":
        state = report.webhook.get("State")
        return state == value, f"webhook ended {state}"
    return False, f"unknown expectation {name}"


def summary_lines(report: Report) -> list[str]:
    """A table of activities and their deliveries, then the expectations."""
    lines = [f"{'activity':>10}  {'type':<24} {'attempts':>8}  {'delivered at':<28} outcome"]
    for a in report.activities:
        rows = [d for d in report.deliveries if d["ActivityId"] == a["Id"]]
        ok = [d for d in rows if d["Outcome"] == "delivered"]
        marks = sorted({m for d in rows for m in d["Chaos"]})
        lines.append(
            f"{a['Id']:>10}  {a['TypeName']:<24} {len(rows):>8}  {(ok[0]['SentAt'] if ok else '-'):<28} "
            f"{'delivered' if ok else 'NOT delivered'}{' x' + str(len(ok)) if len(ok) > 1 else ''}"
            f"{'  ' + ','.join(marks) if marks else ''}"
        )
    hook = report.webhook
    lines.append(
        f"webhook {hook.get('Id')} {hook.get('Url')}: {hook.get('State')}, delivered {hook.get('Delivered')}, "
        f"failed attempts {hook.get('Failed')}, pending {hook.get('Pending')}"
    )
    for e in report.expectations:
        lines.append(f"  {'✓' if e['ok'] else '✗'} {e['name']}: {e['detail']}")
    lines.append(f"{'PASSED' if report.ok else 'FAILED'}: {report.scenario} (seed {report.seed})")
    return lines
