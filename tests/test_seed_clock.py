"""Seeded data agrees with the clock at account creation, whatever the clock; the README's claims
about seeded dates are checked against what is served."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from envoice_mock.clock import parse_iso
from envoice_mock.config import Settings
from envoice_mock.domain.store import Account, Store
from envoice_mock.runtime.wiring import build_runtime
from envoice_mock.spec import Spec

README = Path(__file__).resolve().parent.parent / "README.md"
ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)
CLOCKS = [
    None,  # the wall clock
    datetime(2024, 3, 1, 12, tzinfo=UTC),
    datetime(2024, 1, 1, tzinfo=UTC),
    datetime(2023, 6, 1, 9, 30, tzinfo=UTC),
    datetime(2031, 5, 5, tzinfo=UTC),
]


def seeded(spec: Spec, clock_start: datetime | None) -> tuple[Store, Account, datetime]:
    settings = Settings(clock_start=clock_start, clock_speed=0.0 if clock_start else 1.0)
    runtime = build_runtime(settings, spec=spec)
    account = runtime.store.accounts["sandbox-key"]
    return runtime.store, account, parse_iso(account.sweep_floor)


def invoice_activities(account: Account, invoice_id: int) -> list[dict[str, Any]]:
    return account.doc_activities.get(("invoice", invoice_id), [])


@pytest.mark.parametrize("clock_start", CLOCKS, ids=lambda c: c.date().isoformat() if c else "wall")
def test_unpaid_invoices_past_due_at_creation_are_overdue_with_their_activity(
    spec: Spec, clock_start: datetime | None
) -> None:
    _, account, created = seeded(spec, clock_start)
    invoices = list(account.table("invoice").values())
    overdue = [r for r in invoices if r["Status"] == "Overdue"]
    assert overdue, "some seeded invoice should be overdue"
    for row in invoices:
        due = parse_iso(row["Duedate"])
        if row["Status"] == "Unpaid":
            assert due >= created, f"{row['Number']} is Unpaid but fell due {row['Duedate']}"
        if row["Status"] == "Overdue":
            marks = [a for a in invoice_activities(account, row["Id"]) if a["Type"] == "Overdue"]
            assert len(marks) == 1, row["Number"]
            assert due < parse_iso(marks[0]["CreatedOn"]) <= created
    if clock_start is None:
        assert not [r for r in invoices if r["Status"] == "Unpaid"]  # every seeded due date is long past


@pytest.mark.parametrize("clock_start", CLOCKS, ids=lambda c: c.date().isoformat() if c else "wall")
def test_no_seeded_event_is_dated_after_the_history_or_the_clock(
    spec: Spec, clock_start: datetime | None
) -> None:
    _, account, created = seeded(spec, clock_start)
    end = min(ANCHOR, created)
    for activity in account.activities:
        when = parse_iso(activity["CreatedOn"])
        assert when <= created, activity
        if activity["Type"] != "Overdue":  # an invoice turns Overdue at its due date, after the history
            assert when <= end, activity
    for row in account.table("invoice").values():
        for payment in row.get("Payments") or []:
            assert parse_iso(payment["PaidOn"]) <= end, (row["Number"], payment)
            assert parse_iso(payment["PaidOn"]) >= parse_iso(row["IssuedOn"])
    for kind, rows in account.tables.items():
        for row in rows.values():
            assert parse_iso(row["CreatedOn"]) <= end, (kind, row["Id"])


def test_seeding_raises_no_webhooks(spec: Spec) -> None:
    store, _, _ = seeded(spec, datetime(2024, 6, 1, tzinfo=UTC))
    heard: list[dict[str, Any]] = []
    store.listeners.append(lambda account, activity: heard.append(activity))
    fresh = store.add_account("fresh-key", "fresh-secret")
    assert any(a["Type"] == "Overdue" for a in fresh.activities)
    assert heard == []


def test_the_readme_says_what_is_served_about_seeded_dates(spec: Spec) -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    window = re.search(r"Seeded history lies between (\d{4}-\d\d-\d\d) and (\d{4}-\d\d-\d\d)", text)
    last_due = re.search(r"No seeded invoice falls due after (\d{4}-\d\d-\d\d)", text)
    still_unpaid = re.search(
        r"with `--clock-start 2024-01-01` (\w+) of the sandbox account's are still `Unpaid`", text
    )
    assert window and last_due and still_unpaid, "the README no longer states the seeded dates"
    first, last = (datetime.fromisoformat(d).replace(tzinfo=UTC) for d in window.groups())
    latest_due = datetime.fromisoformat(last_due.group(1)).replace(tzinfo=UTC)
    words = {"three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
    for clock_start in (None, datetime(2024, 3, 1, 12, tzinfo=UTC), ANCHOR):
        _, account, _ = seeded(spec, clock_start)
        for kind, rows in account.tables.items():
            for row in rows.values():
                assert first <= parse_iso(row["CreatedOn"]) <= last, (kind, row)
        for activity in account.activities:
            if activity["Type"] != "Overdue":
                assert first <= parse_iso(activity["CreatedOn"]) <= last, activity
        dues = [parse_iso(r["Duedate"]) for r in account.table("invoice").values()]
        assert max(dues) <= latest_due
        assert max(dues).date() == latest_due.date()  # the bound is tight, not just true
    _, account, _ = seeded(spec, ANCHOR)
    unpaid = [r for r in account.table("invoice").values() if r["Status"] == "Unpaid"]
    assert len(unpaid) == words[still_unpaid.group(1)]


def test_payments_of_recent_invoices_stay_inside_the_history(spec: Spec) -> None:
    """Across many accounts (many seeded stories), no payment or status change is dated after the end."""
    keys = tuple((f"k{i}", "s") for i in range(12))
    runtime = build_runtime(
        Settings(clock_start=datetime(2024, 3, 1, tzinfo=UTC), clock_speed=0.0, accounts=keys), spec=spec
    )
    paid_late_in_history = 0
    for account in runtime.store.accounts.values():
        for row in account.table("invoice").values():
            for payment in row.get("Payments") or []:
                assert parse_iso(payment["PaidOn"]) <= ANCHOR, (account.key, row["Number"], payment)
                paid_late_in_history += (ANCHOR - parse_iso(row["IssuedOn"])).days < 14
        for activity in account.activities:
            if activity["Type"] != "Overdue":
                assert parse_iso(activity["CreatedOn"]) <= ANCHOR, (account.key, activity)
    assert paid_late_in_history, "no recent paid invoice among the accounts: the check proves nothing"
