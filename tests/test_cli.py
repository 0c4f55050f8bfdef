"""The command line as a person meets it: --version, one-line start-up errors, logs, the banner."""

from __future__ import annotations

import json
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from envoice_mock.config import DEFAULT_FIXTURES, Settings

from .helpers import cli, started, wait_for_output

SERVE = (sys.executable, "-m", "envoice_mock", "serve", "--port", "0")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def assert_one_line_error(result: object, *expected: str) -> str:
    """Exit status 2, one line on stderr naming what is wrong, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr  # type: ignore[attr-defined]
    for text in expected:
        assert text in lines[0]
    return str(lines[0])


def test_version_from_the_command_and_the_module() -> None:
    from envoice_mock import __version__

    assert cli("--version").stdout.strip() == f"envoice-mock {__version__}"


def test_a_port_in_use_names_the_address_and_suggests_port_0(taken_port: int) -> None:
    for command in ("serve", "sink"):
        result = cli(command, "--port", str(taken_port))
        assert_one_line_error(result, f"127.0.0.1:{taken_port}", "already in use", "--port 0")


def test_a_host_that_is_not_this_machine_is_one_line() -> None:
    # 203.0.113.0/24 is reserved for documentation: binding to it fails locally, nothing is sent.
    assert_one_line_error(
        cli("serve", "--host", "203.0.113.7", "--port", "0"), "203.0.113.7", "not an address"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("serve", "--retry-schedule", "fast"), "not a duration: 'fast' (use e.g. 30s, 5m, 2h, 3d)"),
        (("serve", "--probe-interval", "-5s"), "--probe-interval"),
        (
            ("serve", "--port", "eighty"),
            "a port is a number from 0 to 65535 (0 picks a free one), got 'eighty'",
        ),
        (("serve", "--clock-start", "yesterday"), "not an ISO-8601 instant: 'yesterday'"),
        (("serve", "--account", "nocolon"), "an account is KEY:SECRET"),
        (("sink", "--fail-for", "soon"), "not a duration: 'soon'"),
        (("sink", "--fail-status", "42"), "an HTTP status is a number from 100 to 599, got '42'"),
        (
            ("scenario", "run", "invoice-lifecycle", "--target", "x", "--seed", "one"),
            "a seed is a whole number, got 'one'",
        ),
    ],
)
def test_bad_flag_values_keep_the_explanation(args: tuple[str, ...], expected: str) -> None:
    line = assert_one_line_error(cli(*args), expected)
    assert "invalid" not in line  # not argparse's bare "invalid parse_duration value"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("ENVOICE_MOCK_DELIVERY_TIMEOUT", "fast", "not a duration"),
        ("ENVOICE_MOCK_PORT", "x", "a port is a number from 0 to 65535"),
        ("ENVOICE_MOCK_PUBLIC_URL", "localhost:8080", "a public URL is http(s)://host"),
        ("ENVOICE_MOCK_LOG_FORMAT", "xml", "log format must be 'text' or 'json'"),
    ],
)
def test_bad_environment_values_are_one_line(name: str, value: str, expected: str) -> None:
    assert_one_line_error(cli("serve", "--port", "0", env={name: value}), expected)


def test_an_ipv6_host_makes_a_bracketed_url() -> None:
    assert Settings(host="::1", port=8080).base_url == "http://[::1]:8080"


def test_missing_and_malformed_fixtures_name_the_file_and_line(tmp_path: Path) -> None:
    for command in (("serve", "--port", "0"), ("scenario", "list")):
        assert_one_line_error(
            cli(*command, "--fixtures", str(tmp_path / "nope")), "fixtures directory not found"
        )
    broken = Path(shutil.copytree(DEFAULT_FIXTURES, tmp_path / "fixtures"))
    (broken / "seed.yaml").write_text("invoices: 5\nclients: a: b\n", encoding="utf-8")
    result = cli("serve", "--port", "0", "--fixtures", str(broken))
    assert_one_line_error(result, f"{broken / 'seed.yaml'}:2: not valid YAML: mapping values are not allowed")
    (broken / "routes.yaml").write_text("- a list where a mapping belongs\n", encoding="utf-8")
    assert_one_line_error(cli("serve", "--port", "0", "--fixtures", str(broken)), str(broken), "malformed")


def test_an_unusable_state_file_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(
        cli("serve", "--port", "0", "--state-file", str(tmp_path)), "state file", str(tmp_path)
    )


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = cli("serve", "--port", "0", "--fixtures", str(tmp_path / "nope"), "--debug")
    assert result.returncode == 2 and "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("envoice-mock: fixtures directory not found")


def test_the_banner_names_what_a_person_needs(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    command = [
        *SERVE,
        "--state-file",
        str(state),
        "--clock-start",
        "2024-02-01T00:00:00Z",
        "--enum-style",
        "int",
    ]
    command += ["--webhook", "http://127.0.0.1:9/hook", "--account", "ci-key:ci-secret"]
    with started(command, r"share page +(\S+)") as (_, found):
        share = found.group(1)
        banner = found.string
        assert httpx.get(share, timeout=10).status_code == 200
    for text in (
        "listening on http://127.0.0.1:",
        "sandbox-key, ci-key",
        "http://127.0.0.1:9/hook (sandbox-key)",
        f"{state} (survives restarts)",
        "virtual, starts 2024-02-01T00:00:00Z, moves only when advanced",
        "enums       int",
        "61 operations",
    ):
        assert text in banner, banner


def test_requests_and_deliveries_are_logged_as_json_lines(closed_port: int) -> None:
    command = [
        *SERVE,
        "--log-format",
        "json",
        "--retry-schedule",
        "none",
        "--webhook",
        f"http://127.0.0.1:{closed_port}/hook",
    ]
    with started(command, r'"event": "listening".*"url": "(http://[^"]+)"') as (proc, found):
        url = found.group(1)
        auth = {"x-auth-key": "sandbox-key", "x-auth-secret": "sandbox-secret"}
        invoice = httpx.get(f"{url}/api/invoice/all", headers=auth, timeout=10).json()["Result"][0]
        httpx.post(
            f"{url}/api/invoice/sendtoaccountant", json={"Id": invoice["Id"]}, headers=auth, timeout=10
        )
        state_change = wait_for_output(proc, r'\{[^\n]*"logger": "envoice_mock.webhook"[^\n]*\}')
    lines = [json.loads(line) for line in state_change.string.splitlines() if line.startswith("{")]
    request = next(
        e for e in lines if e.get("logger") == "envoice_mock.http" and e["path"] == "/api/invoice/all"
    )
    assert (request["method"], request["status"], request["account"]) == ("GET", 200, "sandbox-key")
    assert request["ms"] >= 0 and request["level"] == "INFO"
    attempt = next(e for e in lines if e.get("logger") == "envoice_mock.delivery")
    assert attempt["attempt"] == 1 and attempt["kind"] == "live" and attempt["outcome"] == "failed"
    change = json.loads(state_change.group(0))
    assert (change["previous"], change["state"]) == ("healthy", "failing")


def test_quiet_logs_no_requests() -> None:
    with started([*SERVE, "--quiet"], r"listening on (http://\S+)") as (proc, found):
        httpx.get(f"{found.group(1)}/api/nothing", timeout=10)
        proc.terminate()
        rest = proc.communicate(timeout=10)[0].decode()
    assert "/api/nothing" not in rest


def test_a_delivery_record_the_log_cannot_read_does_not_stop_deliveries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from envoice_mock.api.serverlog import DeliveryLog

    caplog.set_level("INFO", logger="envoice_mock")
    log = DeliveryLog()
    log({"DeliveryId": "d1"})  # fields missing: logged as an error, nothing raised
    assert "could not log delivery d1" in caplog.text
    log(
        {
            "WebhookId": "wh",
            "Url": "http://127.0.0.1:1/",
            "ActivityId": 1,
            "ActivityType": "Created",
            "Attempt": 1,
            "Kind": "live",
            "StatusCode": None,
            "Error": "connection refused",
            "Outcome": "failed",
            "State": "retrying",
        }
    )
    assert "webhook wh http://127.0.0.1:1/ is now retrying (was healthy)" in caplog.text


def test_max_accounts_help_counts_every_account_as_the_limit_does() -> None:
    """The limit counts every account the server holds (sandbox-key too), so --max-accounts 2
    leaves --any-key one new account: the help must not say --any-key may create N."""
    text = " ".join(cli("serve", "--help").stdout.split())
    assert "how many accounts the server holds in all, sandbox-key included (default 5000" in text
