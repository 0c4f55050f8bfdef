"""Share links: keyed tokens, kind and id checked, hardened HTML; secrets compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from envoice_mock.config import Settings
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.spec import Spec

from .helpers import client_of


def first_invoice_link(c: TestClient) -> tuple[int, str]:
    """(id, share link) of the newest invoice."""
    invoice = c.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"]
    return invoice, c.get("/api/invoice/uri", params={"id": invoice}).json()["Link"]


def token_for(settings: Settings, spec: Spec, secret: str) -> str:
    """The AccessToken of the newest invoice of account `k` with this secret."""
    runtime = build_runtime(settings.with_(accounts=(("k", secret),)), spec=spec)
    account = runtime.store.accounts["k"]
    return str(max(account.table("invoice").values(), key=lambda r: r["Id"])["AccessToken"])


def test_tokens_are_keyed_by_the_account_secret(settings: Settings, spec: Spec) -> None:
    one, again, other = (token_for(settings, spec, s) for s in ("secret-a", "secret-a", "secret-b"))
    assert one == again  # deterministic for a seed and a secret
    assert one != other  # unknowable without the secret
    account = build_runtime(settings.with_(accounts=(("k", "secret-a"),)), spec=spec).store.accounts["k"]
    newest = max(account.table("invoice"))
    public = hashlib.blake2b(f"{settings.seed}:k:invoice:{newest}".encode(), digest_size=16).hexdigest()
    assert one != public


def test_a_share_link_opens_with_its_own_kind_and_id_only(client: TestClient) -> None:
    _, link = first_invoice_link(client)
    parts = urlsplit(link)
    query = parse_qs(parts.query)
    token, opaque = query["token"][0], query["id"][0]
    assert client.get(f"{parts.path}?{parts.query}&preview=1").status_code == 200
    for path, params in [
        ("/whatever/shared", {"token": token, "id": opaque}),
        ("/estimation/shared", {"token": token, "id": opaque}),
        ("/order/pdf", {"token": token, "id": opaque}),
        ("/invoice/shared", {"token": token, "id": "0" * len(opaque)}),
        ("/invoice/shared", {"token": token}),
    ]:
        response = client.get(path, params={**params, "preview": "1"})
        assert response.status_code == 404, (path, params)


def test_html_pages_carry_a_content_security_policy(client: TestClient) -> None:
    _, link = first_invoice_link(client)
    response = client.get(link + "&preview=1")
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get("/api/invoice/all").headers["x-content-type-options"] == "nosniff"


def test_api_secrets_are_compared_in_constant_time(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert runtime.store.authenticate("sandbox-key", "wrong") is None
    assert runtime.store.authenticate("sandbox-key", "sandbox-secret") is not None
    assert len(seen) == 2


def test_share_links_survive_a_restart(tmp_path: Any, settings: Settings, spec: Spec) -> None:
    on_file = settings.with_(state_file=tmp_path / "s.sqlite")
    with client_of(build_runtime(on_file, spec=spec)) as c:
        _, link = first_invoice_link(c)
    with client_of(build_runtime(on_file, spec=spec)) as c:
        assert c.get(link + "&preview=1").status_code == 200
