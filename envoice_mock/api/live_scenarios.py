"""Run a built-in scenario against the serving mock itself, on one account, so a dashboard can
watch it: its API calls, activities and deliveries land in that account (and on its event
stream), and each line of its progress is published as a `scenario` event.

Unlike `POST /_mock/scenarios/{name}/run` (a private embedded mock), such a run uses the
server's data and clock: its waits move the clock forward, as `scenario run --server` does.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Any

import httpx

from envoice_mock.scenarios.errors import ScenarioError
from envoice_mock.scenarios.loader import find_scenario, load_scenario
from envoice_mock.scenarios.runner import ScenarioRunner

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from envoice_mock.api.events import EventBus
    from envoice_mock.config import Settings
    from envoice_mock.runtime.wiring import Runtime
    from envoice_mock.scenarios.loader import Scenario

MAX_RUNS = 20  # runs remembered per account (the oldest finished ones are forgotten)


def start_live_run(
    app: ASGIApp,
    runtime: Runtime,
    bus: EventBus,
    account: tuple[str, str],
    name: str,
    target: str,
    seed: int | None,
) -> dict[str, Any]:
    """Start the run as a task of the serving loop; answers its record (Status "running")."""
    scenario = load_scenario(find_scenario(name, runtime.settings.scenarios), runtime.spec)
    key, secret = account
    runs = runtime.runs.live.setdefault(key, {})
    record = _new_record(runs, scenario.name, target)
    run_id = record["RunId"]

    def printer(line: str) -> None:
        record["Log"].append(line)
        bus.publish(key, "scenario", {"RunId": run_id, "Line": line})

    note = settings_note(scenario, runtime.settings)
    if note:
        printer(note)

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        headers = {"x-auth-key": key, "x-auth-secret": secret, "x-mock-enum-style": "string"}
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://envoice-mock", headers=headers, timeout=120
            ) as client:
                runner = ScenarioRunner(
                    scenario, client, target, scenario.seed if seed is None else seed, printer
                )
                try:
                    report = await runner.run()
                finally:
                    if runner.hook_id:
                        await client.delete(f"/_mock/webhooks/{runner.hook_id}")
            record.update(Status="passed" if report.ok else "failed", Expectations=report.expectations)
        except Exception as exc:  # the run's failure is the run's report, not the server's
            record.update(Status="error", Error=f"{type(exc).__name__}: {exc}")
        bus.publish(key, "scenario", {"RunId": run_id, "Status": record["Status"], "Done": True})

    runtime.runs.hold(asyncio.get_running_loop().create_task(go()))
    return record


def _new_record(runs: dict[str, dict[str, Any]], scenario: str, target: str) -> dict[str, Any]:
    """A running run's record among an account's runs (at most three running, MAX_RUNS kept)."""
    if sum(1 for r in runs.values() if r["Status"] == "running") >= 3:
        raise ScenarioError("three scenario runs are already running on this account; wait for one to end")
    run_id = "live_" + secrets.token_urlsafe(12)
    record: dict[str, Any] = {
        "RunId": run_id,
        "Scenario": scenario,
        "Target": target,
        "Status": "running",
        "Log": [],
    }
    runs[run_id] = record
    while len(runs) > MAX_RUNS:
        oldest = next((rid for rid, r in runs.items() if r["Status"] != "running"), None)
        if oldest is None:
            break
        del runs[oldest]
    return record


def settings_note(scenario: Scenario, settings: Settings) -> str | None:
    """A line saying where the scenario's delivery settings differ from this server's (None: they agree)."""
    differs = []
    if scenario.retry_schedule is not None and tuple(scenario.retry_schedule) != tuple(
        settings.retry_schedule
    ):
        differs.append(
            f"retry schedule {_delays(scenario.retry_schedule)} (this server: {_delays(settings.retry_schedule)})"
        )
    if scenario.probe_interval is not None and scenario.probe_interval != settings.probe_interval:
        differs.append(
            f"probe interval {scenario.probe_interval:g}s (this server: {settings.probe_interval:g}s)"
        )
    if not differs:
        return None
    return "note: the scenario is written for " + " and ".join(differs) + "; it runs on this server's"


def _delays(delays: tuple[float, ...] | list[float]) -> str:
    return ",".join(f"{d:g}" for d in delays) or "none"
