"""The scenario runs a serving mock started: their records and the tasks that drive them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ScenarioRuns:
    """Runs started over the control plane, kept by the runtime so their records can be read later.

    A record is the JSON answered for the run (RunId, Scenario, Status, Target, then its report or
    log); the tasks are held here so that asyncio does not collect a run while it is going.
    """

    background: dict[str, dict[str, Any]] = field(default_factory=dict)  # run id -> record
    owners: dict[str, str] = field(default_factory=dict)  # background run id -> account key
    live: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # account -> run id -> record
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def hold(self, task: asyncio.Task[None]) -> None:
        """Keep a run's task alive until it ends."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
