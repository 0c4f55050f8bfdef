"""The dashboard's server side: who sees which account, the page's data, live scenario runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.api.ui import COOKIE, encode_cookie, is_loopback
from envoice_mock.runtime.wiring import Runtime


@pytest.fixture
def public(runtime: Runtime) -> Iterator[TestClient]:
    """The app as if the server listened beyond loopback."""
    runtime.settings = runtime.settings.with_(host="0.0.0.0")
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


def test_root_leads_to_the_dashboard(client: TestClient) -> None:
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["location"] == "/_mock/ui"


def test_on_loopback_the_default_account_needs_no_credentials(client: TestClient) -> None:
    page = client.get("/_mock/ui", headers={"x-auth-key": "", "x-auth-secret": ""})
    assert page.status_code == 200 and 'data-key="sandbox-key"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("dashboard.js", "dashboard.css", "favicon.svg"):
        assert client.get(f"/_mock/ui/static/{asset}").status_code == 200


def test_beyond_loopback_the_form_is_required(public: TestClient) -> None:
    page = public.get("/_mock/ui")
    assert page.status_code == 200 and 'action="/_mock/ui/signin"' in page.text
    assert "sandbox-secret" not in page.text


def test_the_switch_form_keeps_the_account_in_a_cookie(public: TestClient) -> None:
    answer = public.post(
        "/_mock/ui/signin",
        content="key=sandbox-key&secret=sandbox-secret",
        follow_redirects=False,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 303 and COOKIE in answer.headers["set-cookie"]
    assert "httponly" in answer.headers["set-cookie"].lower()
    page = public.get("/_mock/ui")
    assert 'data-key="sandbox-key"' in page.text
    public.post("/_mock/ui/signout")
    assert 'action="/_mock/ui/signin"' in public.get("/_mock/ui").text


def test_wrong_credentials_and_foreign_origins_are_refused(public: TestClient) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    wrong = public.post("/_mock/ui/signin", content="key=sandbox-key&secret=nope", headers=form)
    assert wrong.status_code == 401 and "do not match" in wrong.text
    foreign = public.post(
        "/_mock/ui/signin",
        content="key=sandbox-key&secret=sandbox-secret",
        headers=form | {"origin": "http://evil.example"},
    )
    assert foreign.status_code == 403
    public.cookies.set(COOKIE, encode_cookie("sandbox-key", "stale"))
    assert public.get("/_mock/ui").status_code == 401
    public.cookies.set(COOKIE, "%%%not-base64")
    assert 'action="/_mock/ui/signin"' in public.get("/_mock/ui").text


def test_loopback_detection() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "localhost", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.0.2.1", "example.com"))


def test_the_state_snapshot_has_what_the_page_draws(client: TestClient) -> None:
    client.post("/_mock/webhooks", json={"Url": "http://127.0.0.1:9/hook"}).raise_for_status()
    state = client.get("/_mock/ui/state").json()
    assert state["Account"] == "sandbox-key" and state["Webhooks"][0]["Url"].endswith(":9/hook")
    assert state["Activities"] and state["Clock"]["Now"].startswith("2024-03-01")
    assert isinstance(state["LastEventId"], int)
    assert client.get("/_mock/ui/state", headers={"x-auth-secret": "x"}).status_code == 401


def test_live_scenario_runs_validate_their_input(client: TestClient) -> None:
    assert client.post("/_mock/ui/scenarios/invoice-lifecycle/run", json={}).status_code == 400
    assert client.post("/_mock/ui/scenarios/../etc/run", json={"target": "http://x/"}).status_code == 404
    missing = client.post("/_mock/ui/scenarios/no-such-thing/run", json={"target": "http://127.0.0.1:9/"})
    assert missing.status_code == 404
    assert client.get("/_mock/ui/runs/live_nope").status_code == 404


def test_delivery_detail_of_an_unknown_attempt_is_404(client: TestClient) -> None:
    answer = client.get("/_mock/deliveries/not-an-id")
    assert answer.status_code == 404 and answer.json()["IsFaulted"] is True


def test_every_dashboard_asset_ships_in_the_wheel() -> None:
    """Each file under templates/ and static/ matches a package-data pattern (no CDN: the wheel
    carries them all), and each asset a template names exists."""
    import fnmatch
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    package = root / "envoice_mock"
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "envoice_mock"
    ]
    web = package / "api"
    files = [p.relative_to(package).as_posix() for d in ("templates", "static") for p in (web / d).iterdir()]
    assert files and all(any(fnmatch.fnmatch(f, pat) for pat in patterns) for f in files), files
    for template in (web / "templates").glob("*.html"):
        for asset in re.findall(r'"/_mock/ui/static/([^"]+)"', template.read_text()):
            assert (web / "static" / asset).is_file(), (template.name, asset)
