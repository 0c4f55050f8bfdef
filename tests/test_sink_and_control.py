"""The sink command, scenario runs through the control API, accounts declared in fixtures."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from envoice_mock.config import DEFAULT_FIXTURES, Settings
from envoice_mock.runtime.wiring import build_runtime
from envoice_mock.signing import sign
from envoice_mock.sink import Behaviour, Sink

from .helpers import client_of, frozen


def signed_body(activity_id: int, created: str, secret: str = "sandbox-secret") -> bytes:
    """A delivery body as the mock would sign it."""
    import json

    activity = {"Id": activity_id, "Type": 0, "CreatedOn": created}
    ts = "2024-01-01T00:00:00.0000000Z"
    return json.dumps(
        {"Signature": sign(secret, ts, activity), "Timestamp": ts, "Activity": activity}
    ).encode()


def test_sink_command_fails_first_then_records_and_flags() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "envoice_mock", "sink", "--port", "0", "--fail-first", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        url = re.search(r"POST (http://\S+)", banner).group(1)  # type: ignore[union-attr]
        base = url.rsplit("/", 1)[0]
        with httpx.Client(timeout=10) as http:
            assert http.post(url, content=signed_body(2, "2024-01-01T00:00:02.0000000Z")).status_code == 503
            assert http.post(url, content=signed_body(2, "2024-01-01T00:00:02.0000000Z")).status_code == 200
            assert http.post(url, content=signed_body(1, "2024-01-01T00:00:01.0000000Z")).status_code == 200
            assert http.post(url, content=signed_body(1, "2024-01-01T00:00:01.0000000Z")).status_code == 200
            assert http.post(url, content=signed_body(3, "x", secret="forged")).status_code == 401
            received = http.get(f"{base}/_sink/received").json()
        lines = [proc.stdout.readline() for _ in range(5)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
    assert [r["Answered"] for r in received] == [503, 200, 200, 200, 401]
    assert [r["OutOfOrder"] for r in received] == [False, False, True, False, False]
    assert [r["Duplicate"] for r in received] == [False, False, False, True, False]
    assert "OUT-OF-ORDER" in lines[2] and "DUPLICATE" in lines[3] and "BAD-SIGNATURE" in lines[4]


def test_sink_fail_for_a_duration() -> None:
    behaviour = Behaviour(fail_until=time.monotonic() + 60)
    assert behaviour.answer(0) == 503
    behaviour.fail_until = time.monotonic() - 1
    assert behaviour.answer(1) == 200


def test_scenario_runs_through_the_control_api() -> None:
    with Sink.running(secret="sandbox-secret") as sink, client_of(build_runtime(frozen())) as c:
        listed = c.get("/_mock/scenarios").json()
        assert {s["Name"] for s in listed} >= {"invoice-lifecycle", "duplicate-storm"}
        started = c.post("/_mock/scenarios/invoice-lifecycle/run", json={"target": sink.url, "seed": 3})
        assert started.status_code == 202
        run_id = started.json()["RunId"]
        deadline = time.monotonic() + 60
        status = c.get(f"/_mock/scenarios/runs/{run_id}").json()
        while status["Status"] == "running" and time.monotonic() < deadline:
            sink.wait_for(lambda rs: True, timeout=1)  # yields to the server thread; no fixed sleep
            status = c.get(f"/_mock/scenarios/runs/{run_id}").json()
        assert status["Status"] == "passed", status
        assert status["Report"]["seed"] == 3 and status["Report"]["ok"] is True
        assert c.get("/_mock/scenarios/runs/nope").status_code == 404
        bad = c.post("/_mock/scenarios/invoice-lifecycle/run", json={"target": "ftp://x"})
        assert bad.status_code == 400
        assert c.post("/_mock/scenarios/no-such-story/run", json={"target": sink.url}).status_code == 404


def test_accounts_and_webhooks_declared_in_fixtures(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    shutil.copytree(DEFAULT_FIXTURES, fixtures)
    with Sink.running(secret="hook-secret") as sink:
        (fixtures / "accounts.yaml").write_text(
            "accounts:\n  - key: acme\n    secret: acme-secret\n"
            f"    webhooks: [{sink.url}]\n    webhook_secret: hook-secret\n"
        )
        runtime = build_runtime(Settings(fixtures=fixtures))
        with TestClient(
            client_of(runtime).app, headers={"x-auth-key": "acme", "x-auth-secret": "acme-secret"}
        ) as c:
            hooks = c.get("/_mock/webhooks").json()
            invoice_id = c.get("/api/invoice/all").json()["Result"][0]["Id"]
            c.post("/api/invoice/sendtoaccountant", json={"Id": invoice_id})
            arrival = sink.wait_count(1)[0]
    assert [h["Url"] for h in hooks] == [sink.url] and hooks[0]["Secret"] == "hook-secret"
    assert arrival["SignatureValid"] is True


def test_a_bad_declared_webhook_stops_start_up(tmp_path: Path) -> None:
    from envoice_mock.config import SettingsError
    from envoice_mock.spec import SpecError

    fixtures = tmp_path / "fixtures"
    shutil.copytree(DEFAULT_FIXTURES, fixtures)
    (fixtures / "accounts.yaml").write_text(
        "accounts:\n  - key: a\n    secret: b\n    webhooks: [ftp://nope]\n"
    )
    with pytest.raises(SettingsError, match="ftp://nope"):
        build_runtime(Settings(fixtures=fixtures))
    (fixtures / "accounts.yaml").write_text("accounts:\n  - key: a\n")
    with pytest.raises(SpecError, match=r"accounts\.yaml: account #1: needs a key and a secret"):
        build_runtime(Settings(fixtures=fixtures))
