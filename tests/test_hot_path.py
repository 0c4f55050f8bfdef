"""The hot path: operations served off the ASGI scope, activity logs rendered incrementally,
JSON bodies decoded by orjson when nothing needs the careful decoder. Each must answer exactly
what the slower path it replaced answers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.api.codecs import _decode
from envoice_mock.domain.schema import LogMemo, Renderer
from envoice_mock.faults import ApiFault
from envoice_mock.inputs import NOT_FAST, check_text, loads_fast
from envoice_mock.retention import Retention
from envoice_mock.runtime.wiring import Runtime
from envoice_mock.spec import Spec
from tests.helpers import AUTH, new_invoice

# --- operations off the scope ---------------------------------------------------------------


def test_head_is_answered_as_get_without_a_body(client: TestClient) -> None:
    got = client.get("/api/general/currencies")
    head = client.head("/api/general/currencies")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]


@pytest.mark.parametrize(
    "method, path, kwargs",
    [
        ("GET", "/api/general/currencies", {}),  # a cached read (the second call is a hit)
        ("GET", "/api/general/currencies", {}),
        ("POST", "/api/client/new", {"json": {"Name": "x"}}),  # a fault
        ("GET", "/API/Invoice/All/", {}),  # any case, a trailing slash
        ("POST", "/api/client/update", {"json": {"Id": 0}}),
    ],
)
def test_every_api_answer_says_nosniff(client: TestClient, method: str, path: str, kwargs: Any) -> None:
    response = client.request(method, path, **kwargs)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"].startswith("application/json")


def test_a_204_has_no_body_and_no_length(client: TestClient) -> None:
    cid = client.get("/api/client/all").json()[0]["Id"]
    response = client.post("/api/client/update", json={"Id": cid, "Name": "Renamed"})
    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_without_credentials_the_401_names_the_scheme(runtime: Runtime) -> None:
    with TestClient(create_app(runtime=runtime)) as c:
        response = c.get("/api/invoice/all")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'x-auth-key realm="envoice"'
    assert response.json()["IsFaulted"] is True


def test_a_wrong_method_is_still_a_405_naming_the_allowed_ones(client: TestClient) -> None:
    response = client.delete("/api/invoice/all")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["IsFaulted"] is True


def test_a_repeated_query_parameter_takes_the_last_value(client: TestClient) -> None:
    page = client.get("/api/invoice/all?pageSize=1&pageSize=3").json()
    assert page["Count"] == 3


def test_xml_is_still_answered_to_a_client_that_prefers_it(client: TestClient) -> None:
    response = client.get("/api/general/currencies", headers={"accept": "application/xml"})
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    assert response.text.startswith("<")


def test_a_client_that_leaves_before_its_body_gets_no_answer_and_changes_nothing(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)
    sent: list[dict[str, Any]] = []
    before = len(runtime.store.accounts["sandbox-key"].table("client"))

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/client/new",
        "raw_path": b"/api/client/new",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in AUTH.items()]
        + [(b"content-type", b"application/json"), (b"content-length", b"20")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    assert sent == []
    assert runtime.errors == []
    assert len(runtime.store.accounts["sandbox-key"].table("client")) == before


# --- activity logs ----------------------------------------------------------------------------


def fresh(spec: Spec, model: str, payload: Any) -> Any:
    """What a renderer that never saw `payload` renders."""
    return Renderer(spec).render(model, payload)


def test_a_long_history_renders_as_a_fresh_renderer_would(client: TestClient, spec: Spec) -> None:
    invoice = new_invoice(client, "LOG-1")
    for n in range(40):
        assert (
            client.post("/api/invoice/update", json={"Id": invoice["Id"], "Notes": f"n{n}"}).status_code < 300
        )
        shown = client.get(f"/api/invoice/details?id={invoice['Id']}").json()
        assert len(shown["Activities"]) >= n + 2
    # A refused update takes its activity back; the next one must not show it.
    refused = client.post("/api/invoice/update", json={"Id": invoice["Id"], "ClientId": 10**9})
    assert refused.status_code == 400
    client.post("/api/invoice/update", json={"Id": invoice["Id"], "Notes": "after"})
    shown = client.get(f"/api/invoice/details?id={invoice['Id']}").json()
    activities = [a for a in shown["Activities"]]
    assert len({a["Id"] for a in activities}) == len(activities)
    assert activities[-1]["Message"] == shown["Activities"][-1]["Message"]


def test_the_memo_follows_appends_take_backs_and_trims() -> None:
    rendered_calls: list[int] = []

    def render(x: dict[str, int]) -> dict[str, int]:
        rendered_calls.append(x["Id"])
        return {"Id": x["Id"], "Twice": x["Id"] * 2}

    memo = LogMemo(render, min_length=3, limit=2)
    log = [{"Id": i} for i in range(5)]
    expect = lambda: [render_plain(x) for x in log]  # noqa: E731
    assert memo(log) == expect()
    rendered_calls.clear()
    log.append({"Id": 5})
    assert memo(log) == expect()
    assert rendered_calls == [5]  # only what was appended
    log.pop()  # a failed write takes its activity back ...
    log.append({"Id": 6})  # ... and the next write appends another
    assert memo(log) == expect()
    del log[:2]  # retention drops the oldest
    assert memo(log) == expect()
    log.clear()
    assert memo(log) == []
    others = [[{"Id": 100 + j} for j in range(4)] for _ in range(3)]  # past the limit: forgotten
    for other in others:
        assert memo(other) == [render_plain(x) for x in other]
    result = memo(others[0])
    result.append("mine")  # the caller's list is its own
    assert memo(others[0]) == [render_plain(x) for x in others[0]]


def render_plain(x: dict[str, int]) -> dict[str, int]:
    return {"Id": x["Id"], "Twice": x["Id"] * 2}


def test_a_trimmed_history_renders_what_is_kept(client: TestClient, runtime: Runtime) -> None:
    invoice = new_invoice(client, "LOG-2")
    for n in range(30):
        client.post("/api/invoice/update", json={"Id": invoice["Id"], "Notes": f"n{n}"})
    before = client.get(f"/api/invoice/details?id={invoice['Id']}").json()["Activities"]
    account = runtime.store.accounts["sandbox-key"]
    Retention(keep=10).trim(account)
    account.version += 1  # what a write would do: the cached answer is stale
    after = client.get(f"/api/invoice/details?id={invoice['Id']}").json()["Activities"]
    assert after == before[-10:]


# --- JSON bodies --------------------------------------------------------------------------------


def careful(raw: bytes) -> Any:
    """What the careful decoder answers: the value, or the fault's message."""
    try:
        value = _decode(raw, "application/json")
        check_text(value)
        return ("ok", value)
    except ApiFault as fault:
        return ("fault", fault.message)


EDGE_BODIES = [
    b'{"a": 1}',
    b"null",
    b"",
    b"   ",
    b"\xef\xbb\xbf{}",
    b"NaN",
    b"1e400",
    b"-0",
    b"1.5e-400",
    b"12345678901234567890",
    b"-9223372036854775809",
    b'"\\u0000"',
    b'"\\b"',
    b'"\\ud800"',
    b'"\\ud83d\\ude00"',
    '"\U0001f600 é"'.encode(),
    b'"\xef\xbf\xbe"',
    b'{"a":"\x01"}',
    b"[" * 2000 + b"]" * 2000,
    b'{"a":1,"a":2}',
    b"\xff\xfe",
    b"[1,2,",
]


@pytest.mark.parametrize("raw", EDGE_BODIES, ids=range(len(EDGE_BODIES)))
def test_the_fast_decoder_agrees_with_the_careful_one(raw: bytes) -> None:
    fast = loads_fast(raw)
    if fast is not NOT_FAST:
        assert careful(raw) == ("ok", fast)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans())
def test_on_any_json_the_fast_decoder_agrees_or_steps_aside(value: Any, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    fast = loads_fast(raw)
    if fast is not NOT_FAST:
        kind, decoded = careful(raw)
        assert kind == "ok"
        assert decoded == fast
        assert json.dumps(decoded) == json.dumps(fast)  # same types too (1 vs 1.0)


@pytest.mark.parametrize("style", ["string", "int"])
def test_a_long_history_is_encoded_byte_for_byte_as_a_fresh_encoding(client: TestClient, style: str) -> None:
    invoice = new_invoice(client, f"LOG-{style}")
    headers = {"x-mock-enum-style": style}
    for n in range(24):
        client.post("/api/invoice/update", json={"Id": invoice["Id"], "Notes": f"é{n}"}, headers=headers)
    raw = client.get(f"/api/invoice/details?id={invoice['Id']}", headers=headers).content
    value = json.loads(raw)
    assert len(value["Activities"]) > 16
    assert raw == json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def test_subclasses_of_json_types_encode_as_their_base_types() -> None:
    from envoice_mock.api.codecs import encode_json
    from envoice_mock.domain.schema import RenderedLog
    from envoice_mock.xmlnodes import XmlText

    class Count(int):
        pass

    value = {"a": XmlText("x"), "b": Count(3), "c": RenderedLog([{"Id": 1}], None)}
    assert encode_json(value) == b'{"a":"x","b":3,"c":[{"Id":1}]}'
    assert encode_json(RenderedLog([{"Id": 1}], b'[{"Id":1}]')) == b'[{"Id":1}]'


# --- remembered views -----------------------------------------------------------------------


def test_a_remembered_view_follows_the_rows_it_joins(client: TestClient) -> None:
    invoice = new_invoice(client, "VIEW-1")
    shown = lambda: client.get(f"/api/invoice/details?id={invoice['Id']}").json()  # noqa: E731
    listed = lambda: next(  # noqa: E731
        i for i in client.get("/api/invoice/all?pageSize=100").json()["Result"] if i["Id"] == invoice["Id"]
    )
    assert shown()["Client"]["Name"] == "Hook Ltd"
    assert listed()["Client"]["Name"] == "Hook Ltd"
    client_id = shown()["Client"]["Id"]
    assert client.post("/api/client/update", json={"Id": client_id, "Name": "Renamed Ltd"}).status_code == 204
    assert shown()["Client"]["Name"] == "Renamed Ltd"
    assert listed()["Client"]["Name"] == "Renamed Ltd"


def test_a_remembered_view_follows_the_row_and_its_activity_log(client: TestClient) -> None:
    invoice = new_invoice(client, "VIEW-2")
    before = client.get(f"/api/invoice/details?id={invoice['Id']}").json()
    client.get(f"/api/invoice/uri?id={invoice['Id']}")  # no change to the row; none to its log either
    client.post("/api/invoice/changestatus", json={"Id": invoice["Id"], "Status": "Paid"})
    after = client.get(f"/api/invoice/details?id={invoice['Id']}").json()
    assert after["Status"] == "Paid"
    assert len(after["Activities"]) > len(before["Activities"])
    assert after["Payments"]


def test_remembered_views_are_kept_apart_by_enum_style(client: TestClient) -> None:
    invoice = new_invoice(client, "VIEW-3")
    as_text = client.get(f"/api/invoice/details?id={invoice['Id']}").json()
    as_int = client.get(
        f"/api/invoice/details?id={invoice['Id']}", headers={"x-mock-enum-style": "int"}
    ).json()
    assert isinstance(as_text["Status"], str)
    assert isinstance(as_int["Status"], int)
    again = client.get(f"/api/invoice/details?id={invoice['Id']}").json()
    assert again == as_text


def test_a_reset_account_forgets_its_remembered_views(client: TestClient) -> None:
    invoice = new_invoice(client, "VIEW-4")
    client.post("/api/invoice/update", json={"Id": invoice["Id"], "Notes": "changed"})
    assert client.get(f"/api/invoice/details?id={invoice['Id']}").json()["Notes"] == "changed"
    client.post("/_mock/reset")
    gone = client.get(f"/api/invoice/details?id={invoice['Id']}")
    assert gone.status_code == 404


def test_a_remembered_view_is_encoded_once_and_answers_the_same_bytes(client: TestClient) -> None:
    from envoice_mock.api.codecs import encode_json
    from envoice_mock.api.views import RenderedView

    view = RenderedView({"Id": 1, "Name": "é", "Items": [{"Cost": 1.5}]})
    assert view.json is None
    first = encode_json({"Result": [view, view]})
    assert view.json == b'{"Id":1,"Name":"\xc3\xa9","Items":[{"Cost":1.5}]}'
    assert first == b'{"Result":[' + view.json + b"," + view.json + b"]}"
    page = client.get("/api/invoice/all?pageSize=5")
    again = client.get("/api/invoice/all?pageSize=5", headers={"accept": "application/json, */*"})
    assert page.content == again.content  # the second answer is built from remembered views
    assert json.loads(page.content) == json.loads(json.dumps(page.json()))
    as_xml = client.get("/api/invoice/all?pageSize=5", headers={"accept": "application/xml"})
    assert as_xml.text.count("<Item>") >= 5
