"""The chaos registry: each directive is one registered class with its own options and limits."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from envoice_mock.config import Settings
from envoice_mock.delivery.chaos import (
    DIRECTIVES,
    ChaosEngine,
    ChaosError,
    Delay,
    Fail,
    Rule,
    directive,
    parse_directive,
)
from envoice_mock.delivery.webhooks import Job, Plan, Webhook
from envoice_mock.runtime.wiring import Runtime, build_runtime


@pytest.fixture
def engine() -> ChaosEngine:
    """A chaos engine of a frozen-clock runtime."""
    return build_runtime(Settings(clock_speed=0.0)).chaos


def _hook() -> Webhook:
    """A webhook of the sandbox account (rules installed without an account apply to it)."""
    return Webhook(
        id="wh_1",
        account="sandbox-key",
        url="http://127.0.0.1:9/hook",
        secret="s",
        created_on="2024-01-01T00:00:00Z",
        since_activity=0,
    )


def job(kind: str = "live", marks: tuple[str, ...] = ()) -> Job:
    """An attempt of activity 1."""
    return Job(0.0, 0, "wh_1", {"Id": 1}, kind=kind, marks=marks)


def test_the_registry_lists_every_directive_in_order() -> None:
    assert list(DIRECTIVES) == [
        "fail",
        "reorder",
        "duplicate",
        "delay",
        "corrupt_signature",
        "replay",
        "clear",
    ]


def test_an_unknown_directive_lists_the_known_ones() -> None:
    with pytest.raises(ChaosError) as caught:
        parse_directive({"meteor": {}})
    assert str(caught.value) == (
        "unknown chaos directive 'meteor'; use one of fail, reorder, duplicate, delay, corrupt_signature, replay, clear"
    )


def test_each_directive_names_its_own_options() -> None:
    with pytest.raises(ChaosError, match=r"known: count, every$"):
        parse_directive({"corrupt_signature": {"window": 3}})
    with pytest.raises(ChaosError, match=r"known: none$"):
        parse_directive({"clear": {"all": True}})


def test_a_rule_parses_its_typed_parameters_within_their_limits() -> None:
    rule = Fail.parse({"for": "10s", "error": "timeout"}, now=100.0, account="a")
    assert isinstance(rule, Fail)
    assert (rule.account, rule.remaining, rule.until, rule.status, rule.error) == (
        "a",
        None,
        110.0,
        None,
        "timeout",
    )
    with pytest.raises(ChaosError, match="may be at most 1000"):
        Delay.parse({"count": 1001}, now=0.0, account=None)


def test_the_engine_does_not_wire_itself_the_runtime_does() -> None:
    runtime: Runtime = build_runtime(Settings(clock_speed=0.0))
    assert runtime.webhooks.chaos is runtime.chaos
    loose = ChaosEngine(runtime.webhooks, 1)
    assert runtime.webhooks.chaos is not loose


def test_delay_holds_an_attempt_back_once_then_other_rules_shape_it(engine: ChaosEngine) -> None:
    engine.apply({"delay": {"seconds": 3}}, [], [])
    engine.apply({"fail": {"status": 500}}, [], [])
    first = engine.plan(_hook(), job())
    assert (first.delay, first.marks, first.status) == (3.0, ["chaos:delay"], None)
    again = engine.plan(_hook(), job(marks=("chaos:delay",)))
    assert (again.delay, again.marks, again.status) == (0.0, ["chaos:fail"], 500)


def test_a_new_directive_is_one_registered_class(
    engine: ChaosEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("envoice_mock.delivery.chaos.DIRECTIVES", dict(DIRECTIVES))

    @directive
    @dataclass
    class Teapot(Rule):
        name = "teapot"
        options = frozenset({"count"})

        @classmethod
        def parse(cls, options: dict[str, object], now: float, account: str | None) -> Rule:
            count = options.get("count", 1)
            assert isinstance(count, int)
            return cls(account=account, remaining=count)

        def shape(self, job: Job, plan: Plan) -> None:
            plan.status = 418
            plan.marks.append("chaos:teapot")
            self.use()

    assert engine.apply({"teapot": {"count": 1}}, [], []) == {"Installed": "teapot"}
    assert engine.plan(_hook(), job()).status == 418
    assert engine.plan(_hook(), job()).status is None  # used up
