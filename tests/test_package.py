"""The package surface: __all__, settings from the environment, the clock, signing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import envoice_mock
from envoice_mock.clock import Clock
from envoice_mock.config import SettingsError, parse_duration, parse_retry_schedule, settings_from_env
from envoice_mock.signing import sign, standard_signature, whsec


def test_public_api_is_declared() -> None:
    assert sorted(envoice_mock.__all__) == sorted(
        [
            "Behaviour",
            "Clock",
            "Runtime",
            "Settings",
            "Sink",
            "build_runtime",
            "create_app",
            "settings_from_env",
            "sign",
            "verify_signature",
        ]
    )
    for name in envoice_mock.__all__:
        assert getattr(envoice_mock, name) is not None


def test_every_option_reads_from_the_environment() -> None:
    settings = settings_from_env(
        {
            "ENVOICE_MOCK_PORT": "9191",
            "ENVOICE_MOCK_SEED": "7",
            "ENVOICE_MOCK_ANY_KEY": "true",
            "ENVOICE_MOCK_ENUM_STYLE": "string",
            "ENVOICE_MOCK_ACCOUNTS": "a:b,c:d",
            "ENVOICE_MOCK_RETRY_SCHEDULE": "realistic",
            "ENVOICE_MOCK_PROBE_INTERVAL": "2m",
            "ENVOICE_MOCK_WEBHOOKS": "http://127.0.0.1:9/x",
        }
    )
    assert (settings.port, settings.seed, settings.any_key, settings.enum_style) == (9191, 7, True, "string")
    assert settings.accounts == (("a", "b"), ("c", "d"))
    assert settings.retry_schedule[0] == 60 and settings.probe_interval == 120
    assert settings.all_accounts[0] == ("sandbox-key", "sandbox-secret")
    assert settings_from_env({"ENVOICE_MOCK_PORT": "1"}, port=2).port == 2  # flags beat the environment


@pytest.mark.parametrize(
    "env",
    [
        {"ENVOICE_MOCK_PORT": "x"},
        {"ENVOICE_MOCK_ENUM_STYLE": "roman"},
        {"ENVOICE_MOCK_ACCOUNTS": "nocolon"},
        {"ENVOICE_MOCK_PROBE_INTERVAL": "-1"},
    ],
)
def test_bad_environment_values_are_named(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        settings_from_env(env)


def test_durations_and_schedules() -> None:
    assert parse_duration("250ms") == 0.25 and parse_duration("3d") == 259200 and parse_duration(5) == 5
    assert parse_retry_schedule("1,1") == (1, 1) and parse_retry_schedule("none") == ()
    with pytest.raises(SettingsError):
        parse_duration("soon")


def test_frozen_clock_moves_only_when_advanced() -> None:
    real = iter(range(0, 10**6, 100))  # real time races ahead; a frozen clock ignores it
    clock = Clock(datetime(2024, 1, 1, tzinfo=UTC), speed=0.0, monotonic=lambda: float(next(real)))
    assert clock.now() == datetime(2024, 1, 1, tzinfo=UTC)
    clock.advance(90)
    assert clock.now() == datetime(2024, 1, 1, 0, 1, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_signature_is_a_function_of_timestamp_and_activity() -> None:
    activity = {"Id": 1, "Message": "Fäktura bezahlt"}
    a = sign("s", "2024-01-01T00:00:00.0000000Z", activity)
    assert a == sign("s", "2024-01-01T00:00:00.0000000Z", dict(reversed(list(activity.items()))))
    assert (
        a
        != sign("s", "2024-01-01T00:00:00.0000001Z", activity)
        != sign("t", "2024-01-01T00:00:00.0000000Z", activity)
    )
    assert whsec("sandbox-secret") == "whsec_c2FuZGJveC1zZWNyZXQ="
    assert standard_signature("s", "msg_1", 1700000000, b"{}").startswith("v1,")
