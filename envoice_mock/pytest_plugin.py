"""The pytest plugin (entry point `pytest11`): a session-wide mock server, an account per test.

Fixtures:
    envoice_server   the running mock (session): `.url`, `.runtime`
    envoice          a fresh, isolated, seeded account for this test: `.url`, `.headers`,
                     `.key`, `.secret`, `.client` (an httpx.Client with the auth headers),
                     `.requests(method=, path=, status=)` (the API calls it made, newest first)
    envoice_sink     a webhook receiver on a free loopback port, registered to that account
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from envoice_mock.api.app import create_app
from envoice_mock.api.live import close_streams
from envoice_mock.config import Settings, data_dirs_from_env
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.sink import ServerThread, Sink, bind_free_port

_counter = itertools.count(1)


@dataclass
class MockServer:
    """A mock server running in a background thread on loopback."""

    runtime: Runtime
    server: ServerThread

    @property
    def url(self) -> str:
        """Base URL."""
        return self.server.url

    def __repr__(self) -> str:
        return f"MockServer(url={self.url!r})"  # the runtime's own repr runs to some 70,000 characters


@dataclass
class MockAccount:
    """One test's account on the session server."""

    url: str
    key: str
    secret: str
    client: httpx.Client

    @property
    def headers(self) -> dict[str, str]:
        """The x-auth-key / x-auth-secret headers."""
        return {"x-auth-key": self.key, "x-auth-secret": self.secret}

    def requests(
        self, method: str | None = None, path: str | None = None, status: int | str | None = None
    ) -> list[dict[str, Any]]:
        """The API calls this account made, newest first (the mock's request journal), filtered by
        method, path (exact, or a glob such as `/api/invoice/*`) and status (`201` or `4xx`).
        Each has Method, Path, Query, Headers (secrets redacted), Body, Json, Status, DurationMs."""
        params = {"method": method, "path": path, "status": None if status is None else str(status)}
        params = {k: v for k, v in params.items() if v is not None}
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.client.get("/_mock/requests", params={**params, "page": page, "pageSize": 500})
            answer.raise_for_status()
            data = answer.json()
            rows.extend(data["Result"])
            if len(rows) >= data["TotalCount"] or not data["Result"]:
                return rows
            page += 1


@pytest.fixture(scope="session")
def envoice_server() -> Iterator[MockServer]:
    """Start one mock (any key gets a fresh account) for the whole session.

    ENVOICE_MOCK_FIXTURES and ENVOICE_MOCK_SCENARIOS point it at a project's own folders.
    """
    sock = bind_free_port()  # first: share links and the banner name the port actually served
    settings = Settings(
        port=sock.getsockname()[1],
        any_key=True,
        retry_schedule=(0.2, 0.4),
        probe_interval=1.0,
        log_level="warning",
    ).with_(**data_dirs_from_env())  # a project's own fixtures: ENVOICE_MOCK_FIXTURES
    runtime = build_runtime(settings)
    server = ServerThread(create_app(runtime=runtime), sock=sock)
    server.start()
    try:
        yield MockServer(runtime, server)
    finally:
        close_streams(runtime)  # an event stream a test left open would hold the server up
        server.stop()


@pytest.fixture
def envoice(envoice_server: MockServer, request: pytest.FixtureRequest) -> Iterator[MockAccount]:
    """A fresh account for this test, isolated from every other test's."""
    key = f"test-{next(_counter)}-{request.node.name}"[:120]
    secret = f"secret-{key}"
    errors_before = len(envoice_server.runtime.errors)
    with httpx.Client(
        base_url=envoice_server.url, headers={"x-auth-key": key, "x-auth-secret": secret}, timeout=10.0
    ) as client:
        yield MockAccount(envoice_server.url, key, secret, client)
    new_errors = envoice_server.runtime.errors[errors_before:]
    if new_errors:  # the server thread failed: surface its traceback in the test that caused it
        pytest.fail("envoice-mock failed while serving this test:\n" + "\n".join(new_errors), pytrace=False)


@pytest.fixture
def envoice_sink(envoice: MockAccount) -> Iterator[Sink]:
    """A receiver registered as a webhook of this test's account; verifies signatures."""
    with Sink.running(secret=envoice.secret) as sink:
        response = envoice.client.post("/_mock/webhooks", json={"Url": sink.url})
        response.raise_for_status()
        yield sink
