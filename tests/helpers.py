"""Test helpers shared between modules: a recording poster, a client over a runtime, bodies."""

from __future__ import annotations

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
