"""Test helpers shared between modules: a recording poster, a client over a runtime, bodies, and
the `envoice-mock` command run as a user would (a clean environment, output read with a deadline)."""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from envoice_mock.app import create_app
from envoice_mock.runtime import Runtime

from .conftest import AUTH


class RecordingPoster:
    """A webhook Poster that answers 200 and keeps every request's headers (no network)."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """Record and accept."""
        self.headers.append(dict(headers))
        return 200

    async def close(self) -> None:
        """Nothing to close."""


def client_of(runtime: Runtime, headers: dict[str, str] | None = None) -> TestClient:
    """An in-process client (use as a context manager: the lifespan runs)."""
    return TestClient(create_app(runtime=runtime), headers=headers or AUTH)


def worktype(c: TestClient, title: str = "Work") -> int:
    """Create a work type; its id."""
    response = c.post("/api/worktype/new", json={"Title": title})
    assert response.status_code == 200, response.text
    return int(response.json())


def snapshot(runtime: Runtime, key: str = "sandbox-key") -> Any:
    """Everything an account holds that a request could change (rows, sequences, activities)."""
    import json

    account = runtime.store.accounts[key]
    return json.dumps(
        {
            "tables": account.tables,
            "sequences": account.sequences,
            "activities": account.activities,
            "webhooks": [h.describe() for h in runtime.webhooks.hooks.get(key, {}).values()],
        },
        sort_keys=True,
        default=str,
    )


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without ENVOICE_MOCK_* variables (so a developer's shell cannot leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOICE_MOCK_")}
    env.update(extra)
    return env


def cli(
    *args: str,
    timeout: float = 60,
    cwd: Path | None = None,
    exe: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `envoice-mock ARGS` (by default `python -m envoice_mock` of this interpreter) to the end."""
    command = [*(exe or (sys.executable, "-m", "envoice_mock")), *args]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env=clean_env(**(env or {})),
    )


def wait_for_output(proc: subprocess.Popen[bytes], pattern: str, timeout: float = 30) -> re.Match[str]:
    """Read the process's output until `pattern` matches it; fail with what was seen by the deadline."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    seen = b""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            break
        seen += chunk
        found = re.search(pattern, seen.decode(errors="replace"))
        if found:
            return found
    raise AssertionError(
        f"{pattern!r} not printed within {timeout}s; output:\n{seen.decode(errors='replace')}"
    )


@contextlib.contextmanager
def started(
    command: Sequence[str], pattern: str, timeout: float = 30, cwd: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], re.Match[str]]]:
    """A long-running command, once `pattern` appeared in its output (stdout and stderr); stopped after."""
    proc = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd, env=clean_env()
    )
    try:
        yield proc, wait_for_output(proc, pattern, timeout)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
