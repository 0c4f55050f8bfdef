"""Run a scenario against a private, in-process mock on a virtual clock.

The embedded mock starts at the scenario's instant with the scenario's seed, delivers one
attempt at a time per webhook, and is reached through httpx's ASGI transport, so a run is
reproducible to the byte: same seed, same delivered bodies, signatures and timestamps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from envoice_mock.config import DEFAULT_KEY, DEFAULT_SECRET, Settings
from envoice_mock.ids import derived_token
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.scenarios.loader import Scenario, find_scenario, load_scenario
from envoice_mock.scenarios.report import Printer, Report
from envoice_mock.scenarios.runner import ScenarioRunner

if TYPE_CHECKING:
    from envoice_mock.domain.store import Account

# Builds the ASGI app around a runtime (api.app.app_for): the callers above inject it, so this
# layer never imports the HTTP layer.
AppFactory = Callable[[Runtime], Any]

AUTH = {"x-auth-key": DEFAULT_KEY, "x-auth-secret": DEFAULT_SECRET}


def scenario_settings(scenario: Scenario, seed: int, speed: float, base: Settings | None = None) -> Settings:
    """The embedded mock's settings for a scenario run."""
    base = base or Settings()
    changes: dict[str, Any] = {
        "seed": seed,
        "clock_start": scenario.start,
        "clock_speed": speed,
        "delivery_concurrency": 1,
        "state_file": None,
        "webhooks": (),
        "accounts": (),
        "any_key": False,
    }
    if scenario.retry_schedule is not None:
        changes["retry_schedule"] = scenario.retry_schedule
    if scenario.probe_interval is not None:
        changes["probe_interval"] = scenario.probe_interval
    return base.with_(**changes)


async def run_embedded(
    scenario: Scenario,
    target: str,
    app_factory: AppFactory,
    seed: int | None = None,
    speed: float = 0.0,
    printer: Printer | None = None,
    base: Settings | None = None,
    verbose: bool = False,
) -> Report:
    """Run a scenario on a fresh in-process mock; returns the report."""
    seed = scenario.seed if seed is None else seed
    runtime = build_runtime(scenario_settings(scenario, seed, speed, base))
    return await run_on_runtime(runtime, app_factory, scenario, target, seed, speed, printer, verbose)


async def run_on_runtime(
    runtime: Runtime,
    app_factory: AppFactory,
    scenario: Scenario,
    target: str,
    seed: int,
    speed: float = 0.0,
    printer: Printer | None = None,
    verbose: bool = False,
) -> Report:
    """Drive a scenario through the ASGI app of an existing runtime."""
    app = app_factory(runtime)
    await runtime.webhooks.start()  # httpx's ASGI transport does not run the lifespan
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://envoice-mock", headers=AUTH
        ) as client:
            runner = ScenarioRunner(
                scenario, client, target, seed, printer, realtime=speed > 0, verbose=verbose
            )
            return await runner.run()
    finally:
        await runtime.webhooks.stop()


async def run_remote(
    scenario: Scenario,
    target: str,
    server: str,
    seed: int | None = None,
    printer: Printer | None = None,
    auth: dict[str, str] | None = None,
    realtime: bool = False,
    verbose: bool = False,
) -> Report:
    """Drive a scenario on a running mock over the network (its clock, its data)."""
    seed = scenario.seed if seed is None else seed
    async with httpx.AsyncClient(base_url=server.rstrip("/"), headers=auth or AUTH, timeout=120) as client:
        runner = ScenarioRunner(scenario, client, target, seed, printer, realtime=realtime, verbose=verbose)
        try:
            return await runner.run()
        finally:
            if runner.hook_id:
                await client.delete(f"/_mock/webhooks/{runner.hook_id}")


def start_background_run(
    runtime: Runtime,
    app_factory: AppFactory,
    name: str,
    target: str,
    seed: int | None,
    account: Account | None = None,
) -> str:
    """Start a built-in scenario as a task of the serving process; its report lands in runtime.runs.

    The run belongs to `account` (default: the sandbox account): its id is keyed by the account's
    secret and counted in its saved counters, so it is neither guessable nor ever reused.
    """
    path = find_scenario(name, runtime.settings.scenarios)
    scenario = load_scenario(path, runtime.spec)
    account = account or runtime.store.accounts[DEFAULT_KEY]
    counter = account.next_id("scenario_run")
    if runtime.store.journal:
        runtime.store.journal.save_account(account)
    token = derived_token(runtime.settings.seed, account.key, "run", counter, nbytes=12, key=account.secret)
    run_id = f"run_{token}"
    runtime.runs.owners[run_id] = account.key
    runs = runtime.runs.background
    runs[run_id] = {"RunId": run_id, "Scenario": scenario.name, "Status": "running", "Target": target}
    lines: list[str] = []

    async def go() -> None:
        try:
            report = await run_embedded(
                scenario, target, app_factory, seed, printer=lines.append, base=runtime.settings
            )
            runs[run_id].update(
                Status="passed" if report.ok else "failed", Report=report.as_dict(), Log=lines
            )
        except Exception as exc:  # the run's failure is the run's report, not the server's crash
            runs[run_id].update(Status="error", Error=f"{type(exc).__name__}: {exc}", Log=lines)

    runtime.runs.hold(asyncio.get_running_loop().create_task(go()))
    return run_id
