"""Scenarios: every built-in story passes against the sink, runs are reproducible, files are checked."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envoice_mock.api.app import app_for
from envoice_mock.config import DEFAULT_SCENARIOS
from envoice_mock.scenarios.embedded import run_embedded
from envoice_mock.scenarios.errors import ScenarioError
from envoice_mock.scenarios.loader import Scenario, load_scenario, parse_scenario, scenario_files
from envoice_mock.sink import Sink
from envoice_mock.spec import Spec

from .helpers import SECRET

BUILT_IN = [p.stem for p in scenario_files(DEFAULT_SCENARIOS)]


def run(scenario: Scenario, sink: Sink, seed: int | None = None):  # type: ignore[no-untyped-def]
    """Run a scenario embedded against the sink."""
    return asyncio.run(run_embedded(scenario, sink.url, app_for, seed))


def test_the_nine_built_in_scenarios_are_there(spec: Spec) -> None:
    assert set(BUILT_IN) >= {
        "invoice-lifecycle",
        "pay-through-each-gateway",
        "estimation-to-invoice",
        "order-fulfilment",
        "overdue-and-reminders",
        "webhook-outage-recovery",
        "out-of-order-delivery",
        "duplicate-storm",
        "signature-tampering",
    }
    for path in scenario_files(DEFAULT_SCENARIOS):
        scenario = load_scenario(path, spec)
        assert scenario.name == path.stem and scenario.description and scenario.expect


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_scenario_passes_against_the_sink(name: str, spec: Spec) -> None:
    scenario = load_scenario(DEFAULT_SCENARIOS / f"{name}.yaml", spec)
    with Sink.running(secret=SECRET) as sink:
        report = run(scenario, sink)
        arrivals = sink.received
    failed = [e for e in report.expectations if not e["ok"]]
    assert report.ok, failed or [s for s in report.steps if not s["ok"]]
    # Attempts failed by chaos never leave the mock (the receiver "was down"); the rest arrive.
    assert arrivals and len(arrivals) == sum(1 for d in report.deliveries if "chaos:fail" not in d["Chaos"])
    assert all(a["SignatureValid"] for a in arrivals if a["Answered"] == 200)


def test_the_format_example_of_the_scenarios_readme_passes(spec: Spec) -> None:
    """scenarios/README.md opens with a whole story; copied into a file it runs and passes."""
    readme = (DEFAULT_SCENARIOS / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", readme, re.S)
    assert example is not None
    scenario = parse_scenario(example.group(1), spec, where="my-story.yaml")
    with Sink.running(secret=SECRET) as sink:
        report = run(scenario, sink)
    assert report.ok, [s for s in report.steps if not s["ok"]] or report.expectations


def test_observable_from_outside(spec: Spec) -> None:
    def arrivals_of(name: str) -> list[dict]:  # type: ignore[type-arg]
        with Sink.running(secret=SECRET) as sink:
            assert run(load_scenario(DEFAULT_SCENARIOS / f"{name}.yaml", spec), sink).ok
            return sink.received

    assert any(a["OutOfOrder"] for a in arrivals_of("out-of-order-delivery"))
    storm = [a for a in arrivals_of("duplicate-storm") if a["Duplicate"]]
    assert storm and len({a["Delivery"] for a in storm}) == len(storm)
    tampered = arrivals_of("signature-tampering")
    assert any(a["SignatureValid"] is False for a in tampered) and any(a["SignatureValid"] for a in tampered)
    assert all(a["Answered"] != 200 for a in tampered if a["SignatureValid"] is False)


def test_same_seed_gives_byte_identical_deliveries(spec: Spec) -> None:
    scenario = load_scenario(DEFAULT_SCENARIOS / "webhook-outage-recovery.yaml", spec)

    def bodies(seed: int) -> list[tuple[str, str, str]]:
        with Sink.running(secret=SECRET) as sink:
            report = run(scenario, sink, seed)
            arrived = [(a["Body"], a["Delivery"], a["Headers"]["x-envoice-signature"]) for a in sink.received]
            attempted = [(d["Body"], d["DeliveryId"], d["SentAt"]) for d in report.deliveries]
            return arrived + attempted

    first, second, other = bodies(7), bodies(7), bodies(8)
    assert first == second and len(first) > 40
    assert first != other


BAD = {
    "not yaml": ("name: [unclosed", ":1: not valid YAML"),
    "no steps": ("name: x\ndescription: d\n", ":1: steps must be a non-empty list"),
    "bad name": ("name: Bad Name\ndescription: d\nsteps: [{say: hi}]\n", "name must be a lower-case slug"),
    "two kinds": (
        "name: x\ndescription: d\nsteps:\n  - say: hi\n    advance: 1d\n",
        ":4: a step needs exactly one of",
    ),
    "unknown op": (
        "name: x\ndescription: d\nsteps:\n  - say: hi\n  - do: invoice.explode\n",
        ":5: unknown operation 'invoice.explode'",
    ),
    "missing body": (
        "name: x\ndescription: d\nsteps:\n  - do: invoice.new\n",
        ":4: invoice.new needs a body",
    ),
    "dangling ref": (
        "name: x\ndescription: d\nsteps:\n  - do: invoice.sendtoclient\n    body: {Id: '${inv.Id}'}\n",
        ":4: ${inv} refers to nothing saved",
    ),
    "bad duration": ("name: x\ndescription: d\nsteps:\n  - advance: soon\n", ":4: advance: not a duration"),
    "bad chaos": (
        "name: x\ndescription: d\nsteps:\n  - chaos: {explode: {}}\n",
        ":4: unknown chaos directive 'explode'",
    ),
    "bad chaos option": (
        "name: x\ndescription: d\nsteps:\n  - chaos:\n      fail: {attempts: 2, colour: red}\n",
        ":4: chaos fail: unknown option(s) colour",
    ),
    "bad event": (
        "name: x\ndescription: d\nsteps:\n  - event: dance\n    invoice: 1\n",
        ":4: unknown event 'dance'",
    ),
    "bad expectation": (
        "name: x\ndescription: d\nsteps: [{say: hi}]\nexpect:\n  - happy: true\n",
        ":5: unknown expectation 'happy'",
    ),
    "unknown key": (
        "name: x\ndescription: d\nsteps: [{say: hi}]\ncolour: red\n",
        ":1: unknown top-level key(s): colour",
    ),
    # A list item that is not a mapping has no line of its own in YAML's mappings: it is still
    # reported on its own line, not on the file's first.
    "bare step": (
        "name: x\ndescription: d\nsteps:\n  - say: hi\n  - frobnicate\n",
        ":5: a step is a mapping",
    ),
    "bare expectation": (
        "name: x\ndescription: d\nsteps: [{say: hi}]\nexpect:\n  - all_delivered: true\n  - all_delivered\n",
        ":6: an expectation is one of",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_malformed_scenario_is_rejected_with_file_line_and_reason(case: str, spec: Spec) -> None:
    text, expected = BAD[case]
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, spec, where="stories/bad.yaml")
    assert str(err.value).startswith("stories/bad.yaml:")
    assert expected in str(err.value)


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the envoice-mock command."""
    return subprocess.run(
        [sys.executable, "-m", "envoice_mock", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_cli_lists_scenarios_with_descriptions() -> None:
    result = cli("scenario", "list")
    assert result.returncode == 0
    for name in BUILT_IN:
        assert name in result.stdout
    assert "chronological catch-up" in result.stdout


def test_cli_run_prints_seed_progress_summary_and_exit_code(tmp_path: Path) -> None:
    with Sink.running(secret=SECRET) as sink:
        ok = cli("scenario", "run", "signature-tampering", "--target", sink.url)
        failing = tmp_path / "impossible.yaml"
        failing.write_text(
            "name: impossible\ndescription: expects a duplicate that never comes\nsteps:\n"
            "  - do: tax.new\n    body: {Name: T, Percentage: 5}\nexpect:\n  - duplicates: true\n"
        )
        bad = cli("scenario", "run", str(failing), "--target", sink.url, "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("seed: 9")
    assert "chaos:corrupt_signature" in ok.stdout and "PASSED: signature-tampering" in ok.stdout
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False and report["expectations"][0]["name"] == "duplicates"


def test_cli_rejects_a_broken_file_before_running(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\ndescription: d\nsteps:\n  - do: nope.nope\n")
    result = cli("scenario", "run", str(broken), "--target", "http://127.0.0.1:9/hook")
    assert result.returncode == 2
    assert f"{broken}:4: unknown operation 'nope.nope'" in result.stderr


def test_cli_drives_a_running_server(tmp_path: Path) -> None:
    from .helpers import ServerProcess

    server = ServerProcess("--clock-start", "2024-01-01T00:00:00Z")
    try:
        with Sink.running(secret=SECRET) as sink:
            result = cli("scenario", "run", "invoice-lifecycle", "--target", sink.url, "--server", server.url)
            hooks_after = server.client.get("/_mock/webhooks").json()
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED: invoice-lifecycle" in result.stdout
    assert hooks_after == []  # the run removed the webhook it registered


def test_speed_plays_waits_in_real_time(spec: Spec) -> None:
    scenario = load_scenario(DEFAULT_SCENARIOS / "out-of-order-delivery.yaml", spec)
    with Sink.running(secret=SECRET) as sink:
        started = time.monotonic()
        report = asyncio.run(
            run_embedded(scenario, sink.url, app_for, speed=200.0)
        )  # the 30 s retry takes ~0.15 s
        elapsed = time.monotonic() - started
    assert report.ok, report.expectations
    assert elapsed >= 30 / 200
    retry = next(d for d in report.deliveries if d["Kind"] == "retry")
    assert retry["SentAt"] >= "2024-01-01T00:00:30"
