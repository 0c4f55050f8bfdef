"""A real server process, killed with SIGKILL in the middle of retries, loses no delivery."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from envoice_mock.sink import Behaviour, Sink

from .conftest import AUTH


class ServerProcess:
    """`envoice-mock serve` in a child process on a free port."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "envoice_mock", "serve", "--port", "0", "--log-level", "warning", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # the banner names the bound URL; reading blocks, no sleeping
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                self.url = found.group(1)
                break
        else:
            raise AssertionError("server exited before listening")
        self.output: list[str] = []
        self.drain = threading.Thread(target=lambda: self.output.extend(self.proc.stdout or []), daemon=True)
        self.drain.start()
        self.client = httpx.Client(base_url=self.url, headers=AUTH, timeout=10)
        self.client.get("/_mock/health").raise_for_status()

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        self.proc.wait(timeout=10)
        self.drain.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.client.close()

    def stop(self) -> None:
        """Terminate if still running."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self._reap()


@pytest.fixture
def failing_sink() -> Iterator[Sink]:
    """A receiver that fails until told otherwise."""
    with Sink.running(secret=AUTH["x-auth-secret"], behaviour=Behaviour(fail_first=10**6)) as sink:
        yield sink


def test_kill_9_mid_retries_then_restart_delivers_everything(tmp_path: Path, failing_sink: Sink) -> None:
    state = str(tmp_path / "state.sqlite")
    args = ("--state-file", state, "--webhook", failing_sink.url, "--retry-schedule", "0.2,60")
    server = ServerProcess(*args)
    try:
        invoice_id = server.client.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"]
        server.client.post("/api/invoice/sendtoaccountant", json={"Id": invoice_id}).raise_for_status()
        server.client.post(
            "/api/invoice/changestatus", json={"Id": invoice_id, "Status": "Void"}
        ).raise_for_status()
        owed = [a["Id"] for a in server.client.get("/_mock/activities", params={"since": 0}).json()][-2:]
        # Wait until the retry has been tried (attempt 2 failed): now a 60 s retry is pending.
        failing_sink.wait_for(lambda rs: sum(1 for r in rs if r["Attempt"] == 2) >= 2, timeout=15)
    finally:
        server.kill()
    failing_sink.state.behaviour.fail_first = 0  # the receiver recovers while the mock is down
    server = ServerProcess(*args)
    try:
        arrivals = failing_sink.wait_for(
            lambda rs: {r["ActivityId"] for r in rs if r["Answered"] == 200} >= set(owed), timeout=15
        )
        health = server.client.get(
            "/api/invoice/status", params={"id": invoice_id}, headers={"x-mock-enum-style": "string"}
        ).json()
        hooks = server.client.get("/_mock/webhooks").json()
    finally:
        server.stop()
    assert health == "Void"  # the data survived too
    delivered = [r for r in arrivals if r["Answered"] == 200]
    # Both owed activities arrive (in either order if several are in flight per webhook).
    assert sorted(json.loads(r["Body"])["Activity"]["Id"] for r in delivered[:2]) == sorted(owed)
    assert all(r["SignatureValid"] for r in delivered)
    assert hooks[0]["Url"] == failing_sink.url
