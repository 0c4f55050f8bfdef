"""Hostile requests against the hot path: each must get the answer the careful path gives (the
fault envelope, never a plain-text 500), whatever shortcut served it. Every test here failed
before its fix."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from starlette.testclient import TestClient

from envoice_mock.api.account_factory import AccountFactory
from envoice_mock.api.app import create_app
from envoice_mock.config import Settings
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.spec import Spec

from .helpers import AUTH, raw_request

FIELDS = b'"Email": "a@example.com", "ClientCurrencyId": 170, "ClientCountryId": 235, "UiLanguageId": 1'
CLIENT = b'{"Name": "Acme", ' + FIELDS + b"}"


def post(c: TestClient, body: bytes, content_type: str, path: str = "/api/client/new") -> Any:
    """POST raw bytes with a content type; the response."""
    return c.post(path, content=body, headers={"content-type": content_type})


# --- media types -----------------------------------------------------------------------------


@pytest.mark.parametrize("media", ["application/jsonp", "application/json-seq", "application/jsonx"])
@pytest.mark.parametrize("body", [CLIENT, b'{"Name": "Acme\\u00e9", ' + FIELDS + b"}"])
def test_a_media_type_that_only_starts_like_json_is_refused_whatever_the_body(
    client: TestClient, media: str, body: bytes
) -> None:
    response = post(client, body, media)
    assert response.status_code == 415, response.text
    assert response.json()["IsFaulted"] is True


@pytest.mark.parametrize("media", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_json_with_or_without_parameters_is_read(client: TestClient, media: str) -> None:
    response = post(client, CLIENT, media)
    assert response.status_code == 200, response.text


# --- nesting ---------------------------------------------------------------------------------


def nested(depth: int, opener: bytes = b"[") -> bytes:
    """A client body whose Address holds `depth` nested lists or objects."""
    if opener == b"[":
        inner = b"[" * depth + b"]" * depth
    else:
        inner = b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)
    return b'{"Name": "Acme", ' + FIELDS + b', "Address": ' + inner + b"}"


@pytest.mark.parametrize("depth", [2, 511, 513, 900, 1000, 1023, 1030, 5000])
@pytest.mark.parametrize("opener", [b"[", b"{"])
def test_deep_nesting_gets_the_careful_answer_at_any_depth(
    client: TestClient, depth: int, opener: bytes
) -> None:
    body = nested(depth, opener)
    fast = post(client, body, "application/json")
    careful = post(client, body, "text/json")  # never takes the fast decoder
    assert fast.status_code == careful.status_code == 400
    assert fast.json() == careful.json()


# --- --any-key seeding -----------------------------------------------------------------------


@pytest.fixture
def any_key_runtime(settings: Settings, spec: Spec) -> Runtime:
    return build_runtime(settings.with_(any_key=True), spec=spec)


def test_a_seeding_that_fails_answers_the_500_fault_and_is_kept_for_the_plugin(
    any_key_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = [RuntimeError("the seeder broke")]

    async def failing_seed(self: AccountFactory, *args: Any) -> Any:
        raise failures.pop()

    original = AccountFactory._seed
    monkeypatch.setattr(AccountFactory, "_seed", failing_seed)
    headers = {"x-auth-key": "brand-new", "x-auth-secret": "s"}
    with TestClient(create_app(runtime=any_key_runtime), headers=headers, raise_server_exceptions=False) as c:
        response = c.get("/api/client/all")
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["IsFaulted"] is True
        assert "the seeder broke" in response.text
        assert any("the seeder broke" in error for error in any_key_runtime.errors)
        monkeypatch.setattr(AccountFactory, "_seed", original)
        again = c.get("/api/client/all")  # nothing was left half made: the next call seeds it
        assert again.status_code == 200, again.text


# --- repeated credentials --------------------------------------------------------------------


def test_a_repeated_key_header_means_its_first_value_for_seeding_too(any_key_runtime: Runtime) -> None:
    headers = [
        ("x-auth-key", "first-key"),
        ("x-auth-key", "second-key"),
        ("x-auth-secret", "first-secret"),
        ("x-auth-secret", "second-secret"),
    ]
    with TestClient(create_app(runtime=any_key_runtime)) as c:
        response = c.get("/api/client/all", headers=headers)
        assert response.status_code == 200, response.text
        accounts = any_key_runtime.store.accounts
        assert "first-key" in accounts and "second-key" not in accounts
        assert accounts["first-key"].secret == "first-secret"


def test_a_call_with_repeated_credentials_is_journaled_under_the_first(client: TestClient) -> None:
    headers = [("x-auth-key", AUTH["x-auth-key"]), ("x-auth-key", "someone-else")]
    response = client.delete("/api/invoice/all", headers=headers)  # a 405 goes the careful way
    assert response.status_code == 405
    entries = client.get("/_mock/requests", params={"method": "DELETE"}).json()
    assert entries["Count"] == 1
    assert entries["Result"][0]["Status"] == 405


# --- the wire, over a real socket ------------------------------------------------------------


def exchange(url: str, raw: bytes, answers: int) -> bytes:
    """Send raw bytes to the server; read until `answers` answers have come (or it closes)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        got = b""
        while got.count(b"HTTP/1.1 ") < answers:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def test_pipelined_requests_are_answered_in_order(live_server: str) -> None:
    raw = (
        raw_request("GET", "/api/general/currencies")
        + raw_request("POST", "/api/client/new", CLIENT)
        + raw_request("POST", "/api/client/new", b"{")
        + raw_request("GET", "/api/client/all")
    )
    got = exchange(live_server, raw, 4)
    statuses = [int(part[:3]) for part in got.split(b"HTTP/1.1 ")[1:]]
    assert statuses == [200, 200, 400, 200]
    assert got.count(b"x-content-type-options: nosniff") == 4


def test_expect_continue_gets_its_interim_answer_then_the_real_one(live_server: str) -> None:
    head = raw_request("POST", "/api/client/new", b"", "expect: 100-continue").replace(
        b"content-length: 0", f"content-length: {len(CLIENT)}".encode()
    )
    host, port = live_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 ")
        sock.sendall(CLIENT)
        final = read_answer(sock)
    assert final.startswith(b"HTTP/1.1 200 ")


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer (head and content-length body) from a socket."""
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(65536)
        assert chunk, f"closed mid-answer: {got!r}"
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"closed mid-body: {got!r}"
        body += chunk
    return head + b"\r\n\r\n" + body
