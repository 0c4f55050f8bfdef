"""`envoice-mock scenario list | run`: what a person sees of a scenario run.

Validation problems are printed all at once, one `file:line: reason` per line, before anything
runs (exit 2); an unreachable target is reported within seconds; a run prints its steps, one
progress line per step instead of every retry, and a summary. `--json` prints a report that is
byte-identical for the same seed (measured durations only with `--timings`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import httpx

from envoice_mock.cli.startup import existing_dir, load_fixtures
from envoice_mock.config import (
    DEFAULT_FIXTURES,
    DEFAULT_SCENARIOS,
    Settings,
    SettingsError,
    data_dirs_from_env,
)
from envoice_mock.scenarios.errors import ScenarioError
from envoice_mock.scenarios.loader import Scenario, find_scenario, load_scenario, scenario_files
from envoice_mock.scenarios.report import Printer, Report, summary_lines

TARGET_CHECK_TIMEOUT = 3.0  # seconds a target may take to answer the pre-flight check


def data_settings(args: argparse.Namespace) -> Settings:
    """Settings naming the fixtures and scenario directories (flag, then environment, then shipped)."""
    dirs = {"fixtures": DEFAULT_FIXTURES, "scenarios": DEFAULT_SCENARIOS, **data_dirs_from_env()}
    fixtures = Path(args.fixtures) if args.fixtures else dirs["fixtures"]
    scenarios = Path(args.scenarios) if args.scenarios else dirs["scenarios"]
    return Settings(
        fixtures=existing_dir(fixtures, "fixtures", "--fixtures or ENVOICE_MOCK_FIXTURES"),
        scenarios=existing_dir(scenarios, "scenarios", "--scenarios or ENVOICE_MOCK_SCENARIOS"),
    )


def list_scenarios(args: argparse.Namespace) -> int:
    """Print each scenario of the directory with its description (or why it is invalid)."""
    settings = data_settings(args)
    spec = load_fixtures(settings.fixtures)
    for path in scenario_files(settings.scenarios):
        try:
            sc = load_scenario(path, spec)
            print(f"{sc.name:<28} {sc.description}")
        except ScenarioError as exc:
            problems = exc.errors
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            print(f"{path.stem:<28} INVALID: {problems[0]}{more}")
    return 0


def check_target(
    url: str,
    timeout: float = TARGET_CHECK_TIMEOUT,
    what: str = "target",
    hint: str = "is your receiver running?",
) -> None:
    """A SettingsError unless something answers HTTP at `url` (any status counts) within `timeout`."""
    if not url.startswith(("http://", "https://")):
        raise SettingsError(f"{what} {url}: not an http:// or https:// URL")
    try:
        with httpx.Client(timeout=timeout) as client:
            client.get(url)
    except httpx.ConnectError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else str(exc) or "cannot connect"
        raise SettingsError(f"{what} {url}: {reason} ({hint})") from None
    except httpx.TimeoutException:
        raise SettingsError(f"{what} {url}: no answer within {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise SettingsError(f"{what} {url}: {type(exc).__name__}: {exc}") from None


def run_scenario(args: argparse.Namespace) -> int:
    """Validate, check the target, run, print the summary (and the JSON report); 0 when it passed."""
    settings = data_settings(args)
    spec = load_fixtures(settings.fixtures)
    scenario_path = find_scenario(args.scenario, settings.scenarios)
    try:
        scenario = load_scenario(scenario_path, spec)
    except ScenarioError as exc:
        for problem in exc.errors:
            print(problem, file=sys.stderr)
        print(
            f"envoice-mock: {len(exc.errors)} problem(s) in {scenario_path}; nothing was run", file=sys.stderr
        )
        return 2
    check_target(args.target)
    if args.server:
        check_target(
            f"{args.server.rstrip('/')}/_mock/health", what="server", hint="is envoice-mock serve running?"
        )
    out = sys.stderr if args.json else sys.stdout

    def printer(line: str) -> None:
        print(line, file=out, flush=True)

    seed = scenario.seed if args.seed is None else args.seed
    printer(f"seed: {seed}   (replay exactly with --seed {seed})")
    report = asyncio.run(_run(args, scenario, settings, seed, printer))
    for line in summary_lines(report):
        printer(line)
    if args.json:
        print(json.dumps(report.as_dict(timings=args.timings), indent=2, ensure_ascii=False))
    return 0 if report.ok else 1


async def _run(
    args: argparse.Namespace, scenario: Scenario, settings: Settings, seed: int, printer: Printer
) -> Report:
    if args.server:
        from envoice_mock.scenarios.embedded import run_remote

        return await run_remote(
            scenario, args.target, args.server, seed, printer, realtime=args.speed > 0, verbose=args.verbose
        )
    from envoice_mock.api.app import app_for
    from envoice_mock.scenarios.embedded import run_embedded

    return await run_embedded(
        scenario, args.target, app_for, seed, args.speed, printer, base=settings, verbose=args.verbose
    )
