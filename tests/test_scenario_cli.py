"""Scenario runs a person can read: all validation errors at once, an unreachable target reported
at once, progress lines instead of every retry, no expectation passing on nothing, stable --json."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from envoice_mock.cli.scenario import check_target
from envoice_mock.config import SettingsError
from envoice_mock.scenarios.expectations import judge
from envoice_mock.scenarios.report import Report
from envoice_mock.sink import Sink

from .helpers import SECRET, cli

MANY_MISTAKES = """\
name: many-mistakes
description: three things wrong, all reported
steps:
  - frobnicate: now
  - advance: soon
  - do: tax.new
    body: {Name: T, Percentage: 5}
expect:
  - happy: true
"""


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A receiver on a free loopback port."""
    with Sink.running(secret=SECRET) as running:
        yield running


def test_every_mistake_in_a_file_is_reported_before_anything_runs(tmp_path: Path, closed_port: int) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(MANY_MISTAKES, encoding="utf-8")
    result = cli("scenario", "run", str(path), "--target", f"http://127.0.0.1:{closed_port}/hook")
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert (
        lines[0]
        == f"{path}:4: unknown step 'frobnicate' (expected one of do, event, advance, wait, chaos, say)"
    )
    assert lines[1].startswith(f"{path}:5: advance: not a duration: 'soon'")
    assert lines[2].startswith(f"{path}:9: unknown expectation 'happy'")
    assert lines[3] == f"envoice-mock: 3 problem(s) in {path}; nothing was run"


def test_a_refused_target_is_reported_at_once(closed_port: int) -> None:
    target = f"http://127.0.0.1:{closed_port}/hook"
    started = time.monotonic()
    result = cli("scenario", "run", "webhook-outage-recovery", "--target", target)
    assert time.monotonic() - started < 10
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"envoice-mock: target {target}: connection refused (is your receiver running?)"
    )


def test_an_unreachable_server_is_reported_at_once(sink: Sink, closed_port: int) -> None:
    server = f"http://127.0.0.1:{closed_port}"
    result = cli("scenario", "run", "invoice-lifecycle", "--target", sink.url, "--server", server)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"envoice-mock: server {server}/_mock/health: connection refused (is envoice-mock serve running?)"
    )


def test_a_target_that_never_answers_is_reported_after_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        target = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        with pytest.raises(SettingsError, match=r"no answer within 0.2s"):
            check_target(target, timeout=0.2)


def test_long_runs_print_progress_not_every_retry(sink: Sink) -> None:
    result = cli("scenario", "run", "webhook-outage-recovery", "--target", sink.url)
    assert result.returncode == 0, result.stdout + result.stderr
    progress = [line for line in result.stdout.splitlines() if "↳" in line]
    assert len(progress) <= 6 and any("failed: 21x 503" in line for line in progress)
    assert "PASSED: webhook-outage-recovery" in result.stdout
    verbose = cli("scenario", "run", "webhook-outage-recovery", "--target", sink.url, "--verbose")
    assert sum("↳" in line for line in verbose.stdout.splitlines()) > 40  # every attempt, on request


def test_no_expectation_passes_on_zero_deliveries() -> None:
    empty = Report("nothing", 1, "http://127.0.0.1:9/hook", webhook={"State": "healthy", "History": []})
    for name, value in [
        ("all_delivered", True),
        ("out_of_order", False),
        ("duplicates", False),
        ("states_seen", []),
        ("final_state", "healthy"),
        ("kinds_seen", []),
    ]:
        ok, detail = judge(name, value, empty)
        assert not ok and "no delivery" in detail, name


def test_json_reports_of_one_seed_are_byte_identical(sink: Sink) -> None:
    args = ("scenario", "run", "duplicate-storm", "--target", sink.url, "--seed", "7", "--json")
    first, second = cli(*args), cli(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and "DurationMs" not in first.stdout
    timed = json.loads(cli(*args, "--timings").stdout)
    assert all("DurationMs" in d for d in timed["deliveries"])
