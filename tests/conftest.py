"""Shared fixtures: settings pinned to a frozen clock, an in-process app, auth headers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  (see below)
import pytest
from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.config import DEFAULT_FIXTURES, Settings
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.spec import Spec, load_spec

from .helpers import AUTH, START

pytest_plugins = ("pytester",)  # tests of our own pytest plugin run inner pytest sessions
# httpcore is imported here, before any inner session: pytester drops the modules first imported
# inside one, and httpx keeps a map of httpcore's exception classes from its first request. Had
# that request been made in an inner session, a later httpcore.ReadTimeout (a new class) would
# escape httpx's mapping unconverted (test_scenario_cli's timeout test failed after test_plugin's).

REFERENCE = Path(__file__).resolve().parent.parent.parent / "shared" / "reference"


@pytest.fixture
def settings() -> Settings:
    """Deterministic settings: fixed seed, a frozen clock at START, enums by name (the tests that
    use these settings assert names; the int default has its own tests)."""
    return Settings(
        clock_start=START, clock_speed=0.0, retry_schedule=(1, 2, 4), probe_interval=10.0, enum_style="string"
    )


@pytest.fixture(scope="session")
def spec() -> Spec:
    """The shipped fixtures, read once per session."""
    return load_spec(DEFAULT_FIXTURES)


@pytest.fixture
def runtime(settings: Settings, spec: Spec) -> Runtime:
    """A freshly seeded runtime."""
    return build_runtime(settings, spec=spec)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """An in-process client (lifespan run) with the default account's auth headers."""
    with TestClient(create_app(runtime=runtime), headers=AUTH) as c:
        yield c


@pytest.fixture
def openapi() -> dict[str, Any]:
    """The real service's OpenAPI description (skips where ../shared is absent)."""
    path = REFERENCE / "envoice-openapi.json"
    if not path.exists():
        pytest.skip(f"reference spec not found at {path} (CI keeps ../shared beside the checkout)")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def live_socket() -> Iterator[socket.socket]:
    """A free loopback port, bound before the runtime is built (its links name this port)."""
    from envoice_mock.sink import bind_free_port

    sock = bind_free_port()
    yield sock
    sock.close()


@pytest.fixture
def live_runtime(spec: Spec, live_socket: socket.socket) -> Runtime:
    """A runtime on a frozen clock with a short retry schedule, for a real loopback server."""
    settings = Settings(
        clock_start=START,
        clock_speed=0.0,
        retry_schedule=(1, 2),
        probe_interval=5.0,
        log_level="warning",
        port=live_socket.getsockname()[1],
    )
    return build_runtime(settings, spec=spec)


@pytest.fixture
def live_server(live_runtime: Runtime, live_socket: socket.socket) -> Iterator[str]:
    """The mock on a free loopback port (lifespan run); yields its base URL."""
    from envoice_mock.api.live import close_streams
    from envoice_mock.sink import ServerThread

    server = ServerThread(create_app(runtime=live_runtime), sock=live_socket)
    server.start()
    try:
        yield server.url
    finally:
        close_streams(live_runtime)
        server.stop()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port where nothing listens (bound, never listening: connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
