"""The scenario registries: step kinds and expectations are each one registered class."""

from __future__ import annotations

from typing import Any

import pytest

from envoice_mock.scenarios.errors import ScenarioError
from envoice_mock.scenarios.expectations import EXPECTATIONS, Expectation, expectation, judge
from envoice_mock.scenarios.loader import parse_scenario
from envoice_mock.scenarios.report import Report
from envoice_mock.scenarios.steps import STEP_KINDS
from envoice_mock.spec import Spec

HEAD = "name: x\ndescription: one line\n"


def problems(text: str, spec: Spec) -> list[str]:
    """The errors a scenario text is refused with."""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, spec, "story.yaml")
    return caught.value.errors


def test_the_registries_list_every_kind_in_order() -> None:
    assert list(STEP_KINDS) == ["do", "event", "advance", "wait", "chaos", "say"]
    assert list(EXPECTATIONS) == [
        "all_delivered",
        "delivered_within",
        "corrupt_rejected",
        "out_of_order",
        "duplicates",
        "states_seen",
        "kinds_seen",
        "catch_up_chronological",
        "min_deliveries",
        "final_state",
        "replayed",
    ]


def test_an_unknown_step_names_file_line_and_the_known_kinds(spec: Spec) -> None:
    (error,) = problems(HEAD + "steps:\n  - say: hi\n  - teleport: home\n", spec)
    assert (
        error
        == "story.yaml:5: unknown step 'teleport' (expected one of do, event, advance, wait, chaos, say)"
    )


def test_an_unknown_expectation_names_file_line_and_the_known_ones(spec: Spec) -> None:
    (error,) = problems(
        HEAD + "steps: [{say: hi}]\nexpect:\n  - all_delivered: true\n  - vibes: good\n", spec
    )
    assert error.startswith("story.yaml:6: unknown expectation 'vibes'; use one of all_delivered, ")
    assert all(name in error for name in EXPECTATIONS)


def test_an_unknown_chaos_directive_in_a_step_names_file_line_and_the_known_ones(spec: Spec) -> None:
    (error,) = problems(HEAD + "steps:\n  - chaos: {meteor: {}}\n", spec)
    assert error.startswith("story.yaml:4: unknown chaos directive 'meteor'; use one of fail, reorder, ")


def test_a_step_kinds_options_and_checks_come_from_its_class(spec: Spec) -> None:
    errors = problems(HEAD + "steps:\n  - wait: deliveries\n    body: {}\n  - advance: soon\n", spec)
    assert errors == [
        "story.yaml:4: wait step: unknown key(s) body; allowed: max",
        "story.yaml:6: advance: " + errors[1].split("advance: ", 1)[1],
    ]


def test_a_new_expectation_is_one_registered_class(spec: Spec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("envoice_mock.scenarios.expectations.EXPECTATIONS", dict(EXPECTATIONS))

    @expectation
    class AtMostAttempts(Expectation):
        name = "at_most_attempts"

        def judge(self, value: Any, report: Report) -> tuple[bool, str]:
            return len(report.deliveries) <= value, f"{len(report.deliveries)} attempts"

    scenario = parse_scenario(HEAD + "steps: [{say: hi}]\nexpect: [{at_most_attempts: 2}]\n", spec)
    assert scenario.expect == (("at_most_attempts", 2, 4),)
    report = Report("x", 1, "http://127.0.0.1:9/hook", deliveries=[{"Outcome": "delivered"}])
    assert judge("at_most_attempts", 2, report) == (True, "1 attempts")


def test_expectations_judge_a_finished_run() -> None:
    rows = [
        {
            "ActivityId": 1,
            "ActivityCreatedOn": "b",
            "Kind": "live",
            "Outcome": "delivered",
            "StatusCode": 200,
        },
        {
            "ActivityId": 2,
            "ActivityCreatedOn": "a",
            "Kind": "live",
            "Outcome": "delivered",
            "StatusCode": 200,
        },
        {
            "ActivityId": 2,
            "ActivityCreatedOn": "a",
            "Kind": "duplicate",
            "Outcome": "delivered",
            "StatusCode": 200,
        },
    ]
    report = Report("x", 1, "t", activities=[{"Id": 1}, {"Id": 2}, {"Id": 3}], deliveries=rows)
    assert judge("all_delivered", True, report) == (False, "2/3 activities delivered")
    assert judge("out_of_order", True, report) == (True, "deliveries arrived out of order")
    assert judge("duplicates", True, report) == (True, "1 activities delivered more than once")
    assert judge("min_deliveries", 4, report) == (False, "3 delivery attempts")
    assert judge("no_such", 1, report) == (False, "unknown expectation no_such")


def test_the_scenario_layer_imports_nothing_above_it() -> None:
    import ast
    from pathlib import Path

    import envoice_mock.scenarios

    above = ("envoice_mock.api", "envoice_mock.cli", "envoice_mock.pytest_plugin", "envoice_mock.sink")
    for path in Path(envoice_mock.scenarios.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not [n for n in names if n.startswith(above)], f"{path.name} imports {names}"
