"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

One browser for the module; each test gets a fresh mock (frozen clock, retries after 1 s and
2 s, probes every 5 s) with a verifying sink registered. Waits poll with a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from envoice_mock.sink import Sink
from tests.helpers import AUTH

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parent.parent / "docs"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One browser for this module (Playwright's sync API keeps an event loop running in this
    thread while it is open, which other modules' asyncio.run() would trip over)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a test extra")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink.running(secret="sandbox-secret") as s:
        yield s


@pytest.fixture
def api(live_server: str, sink: Sink) -> Iterator[httpx.Client]:
    """The API of the mock under the page, with the sink registered as a webhook."""
    with httpx.Client(base_url=live_server, headers=AUTH, timeout=10) as client:
        client.post("/_mock/webhooks", json={"Url": sink.url}).raise_for_status()
        yield client


@pytest.fixture
def page(browser: Any, live_server: str, api: httpx.Client) -> Iterator[Any]:
    """The dashboard, loaded and following the event stream; fails the test on console errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.problems = problems
    tab.goto(f"{live_server}/_mock/ui")
    tab.wait_for_selector("#stream-status.live", timeout=5000)
    yield tab
    context.close()
    assert problems == []


def until(check: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll `check` until it is truthy (or fail after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def marks(page: Any, kind: str, outcome: str | None = None) -> int:
    selector = f'#timeline .attempt[data-kind="{kind}"]' + (f'[data-outcome="{outcome}"]' if outcome else "")
    return int(page.locator(selector).count())


def state_text(page: Any) -> str:
    return str(page.locator("#webhooks-body .webhook-state").first.inner_text())


def first_invoice(api: httpx.Client) -> int:
    return int(api.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"])


UNLABELLED = """() => Array.from(document.querySelectorAll("input, select, button, [role=button]"))
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
    && !el.textContent.trim())
  .map((el) => el.outerHTML.slice(0, 80))"""


def test_a_write_appears_on_the_timeline_within_a_second(page: Any, api: httpx.Client) -> None:
    assert "healthy" in state_text(page)
    assert page.evaluate(UNLABELLED) == []  # every control has a name a screen reader can say
    api.post("/api/invoice/sendtoaccountant", json={"Id": first_invoice(api)}).raise_for_status()
    until(lambda: marks(page, "live", "delivered") == 1, timeout=1.0, what="the delivery on the timeline")
    until(lambda: "SentToAccountant" in page.locator("#activities").inner_text(), 1.0)
    until(lambda: "/api/invoice/sendtoaccountant" in page.locator("#requests-body").inner_text(), 1.0)


def test_an_outage_shows_retrying_failing_healthy_and_the_catch_up(
    page: Any, api: httpx.Client, sink: Sink
) -> None:
    invoice = first_invoice(api)
    page.fill("#fail-for", "1h")
    page.click("#btn-fail")
    until(lambda: "Take down: done" in page.locator("#action-result").inner_text(), what="chaos installed")
    for _ in range(3):
        api.post("/api/invoice/sendtoaccountant", json={"Id": invoice}).raise_for_status()
    until(lambda: "retrying" in state_text(page), what="retrying")
    seen = ["retrying"]
    page.fill("#advance-by", "1s")
    page.click("#btn-advance")
    until(lambda: marks(page, "retry") >= 3, what="the first retries")
    page.fill("#advance-by", "2s")
    page.click("#btn-advance")
    until(lambda: "failing" in state_text(page), what="failing")
    seen.append("failing")
    page.click("#btn-clear")  # bring it back
    until(lambda: "Bring back: done" in page.locator("#action-result").inner_text(), what="chaos cleared")
    page.fill("#advance-by", "5s")
    page.click("#btn-advance")  # the probe goes out, gets 200: healthy, then the catch-up
    until(lambda: "healthy" in state_text(page) and marks(page, "catchup", "delivered") >= 2, what="healthy")
    seen.append("healthy")
    assert seen == ["retrying", "failing", "healthy"]
    assert marks(page, "probe", "delivered") == 1
    assert page.locator("#timeline .band-failing").count() >= 1  # the outage is drawn
    # the receiver got the missed activities in chronological order after the probe
    arrivals = [r for r in sink.state.received if r.get("Status") == 200]
    ids = [r["ActivityId"] for r in arrivals[-3:]]
    assert ids == sorted(ids)
    # keyboard: focus a delivered catch-up mark, Enter opens its detail with a verifying signature
    page.locator('#timeline .attempt[data-kind="catchup"][data-outcome="delivered"]').first.focus()
    page.keyboard.press("Enter")
    until(lambda: "verifies" in page.locator("#detail").inner_text(), what="the attempt detail")
    detail = page.locator("#detail").inner_text()
    assert "webhook-signature verifies" in detail and "X-Envoice-Delivery" in detail
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "dashboard.png"), full_page=False)


def test_replay_and_a_scenario_run_can_be_started_and_watched(
    page: Any, api: httpx.Client, sink: Sink
) -> None:
    invoice = first_invoice(api)
    for _ in range(2):
        api.post("/api/invoice/sendtoaccountant", json={"Id": invoice}).raise_for_status()
    until(lambda: marks(page, "live", "delivered") == 2, what="two live deliveries")
    page.select_option("#replay-order", "reverse")
    page.fill("#replay-last", "2")
    page.click("#btn-replay")
    until(lambda: marks(page, "replay", "delivered") == 2, what="two replayed deliveries")
    page.select_option("#scenario-pick", "invoice-lifecycle")
    page.fill("#scenario-target", sink.url)
    page.click("#btn-scenario")
    until(lambda: "— run " in page.locator("#scenario-log").inner_text(), timeout=20, what="the run's end")
    log = page.locator("#scenario-log").inner_text()
    assert "scenario invoice-lifecycle" in log and "— run passed —" in log
    # the run's own webhook lane shows its deliveries (kept after the run removed its webhook)
    assert page.locator("#timeline .lane").count() >= 2


def test_switching_accounts_from_the_page(page: Any, live_server: str) -> None:
    page.click(".switch summary")
    page.fill("#switch-key", "sandbox-key")
    page.fill("#switch-secret", "wrong")
    page.click(".switch button[type=submit]")
    assert "do not match" in page.locator(".error").inner_text()
    page.problems[:] = [p for p in page.problems if "status of 401" not in p]  # the refused form


def test_the_docs_render_offline_with_auth_preset(browser: Any, live_server: str) -> None:
    context = browser.new_context()
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    outside: list[str] = []
    tab.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live_server) else None)
    tab.goto(f"{live_server}/docs")
    tab.wait_for_selector('[data-path="/api/invoice/new"]', timeout=10000)
    authorized = tab.evaluate("window.envoiceDocs.authSelectors.authorized().toJS()")
    context.close()
    assert (
        authorized["ApiKey"]["value"] == "sandbox-key"
        and authorized["ApiSecret"]["value"] == "sandbox-secret"
    )
    assert problems == [] and outside == []
