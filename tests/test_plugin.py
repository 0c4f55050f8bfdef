"""The pytest plugin's fixtures, used as a user would: a real server on a loopback socket."""

from __future__ import annotations

import json

import pytest

from envoice_mock.pytest_plugin import MockAccount, MockServer
from envoice_mock.sink import Sink


def test_envoice_gives_a_seeded_account(envoice: MockAccount) -> None:
    response = envoice.client.get("/api/invoice/all", params={"pageSize": 5})
    assert response.status_code == 200
    assert response.json()["Count"] == 5 and envoice.url.startswith("http://127.0.0.1:")


def test_the_server_fixture_shows_as_its_url(envoice_server: MockServer) -> None:
    """Printed, or shown by pytest -vv in a failed assertion, it is one line, not a dump of every
    fixture and model of the runtime (some 70,000 characters)."""
    assert repr(envoice_server) == f"MockServer(url={envoice_server.url!r})"


def test_a_share_link_opens_on_the_plugins_server(envoice: MockAccount) -> None:
    invoice_id = envoice.client.get("/api/invoice/all").json()["Result"][0]["Id"]
    link = envoice.client.get("/api/invoice/uri", params={"id": invoice_id}).json()["Link"]
    assert link.startswith(envoice.url + "/"), link
    assert envoice.client.get(link).status_code == 200
    details = envoice.client.get("/api/invoice/details", params={"id": invoice_id}).json()
    seeded = [a["Link"] for a in details["Activities"] if a.get("Link")]  # made by the seeding worker
    assert seeded and all(s.startswith(envoice.url + "/") for s in seeded), seeded


def test_each_test_has_its_own_account(envoice: MockAccount) -> None:
    before = envoice.client.get("/api/tax/all").json()
    envoice.client.post("/api/tax/new", json={"Name": "Only here", "Percentage": 1}).raise_for_status()
    assert len(envoice.client.get("/api/tax/all").json()) == len(before) + 1


def test_each_test_has_its_own_account_too(envoice: MockAccount) -> None:
    assert all(t["Name"] != "Only here" for t in envoice.client.get("/api/tax/all").json())


def test_envoice_sink_receives_signed_deliveries(envoice: MockAccount, envoice_sink: Sink) -> None:
    invoice_id = envoice.client.get("/api/invoice/all").json()["Result"][0]["Id"]
    envoice.client.post("/api/invoice/sendtoaccountant", json={"Id": invoice_id}).raise_for_status()
    arrival = envoice_sink.wait_count(1)[0]
    assert arrival["SignatureValid"] is True
    assert json.loads(arrival["Body"])["Activity"]["InvoiceId"] == invoice_id


def test_server_errors_surface_in_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_breaks_the_mock(envoice, envoice_server, monkeypatch):
            def boom(*args, **kwargs):
                raise RuntimeError("kaboom")
            monkeypatch.setattr(envoice_server.runtime.store, "page", boom)
            assert envoice.client.get("/api/invoice/all").status_code == 500
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*envoice-mock failed while serving this test*", "*RuntimeError: kaboom*"])
