"""`GET /_mock/requests`: every API call of an account, redacted, newest first, filtered, paged."""

from __future__ import annotations

from starlette.testclient import TestClient

from envoice_mock.pytest_plugin import MockAccount
from tests.helpers import AUTH


def invoice_id(client: TestClient) -> int:
    return int(client.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"])


def journal(client: TestClient, **params: object) -> dict:
    answer = client.get("/_mock/requests", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_call_is_journaled_with_its_body_and_secrets_redacted(client: TestClient) -> None:
    iid = invoice_id(client)
    client.post("/api/invoice/sendtoclient", json={"Id": iid, "Message": "hi"}).raise_for_status()
    page = journal(client, method="POST")
    assert page["TotalCount"] == 1
    (entry,) = page["Result"]
    assert entry["Path"] == "/api/invoice/sendtoclient" and entry["Status"] == 200
    assert entry["Json"] == {"Id": iid, "Message": "hi"}
    assert entry["Headers"]["x-auth-key"] == "sandbox-key"
    assert entry["Headers"]["x-auth-secret"] == "<redacted>"
    assert "sandbox-secret" not in str(entry)
    assert entry["DurationMs"] >= 0 and entry["Response"] == str(iid)


def test_entries_are_timed_on_the_account_clock(client: TestClient) -> None:
    client.post("/_mock/clock/advance", json={"duration": "1d"}).raise_for_status()
    client.get("/api/tax/all")
    assert journal(client)["Result"][0]["At"].startswith("2024-03-02T12:00:00")


def test_newest_first_with_query_and_status(client: TestClient) -> None:
    client.get("/api/invoice/details", params={"id": 1})  # 404
    client.get("/api/invoice/all", params={"pageSize": 2})
    rows = journal(client)["Result"]
    assert [r["Path"] for r in rows] == ["/api/invoice/all", "/api/invoice/details"]
    assert rows[0]["Query"] == {"pageSize": "2"} and rows[1]["Status"] == 404


def test_filters_by_method_path_glob_and_status_class(client: TestClient) -> None:
    iid = invoice_id(client)
    client.post("/api/invoice/sendtoaccountant", json={"Id": iid})
    client.post("/api/client/new", json={})  # 400
    client.get("/API/Invoice/Status/", params={"id": iid})
    assert journal(client, path="/api/invoice/status")["TotalCount"] == 1  # case and slash as routing
    assert journal(client, path="/api/invoice/*")["TotalCount"] == 3
    assert journal(client, status="4xx")["Result"][0]["Path"] == "/api/client/new"
    assert journal(client, method="post", status="200")["TotalCount"] == 1


def test_paging_and_since(client: TestClient) -> None:
    for n in range(5):
        client.get("/api/tax/all", params={"n": n})
    first = journal(client, pageSize=2)
    second = journal(client, pageSize=2, page=2)
    assert first["TotalCount"] == 5 and first["Count"] == 2
    assert [r["Query"]["n"] for r in first["Result"] + second["Result"]] == ["4", "3", "2", "1"]
    newer = journal(client, since=first["Result"][0]["Id"] - 2)
    assert [r["Query"]["n"] for r in newer["Result"]] == ["4", "3"]


def test_bad_filters_are_400_in_the_fault_envelope(client: TestClient) -> None:
    for params in ({"status": "abc"}, {"page": "0"}, {"pageSize": "-1"}, {"since": "x"}):
        answer = client.get("/_mock/requests", params=params)
        assert answer.status_code == 400 and answer.json()["IsFaulted"] is True, params


def test_unauthenticated_calls_control_calls_and_the_dashboard_are_not_journaled(client: TestClient) -> None:
    client.get("/api/invoice/all", headers={"x-auth-secret": "wrong"})
    client.get("/_mock/webhooks")
    client.get("/api/invoice/all", headers={"x-envoice-mock-ui": "1"})
    assert journal(client)["TotalCount"] == 0
    assert client.get("/_mock/requests", headers={"x-auth-key": "", "x-auth-secret": ""}).status_code == 401


def test_accounts_see_only_their_own_calls(runtime) -> None:  # type: ignore[no-untyped-def]
    from envoice_mock.api.app import create_app

    runtime.store.add_account("other-key", "other-secret")
    with TestClient(create_app(runtime=runtime)) as c:
        c.get("/api/tax/all", headers=AUTH)
        other = {"x-auth-key": "other-key", "x-auth-secret": "other-secret"}
        assert c.get("/_mock/requests", headers=other).json()["TotalCount"] == 0
        assert c.get("/_mock/requests", headers=AUTH).json()["TotalCount"] == 1


def test_the_journal_is_bounded(client: TestClient, runtime) -> None:  # type: ignore[no-untyped-def]
    from envoice_mock.api.live import install

    install(runtime).journal.limit = 3
    runtime.extras["live"].journal._entries.clear()
    for _ in range(5):
        client.get("/api/tax/all")
    page = journal(client)
    assert page["TotalCount"] == 3 and page["Result"][0]["Id"] == 5


def test_clearing_keeps_ids_counting(client: TestClient) -> None:
    client.get("/api/tax/all")
    assert client.delete("/_mock/requests").status_code == 200
    client.get("/api/tax/all")
    assert [r["Id"] for r in journal(client)["Result"]] == [2]


def test_the_plugin_asserts_calls_like_wiremock_verify(envoice: MockAccount) -> None:
    invoice = envoice.client.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]
    envoice.client.post("/api/invoice/sendtoclient", json={"Id": invoice["Id"]}).raise_for_status()
    (call,) = envoice.requests(method="POST", path="/api/invoice/sendtoclient")
    assert call["Json"] == {"Id": invoice["Id"]} and call["Status"] == 200
    assert len(envoice.requests()) == 2 and envoice.requests(status="4xx") == []


def test_a_refused_body_with_unstorable_text_can_still_be_read_back(client: TestClient) -> None:
    for raw in (b'{"Title":"\\ud800"}', b'{"Title":"a\\u0000b"}', b'{"Ti\\udfff":"x"}'):
        refused = client.post("/api/worktype/new", content=raw, headers={"content-type": "application/json"})
        assert refused.status_code == 400
        entry = journal(client, pageSize=1)["Result"][0]
        assert entry["Status"] == 400
        assert entry["Body"] == raw.decode()
        assert entry["Json"] is None  # what cannot be stored is not shown parsed either
