"""Running a scenario: register the target, do each step, settle the deliveries, judge.

The runner drives the mock only through HTTP (the in-process ASGI transport when embedded,
the network with --server), so every step takes the same code paths as a real client's call.
What each step does lives in its kind (steps.py); what each expectation checks, in
expectations.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from envoice_mock.scenarios.errors import ScenarioError
from envoice_mock.scenarios.expectations import judge
from envoice_mock.scenarios.loader import Scenario
from envoice_mock.scenarios.report import Printer, Report, attempt_line, progress_line
from envoice_mock.scenarios.steps import STEP_KINDS, Step


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
        self.printer: Printer = printer or (lambda line: None)
        self.realtime = realtime
        self.report = Report(scenario.name, seed, target)
        self.saved: dict[str, Any] = {}
        self.hook_id = ""  # the target's webhook, once registered (callers delete it after a remote run)
        self._shown = 0
        self._first_activity = 0

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP call to the mock."""
        return await self.client.request(method, path, **kwargs)

    async def _every(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every row of a paged control-plane list, following its `Link: rel="next"` pages."""
        rows: list[dict[str, Any]] = []
        response = await self.call("GET", path, params=params)
        while True:
            rows += response.json()
            following = response.links.get("next", {}).get("url")
            if not following:
                return rows
            response = await self.call("GET", following)

    async def run(self) -> Report:
        """Register the target, run every step, settle deliveries, judge the expectations."""
        sc = self.scenario
        self.printer(f"scenario {sc.name} (seed {self.report.seed}): {sc.description}")
        hook = await self.call("POST", "/_mock/webhooks", json={"Url": self.target})
        if hook.status_code != 201:
            raise ScenarioError(f"could not register the target webhook: {hook.status_code} {hook.text}")
        self.hook_id = hook.json()["Id"]
        activities = await self._every("/_mock/activities")
        self._first_activity = activities[-1]["Id"] if activities else 0
        try:
            for step in sc.steps:
                await self._step(step)
                if STEP_KINDS[step.kind].settles:
                    await self.call("POST", "/_mock/deliveries/settle")  # what is due now goes out now
                await self._show_deliveries()
            await self.wait(None)
            await self._show_deliveries()
            await self._collect()
        finally:
            await self.call("POST", "/_mock/chaos", json={"clear": {}})
        self._judge()
        return self.report

    async def _step(self, step: Step) -> None:
        entry: dict[str, Any] = {"line": step.line, "kind": step.kind, "ok": True}
        entry.update(await STEP_KINDS[step.kind].run(step, self))
        self.report.steps.append(entry)

    async def wait(self, max_seconds: float | None) -> None:
        """Until the deliveries are idle: at once on a virtual clock, in real time on a running one."""
        body = {"max": max_seconds} if max_seconds else {}
        if not self.realtime:
            await self.call("POST", "/_mock/deliveries/idle", json=body)
            return
        while True:  # real time (a demo): let the server's clock run, showing arrivals as they come
            r = (await self.call("POST", "/_mock/deliveries/settle", json={"flush": True})).json()
            await self._show_deliveries()
            if r["Pending"] == 0 and r.get("NextDueIn") is None:
                return
            await asyncio.sleep(min(0.5, r.get("NextDueIn") or 0.5))

    async def _show_deliveries(self) -> None:
        rows = await self._every("/_mock/deliveries", webhook=self.hook_id)
        fresh = rows[self._shown :]
        if not self.verbose:
            if fresh:
                self.printer(progress_line(fresh))
        else:
            for d in fresh:
                self.printer(attempt_line(d))
        self._shown = len(rows)

    async def _collect(self) -> None:
        self.report.deliveries = await self._every("/_mock/deliveries", webhook=self.hook_id)
        hooks = (await self.call("GET", "/_mock/webhooks")).json()
        self.report.webhook = next((h for h in hooks if h["Id"] == self.hook_id), {})
        self.report.activities = await self._every("/_mock/activities", since=self._first_activity)

    def _judge(self) -> None:
        for name, value, line in self.scenario.expect:
            ok, detail = judge(name, value, self.report)
            self.report.expectations.append(
                {"name": name, "value": value, "line": line, "ok": ok, "detail": detail}
            )
