"""More hostile requests against the hot path (api/operations.py and the caches behind it): each
test failed before its fix."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.runtime.wiring import Runtime

from .helpers import AUTH

CLIENT = (
    b'{"Name": "Late", "Email": "a@example.com", "ClientCurrencyId": 170, '
    b'"ClientCountryId": 235, "UiLanguageId": 1}'
)


def scope_of(method: str, path: str, query: bytes = b"", *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    """An ASGI http scope with the default account's credentials."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in AUTH.items()] + list(headers),
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


async def call(
    app: Any, scope: dict[str, Any], body: bytes = b"", gate: asyncio.Event | None = None
) -> tuple[int, bytes]:
    """Run one request through the ASGI app; its body waits for `gate` when one is given."""
    answer: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        if gate is not None:
            await gate.wait()
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] = answer.get("body", b"") + message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


def test_a_write_whose_body_arrives_after_a_reset_lands_in_the_account_as_it_is_now(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)
    json_type = (b"content-type", b"application/json")

    async def scenario() -> tuple[int, bytes, int, bytes]:
        gate = asyncio.Event()
        upload = asyncio.create_task(
            call(app, scope_of("POST", "/api/client/new", b"", json_type), CLIENT, gate)
        )
        await asyncio.sleep(0)  # the write has authenticated and waits for its body
        reset = await call(app, scope_of("POST", "/_mock/reset"))
        assert reset[0] == 200
        gate.set()
        status, body = await upload
        new_id = body.decode()
        details = await call(app, scope_of("GET", "/api/client/details", f"id={new_id}".encode()))
        return status, body, *details

    created, new_id, found, details = asyncio.run(scenario())
    assert created == 200, new_id
    assert found == 200, details  # was 404: the client went to the account the reset threw away
    assert b'"Late"' in details
    assert runtime.errors == []


def test_a_payment_whose_body_arrives_after_a_reset_is_not_taken_on_the_thrown_away_account(
    runtime: Runtime,
) -> None:
    app = create_app(runtime=runtime)
    old = runtime.store.accounts["sandbox-key"]
    unpaid = next(i for i, row in old.table("invoice").items() if row["Status"] in ("Unpaid", "Overdue"))
    json_type = (b"content-type", b"application/json")

    async def scenario() -> tuple[int, bytes]:
        gate = asyncio.Event()
        path = f"/_mock/invoice/{unpaid}/pay"
        paying = asyncio.create_task(call(app, scope_of("POST", path, b"", json_type), b"{}", gate))
        await asyncio.sleep(0)  # the payment has authenticated and waits for its body
        assert (await call(app, scope_of("POST", "/_mock/reset")))[0] == 200
        gate.set()
        return await paying

    status, body = asyncio.run(scenario())
    fresh = runtime.store.accounts["sandbox-key"]
    assert fresh is not old
    assert unpaid not in fresh.table("invoice")
    assert status == 404, body  # was 200: paid on the account the reset threw away
    assert runtime.errors == []


def test_a_webhook_whose_body_arrives_after_a_reset_gets_an_id_of_its_own(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)
    json_type = (b"content-type", b"application/json")

    async def scenario() -> list[Any]:
        gate = asyncio.Event()
        first = b'{"Url": "http://127.0.0.1:9/first"}'
        late = asyncio.create_task(
            call(app, scope_of("POST", "/_mock/webhooks", b"", json_type), first, gate)
        )
        await asyncio.sleep(0)  # the registration has authenticated and waits for its body
        assert (await call(app, scope_of("POST", "/_mock/reset")))[0] == 200
        gate.set()
        answers = [await late]
        second = b'{"Url": "http://127.0.0.1:9/second"}'
        answers.append(await call(app, scope_of("POST", "/_mock/webhooks", b"", json_type), second))
        answers.append(await call(app, scope_of("GET", "/_mock/webhooks")))
        return answers

    (s1, _), (s2, _), (listed, hooks) = asyncio.run(scenario())
    assert (s1, s2, listed) == (201, 201, 200)
    # Both stay registered: the second was given the first's id and replaced it.
    assert b"/first" in hooks and b"/second" in hooks, hooks


def test_a_form_field_nested_past_the_recursion_limit_is_a_400_not_a_crash(client: TestClient) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    for depth in (65, 3000):
        body = ("Name" + "[a]" * depth + "=x").encode()
        response = client.post("/api/client/new", content=body, headers=form)
        assert response.status_code == 400, response.text[:300]  # was a 500 (RecursionError) at 3000
        assert response.json()["ErrorMessages"][0]["Code"] == "MalformedBody"
    shallow = client.post("/api/client/new", content=b"Name[a]=x", headers=form)
    assert shallow.status_code == 400
    assert shallow.json()["ErrorMessages"][0]["Code"] != "MalformedBody"  # deep enough is read


def test_the_journal_of_a_deeply_nested_body_reads_back_as_xml_too(client: TestClient) -> None:
    # Unknown fields are ignored, so this call is accepted; its journal entry must still be readable.
    deep = b'{"a":' * 600 + b"1" + b"}" * 600
    body = CLIENT[:-1] + b', "Extra": ' + deep + b"}"
    assert (
        client.post("/api/client/new", content=body, headers={"content-type": "text/json"}).status_code == 200
    )
    as_json = client.get("/_mock/requests", params={"pageSize": 1})
    as_xml = client.get("/_mock/requests", params={"pageSize": 1}, headers={"accept": "application/xml"})
    assert as_xml.status_code == 200, as_xml.text[:300]  # was a 500: the XML encoder's recursion ran out
    assert as_json.status_code == 200
    entry = as_json.json()["Result"][0]
    assert entry["Body"] == body.decode() and entry["Json"] is None  # shown as text, not parsed
