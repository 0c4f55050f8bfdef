"""Reading scenario files: YAML with line numbers, checked completely before anything runs.

Every problem is reported at once, each as `file:line: reason`. Steps and expectations are
checked by their registered classes (steps.STEP_KINDS, expectations.EXPECTATIONS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from envoice_mock.clock import parse_iso
from envoice_mock.config import SettingsError, parse_duration, parse_retry_schedule
from envoice_mock.scenarios.errors import Refused, ScenarioError
from envoice_mock.scenarios.expectations import parse_expectation
from envoice_mock.scenarios.refs import refs
from envoice_mock.scenarios.steps import STEP_KINDS, Step
from envoice_mock.spec import Spec

DEFAULT_START = "2024-01-01T00:00:00Z"
TOP_KEYS = ("name", "description", "seed", "start", "settings", "steps", "expect")
SETTINGS = ("retry_schedule", "probe_interval")


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping and of every list item."""


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping that knows the line it started on."""

    line: int = 0


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    mapping = LineDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


class LineList(list):  # type: ignore[type-arg]
    """A list that knows the line each of its items started on (a bare `- word` has no other)."""

    lines: list[int]


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    items = LineList(loader.construct_sequence(node, deep=True))
    items.lines = [child.start_mark.line + 1 for child in node.value]
    return items


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _item_lines(items: list[Any], fallback: int) -> list[int]:
    """The line of each item of a list read from YAML (`fallback` where it is not known)."""
    lines = getattr(items, "lines", None)
    return lines if lines is not None and len(lines) == len(items) else [fallback] * len(items)


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


class _Problems:
    """The problems found so far in one file, each `where:line: reason`."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.errors: list[str] = []

    def add(self, line: int, reason: str) -> None:
        self.errors.append(f"{self.where}:{line}: {reason}")


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
    problems = _Problems(where)
    top = getattr(raw, "line", 1)
    name, description, seed, start = _header(raw, top, problems)
    retry, probe = _settings(raw, top, problems)
    steps = _steps(raw.get("steps"), spec, top, problems)
    expect = _expectations(raw.get("expect") or [], top, problems)
    if problems.errors:
        raise ScenarioError(*problems.errors)
    assert isinstance(name, str) and isinstance(description, str) and isinstance(seed, int)
    return Scenario(name, description.strip(), seed, start, tuple(steps), tuple(expect), retry, probe, path)


def _header(raw: dict[str, Any], top: int, problems: _Problems) -> tuple[Any, Any, Any, datetime]:
    """Name, description, seed and start instant (unchecked values go back as found)."""
    unknown = set(raw) - set(TOP_KEYS)
    if unknown:
        problems.add(
            top,
            f"unknown top-level key(s): {', '.join(sorted(map(str, unknown)))} "
            "(expected name, description, seed, start, settings, steps, expect)",
        )
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        problems.add(top, "name must be a lower-case slug such as invoice-lifecycle")
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
        problems.add(top, "description must be one line of text")
    seed = raw.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        problems.add(top, f"seed must be an integer, got {seed!r}")
    start = parse_iso(DEFAULT_START)
    try:
        start = parse_iso(str(raw.get("start", DEFAULT_START)))
    except ValueError:
        problems.add(top, f"start must be an ISO-8601 instant, got {raw.get('start')!r}")
    return name, description, seed, start


def _settings(
    raw: dict[str, Any], top: int, problems: _Problems
) -> tuple[tuple[float, ...] | None, float | None]:
    """The delivery settings a scenario is written for (retry schedule, probe interval)."""
    retry = probe = None
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        problems.add(top, "settings must be a mapping")
        settings = {}
    line = getattr(settings, "line", top)
    bad = set(settings) - set(SETTINGS)
    if bad:
        problems.add(
            line,
            f"unknown setting(s): {', '.join(sorted(map(str, bad)))} (expected retry_schedule, probe_interval)",
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
        problems.add(line, str(exc))
    return retry, probe


def _steps(steps_raw: Any, spec: Spec, top: int, problems: _Problems) -> list[Step]:
    steps: list[Step] = []
    if not isinstance(steps_raw, list) or not steps_raw:
        problems.add(top, "steps must be a non-empty list")
        return steps
    saved: set[str] = set()
    for item, line in zip(steps_raw, _item_lines(steps_raw, top), strict=True):
        try:
            steps.append(_step(item, spec, saved, line))
        except Refused as exc:
            problems.add(line, str(exc))
            if isinstance(item, dict) and isinstance(item.get("save"), str):
                saved.add(item["save"])  # later steps may still refer to it: report only real mistakes
    return steps


def _step(raw: Any, spec: Spec, saved: set[str], line: int) -> Step:
    """One step checked by its kind; names it saves are added to `saved`."""
    names = ", ".join(STEP_KINDS)
    if not isinstance(raw, dict):
        raise Refused(f"a step is a mapping with one of {names}, got {raw!r}")
    kinds = [k for k in STEP_KINDS if k in raw]
    if not kinds:
        known = set().union(*(kind.options for kind in STEP_KINDS.values())) | {"note"}
        strange = [str(k) for k in raw if k not in known] or [str(k) for k in raw]
        raise Refused(f"unknown step {strange[0]!r} (expected one of {names})")
    if len(kinds) != 1:
        raise Refused(f"a step needs exactly one of {names}; found {', '.join(kinds)}")
    kind = STEP_KINDS[kinds[0]]
    options = {k: v for k, v in raw.items() if k != kind.name}
    extra = set(options) - kind.options - {"note"}
    if extra:
        raise Refused(
            f"{kind.name} step: unknown key(s) {', '.join(sorted(extra))}; allowed: {', '.join(sorted(kind.options))}"
        )
    for ref in refs(options) | refs(raw[kind.name]):
        if ref not in saved:
            raise Refused(
                f"${{{ref}}} refers to nothing saved by an earlier step (saved so far: {', '.join(sorted(saved)) or 'none'})"
            )
    value, route = kind.check(raw[kind.name], options, spec)
    if isinstance(options.get("save"), str):
        saved.add(options["save"])
    elif "save" in options:
        raise Refused("save takes a name")
    return Step(kind.name, value, options, line, route)


def _expectations(raw: Any, top: int, problems: _Problems) -> list[tuple[str, Any, int]]:
    if not isinstance(raw, list):
        problems.add(top, "expect must be a list")
        return []
    out = []
    for item, line in zip(raw, _item_lines(raw, top), strict=True):
        try:
            out.append((*parse_expectation(item), line))
        except Refused as exc:
            problems.add(line, str(exc))
    return out


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
