"""What a scenario run did: the machine-readable report and its terminal summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Delivery-log fields measured in real time: they differ between two runs of the same seed.
MEASURED = frozenset({"DurationMs"})

Printer = Callable[[str], None]


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

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """The attempts the receiver accepted, in the order they were made."""
        return [d for d in self.deliveries if d["Outcome"] == "delivered"]

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


def progress_line(rows: list[dict[str, Any]]) -> str:
    """One line for the attempts since the last step (every attempt stays in --json and the log)."""
    delivered = sum(1 for d in rows if d["Outcome"] == "delivered")
    answers: dict[str, int] = {}
    for d in rows:
        if d["Outcome"] != "delivered":
            key = str(d["StatusCode"] if d["StatusCode"] is not None else d["Error"])
            answers[key] = answers.get(key, 0) + 1
    failed = ", ".join(f"{n}x {a}" for a, n in answers.items())
    return (
        f"    ↳ {len(rows)} attempt(s): {delivered} delivered"
        + (f", failed: {failed}" if failed else "")
        + f"; webhook {rows[-1].get('State', '?')} at {rows[-1]['SentAt']}"
    )


def attempt_line(d: dict[str, Any]) -> str:
    """One attempt of the delivery log, as --verbose shows it."""
    chaos = f" [{', '.join(d['Chaos'])}]" if d["Chaos"] else ""
    answer = d["StatusCode"] if d["StatusCode"] is not None else d["Error"]
    return (
        f"    ↳ {d['SentAt']} activity {d['ActivityId']} {d['ActivityType']} "
        f"{d['Kind']} #{d['Attempt']} → {answer}  webhook {d.get('State', '?')}{chaos}"
    )
