"""Expectations: what a scenario asserts about its deliveries, one registered class each.

To add one, write a class with `name`, `parse` (check the value written in the file; raise
`Refused` with the reason) and `judge` (ok and a one-line detail), and decorate it with
`@expectation`: the loader, the runner and the report pick it up from `EXPECTATIONS`.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from envoice_mock.clock import parse_iso
from envoice_mock.config import SettingsError, parse_duration
from envoice_mock.scenarios.errors import Refused
from envoice_mock.scenarios.report import Report

Verdict = tuple[bool, str]


class Expectation:
    """One kind of expectation; by default its value is taken as written (a flag or a name)."""

    name: ClassVar[str]

    def parse(self, value: Any) -> Any:
        """The value to judge with, or Refused."""
        return value

    def judge(self, value: Any, report: Report) -> Verdict:
        """Whether a finished run (with at least one attempt) meets the expectation, and why."""
        raise NotImplementedError


EXPECTATIONS: dict[str, Expectation] = {}


def expectation(cls: type[Expectation]) -> type[Expectation]:
    """Register an expectation class under its name (the order of registration is the order listed)."""
    EXPECTATIONS[cls.name] = cls()
    return cls


class _Names(Expectation):
    def parse(self, value: Any) -> Any:
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise Refused(f"{self.name} takes a list of names")
        return value


class _Number(Expectation):
    def parse(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Refused(f"{self.name} takes a number")
        return value


def _chronological(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(d["ActivityCreatedOn"], d["ActivityId"]) for d in rows]


@expectation
class AllDelivered(Expectation):
    """Every activity of the run reached the receiver at least once."""

    name = "all_delivered"

    def judge(self, value: Any, report: Report) -> Verdict:
        """All activity ids are among the delivered ones."""
        activity_ids = [a["Id"] for a in report.activities]
        delivered_ids = {d["ActivityId"] for d in report.delivered}
        missing = [a for a in activity_ids if a not in delivered_ids]
        detail = f"{len(activity_ids) - len(missing)}/{len(activity_ids)} activities delivered"
        return (not missing) == bool(value), detail


@expectation
class DeliveredWithin(Expectation):
    """Each activity's first delivery came within a duration of the activity."""

    name = "delivered_within"

    def parse(self, value: Any) -> Any:
        """A duration such as 30s."""
        try:
            return parse_duration(value)
        except SettingsError as exc:
            raise Refused(f"delivered_within: {exc}") from None

    def judge(self, value: Any, report: Report) -> Verdict:
        """The slowest first delivery against the limit."""
        ok_rows = report.delivered
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


@expectation
class CorruptRejected(Expectation):
    """Deliveries with a corrupted signature were all refused by the receiver."""

    name = "corrupt_rejected"

    def judge(self, value: Any, report: Report) -> Verdict:
        """Some corrupt deliveries, none answered 200."""
        corrupt = [d for d in report.deliveries if "chaos:corrupt_signature" in d["Chaos"]]
        accepted = [d for d in corrupt if d["StatusCode"] == 200]
        ok = bool(corrupt) and not accepted
        detail = f"{len(corrupt)} corrupt deliveries, {len(accepted)} accepted by the receiver"
        return ok == bool(value), detail


@expectation
class OutOfOrder(Expectation):
    """First deliveries (not duplicates or replays) arrived out of chronological order."""

    name = "out_of_order"

    def judge(self, value: Any, report: Report) -> Verdict:
        """Any delivered activity older than the one before it."""
        keys = _chronological([d for d in report.delivered if d["Kind"] not in ("duplicate", "replay")])
        disordered = any(b < a for a, b in itertools.pairwise(keys))
        detail = "deliveries arrived out of order" if disordered else "deliveries arrived in order"
        return disordered == bool(value), detail


@expectation
class Duplicates(Expectation):
    """Some activity was delivered more than once."""

    name = "duplicates"

    def judge(self, value: Any, report: Report) -> Verdict:
        """Count the activities delivered twice or more."""
        counts: dict[int, int] = {}
        for d in report.delivered:
            counts[d["ActivityId"]] = counts.get(d["ActivityId"], 0) + 1
        dup = sum(1 for c in counts.values() if c > 1)
        return (dup > 0) == bool(value), f"{dup} activities delivered more than once"


@expectation
class StatesSeen(_Names):
    """The webhook went through these states, in this order (others may come between)."""

    name = "states_seen"

    def judge(self, value: Any, report: Report) -> Verdict:
        """The wanted states are a subsequence of the webhook's history."""
        seen = [s for _, s in report.webhook.get("History", [])]
        it = iter(seen)
        ok = all(any(s == want for s in it) for want in value)
        return ok, f"webhook states: {' → '.join(['healthy', *seen])}"


@expectation
class KindsSeen(_Names):
    """Attempts of each of these kinds (live, retry, probe, catchup, duplicate, replay) were made."""

    name = "kinds_seen"

    def judge(self, value: Any, report: Report) -> Verdict:
        """No wanted kind is missing."""
        kinds = {d["Kind"] for d in report.deliveries}
        missing = [k for k in value if k not in kinds]
        return not missing, f"delivery kinds seen: {', '.join(sorted(kinds))}"


@expectation
class CatchUpChronological(Expectation):
    """After an outage, the probe and catch-up deliveries came oldest first."""

    name = "catch_up_chronological"

    def judge(self, value: Any, report: Report) -> Verdict:
        """Some probe/catch-up deliveries, in chronological order."""
        rows = [d for d in report.delivered if d["Kind"] in ("probe", "catchup")]
        keys = _chronological(rows)
        ok = bool(rows) and keys == sorted(keys)
        order = "in" if keys == sorted(keys) else "out of"
        return ok == bool(value), f"{len(rows)} probe/catch-up deliveries, {order} chronological order"


@expectation
class MinDeliveries(_Number):
    """At least this many attempts were made."""

    name = "min_deliveries"

    def judge(self, value: Any, report: Report) -> Verdict:
        """Count every attempt."""
        return len(report.deliveries) >= value, f"{len(report.deliveries)} delivery attempts"


@expectation
class FinalState(Expectation):
    """The webhook ended in this state."""

    name = "final_state"

    def judge(self, value: Any, report: Report) -> Verdict:
        """The webhook's state at the end."""
        state = report.webhook.get("State")
        return state == value, f"webhook ended {state}"


@expectation
class Replayed(_Number):
    """At least this many replayed deliveries were accepted."""

    name = "replayed"

    def judge(self, value: Any, report: Report) -> Verdict:
        """Count the delivered replays."""
        n = sum(1 for d in report.delivered if d["Kind"] == "replay")
        return n >= value, f"{n} replayed deliveries"


def parse_expectation(item: Any) -> tuple[str, Any]:
    """An expectation `{name: value}` checked against the registry: (name, parsed value), or Refused."""
    if not isinstance(item, dict) or len(item) != 1:
        raise Refused(f"an expectation is one of {', '.join(EXPECTATIONS)} with its value")
    ((name, value),) = item.items()
    found = EXPECTATIONS.get(name)
    if found is None:
        raise Refused(f"unknown expectation {name!r}; use one of {', '.join(EXPECTATIONS)}")
    return name, found.parse(value)


def judge(name: str, value: Any, report: Report) -> Verdict:
    """Evaluate one expectation against a finished run (none passes on a run without attempts)."""
    if not report.deliveries:
        return False, "no delivery was attempted, so there was nothing to check"
    found = EXPECTATIONS.get(name)
    if found is None:
        return False, f"unknown expectation {name}"
    return found.judge(value, report)
