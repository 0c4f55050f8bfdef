"""The control plane never answers 500: every bad input gets the fault envelope."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from envoice_mock.config import SettingsError, parse_duration
from envoice_mock.runtime.wiring import Runtime

BODIES = [
    None,
    b"",
    b"[]",
    b"x",
    b'"s"',
    b"5",
    b'{"seconds":"abc"}',
    b'{"seconds":-5}',
    b'{"seconds":true}',
    b'{"seconds":1e400}',
    b'{"duration":"3x"}',
    b'{"Url":5}',
    b'{"Url":"http://"}',
    b'{"max":"x"}',
    b'{"gateway":5}',
    b'{"gateway":"nope"}',
    b'{"amount":"x"}',
    b'{"amount":-1}',
    b'{"amount":1e308}',
    b'{"fail":5}',
    b'{"replay":{"last":0}}',
    b'{"target":"http://127.0.0.1:9/x","seed":"x"}',
]


def test_every_control_post_survives_garbage(client: TestClient, runtime: Runtime) -> None:
    invoice = next(iter(runtime.store.accounts["sandbox-key"].table("invoice")))
    paths = [
        "/_mock/clock/advance",
        "/_mock/webhooks",
        "/_mock/deliveries/settle",
        "/_mock/deliveries/idle",
        "/_mock/chaos",
        f"/_mock/invoice/{invoice}/pay",
        f"/_mock/invoice/{invoice}/mark-paid",
        f"/_mock/invoice/{invoice}/view",
        "/_mock/invoice/1/pay",
        "/_mock/order/5/view",
        f"/_mock/invoice/{invoice}/explode",
        "/_mock/scenarios/invoice-lifecycle/run",
        "/_mock/scenarios/..%2Fetc/run",
    ]
    for path in paths:
        for body in BODIES:
            for media in ("application/json", "application/x-www-form-urlencoded"):
                r = client.post(path, content=body, headers={"content-type": media})
                assert r.status_code < 500, (path, body, r.text)
                if r.status_code >= 400:
                    assert r.json()["IsFaulted"] is True, (path, body, r.text)
    assert client.get("/_mock/clock").json()["Now"].startswith("2024-03-01")  # nothing moved time absurdly


@pytest.mark.parametrize(
    "path",
    [
        "/_mock/deliveries?activity=x",
        "/_mock/activities?since=x",
        "/invoice/shared?token=x",
        "/invoice/pdf",
        "/_mock/scenarios/runs/x",
        "/_mock/webhooks/nope",
    ],
)
def test_control_reads_fail_cleanly(client: TestClient, path: str) -> None:
    r = client.delete(path) if path.startswith("/_mock/webhooks/") else client.get(path)
    assert 400 <= r.status_code < 500 and r.json()["IsFaulted"] is True


@pytest.mark.parametrize("bad", ["1e400", float("inf"), float("nan"), "-1s", "200y", 10**12])
def test_durations_must_be_finite_and_sane(bad: object) -> None:
    with pytest.raises(SettingsError):
        parse_duration(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "media", "code"),
    [
        (b"[" * 50_000 + b"]" * 50_000, "application/json", "MalformedJson"),
        (b"<a>" * 5_000 + b"</a>" * 5_000, "application/xml", "MalformedXml"),
        (
            b'<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;'
            b'&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">'
            b'<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">]><r><Name>&g;</Name></r>',
            "application/xml",
            "MalformedXml",
        ),
    ],
)
def test_hostile_bodies_are_400(client: TestClient, body: bytes, media: str, code: str) -> None:
    r = client.post("/api/client/new", content=body, headers={"content-type": media})
    assert r.status_code == 400 and r.json()["ErrorMessages"][0]["Code"] == code
