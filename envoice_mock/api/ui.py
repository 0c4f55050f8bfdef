"""The dashboard, `GET /_mock/ui` (and `/` redirects there): a server-rendered page plus a little
plain JavaScript that reads the control plane and the event stream. Every asset ships in the
package and is served from here: no CDN, no build step.

Who is watching: the account whose key and secret the viewer put in the switch form (kept in
a cookie); with no cookie, the default sandbox account, but only while the server listens on
loopback. Data calls from the page carry the account's headers like any control-plane client.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from envoice_mock.api.control import guarded, run_request, scenario_fault
from envoice_mock.api.hardening import DASHBOARD_POLICY, DOCS_POLICY
from envoice_mock.api.routing import authenticate, read_body, respond, runtime_of
from envoice_mock.faults import ApiFault

HERE = Path(__file__).resolve().parent
COOKIE = "envoice_mock_account"
SNAPSHOT_DELIVERIES = 400  # newest attempts the page starts with
SNAPSHOT_ACTIVITIES = 200


@functools.cache
def templates() -> Jinja2Templates:
    """The package's Jinja2 templates."""
    return Jinja2Templates(directory=str(HERE / "templates"))


def page_headers(allow_inline_style: bool = False) -> dict[str, str]:
    """Security headers of our HTML pages: everything from this origin only, nothing inline."""
    return {
        "Content-Security-Policy": DOCS_POLICY if allow_inline_style else DASHBOARD_POLICY,
        "Referrer-Policy": "same-origin",  # keeps the Origin header on our own forms
        "Cache-Control": "no-store",  # the page carries the account's secret
    }


def is_loopback(host: str) -> bool:
    """Whether the server listens on loopback only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def encode_cookie(key: str, secret: str) -> str:
    """The cookie value holding an account's key and secret."""
    return base64.urlsafe_b64encode(f"{key}\n{secret}".encode()).decode()


def viewer_credentials(request: Request) -> tuple[str, str] | None:
    """The key and secret from the dashboard cookie, if any (not yet checked)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        key, _, secret = base64.urlsafe_b64decode(raw.encode()).decode().partition("\n")
    except (ValueError, UnicodeDecodeError):
        return None
    return (key, secret) if key and secret else None


def _signin(request: Request, error: str | None = None, status: int = 200) -> Response:
    runtime = runtime_of(request)
    response = templates().TemplateResponse(
        request,
        "signin.html",
        {"error": error, "loopback": is_loopback(runtime.settings.host), "host": runtime.settings.host},
        status_code=status,
    )
    response.headers.update(page_headers())
    return response


async def root(request: Request) -> Response:
    """`/` leads to the dashboard."""
    return RedirectResponse("/_mock/ui", status_code=307)


async def dashboard(request: Request) -> Response:
    """The dashboard page, or the sign-in form when there is no usable account."""
    runtime = runtime_of(request)
    creds = viewer_credentials(request)
    if creds is None:
        if not is_loopback(runtime.settings.host):
            return _signin(request)
        creds = runtime.settings.all_accounts[0]
    elif runtime.store.authenticate(*creds) is None:
        return _signin(request, "That key and secret do not match an account.", 401)
    key, secret = creds
    response = templates().TemplateResponse(
        request,
        "dashboard.html",
        {
            "key": key,
            "secret": secret,
            "switched": viewer_credentials(request) is not None,
            "loopback": is_loopback(runtime.settings.host),
        },
    )
    response.headers.update(page_headers())
    return response


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def signin(request: Request) -> Response:
    """The switch form: check key and secret, keep them in a cookie, go to the dashboard."""
    if not _same_origin(request):
        return _signin(request, "The form must be sent from this server's own page.", 403)
    raw = await read_body(request, 16 * 1024)
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    key, secret = form.get("key", "").strip(), form.get("secret", "").strip()
    if not key or not secret:
        return _signin(request, "Both the key and the secret are needed.", 400)
    if runtime_of(request).store.authenticate(key, secret) is None:
        return _signin(request, "That key and secret do not match an account.", 401)
    response = RedirectResponse("/_mock/ui", status_code=303)
    response.set_cookie(COOKIE, encode_cookie(key, secret), httponly=True, samesite="strict", path="/")
    return response


async def signout(request: Request) -> Response:
    """Forget the cookie (back to the default account on loopback, or the form)."""
    response = RedirectResponse("/_mock/ui", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def state(request: Request) -> Response:
    """Everything the page starts from, with the event id to resume the stream after."""
    from envoice_mock.api.events import delivery_summary
    from envoice_mock.api.live import live_of

    account = authenticate(request)
    runtime = runtime_of(request)
    live = live_of(request)
    last_event = live.bus.last_id(account.key)
    log = deque(runtime.webhooks.log(account), maxlen=SNAPSHOT_DELIVERIES)  # the newest attempts
    deliveries = [delivery_summary(r) for r in log]
    activities = [
        runtime.webhooks.activity_payload(a) | {"TypeName": a["Type"]}
        for a in account.activities[-SNAPSHOT_ACTIVITIES:]
    ]
    known = {h["Id"] for h in runtime.webhooks.describe(account)}
    removed = sorted({r["WebhookId"]: r["Url"] for r in log if r["WebhookId"] not in known}.items())
    return respond(
        request,
        {
            "Account": account.key,
            "LastEventId": last_event,
            "Clock": runtime.clock.describe(account.key),
            "Settings": {
                "RetrySchedule": list(runtime.settings.retry_schedule),
                "ProbeInterval": runtime.settings.probe_interval,
                "DeliveryTimeout": runtime.settings.delivery_timeout,
            },
            "Webhooks": runtime.webhooks.describe(account),
            "RemovedWebhooks": [{"Id": i, "Url": u} for i, u in removed],
            "Deliveries": deliveries,
            "Activities": activities,
            "TotalActivities": len(account.activities),
        },
    )


async def live_scenario(request: Request) -> Response:
    """Run a built-in scenario on this account, live (see live_scenarios)."""
    from envoice_mock.api.live import live_of
    from envoice_mock.api.live_scenarios import start_live_run
    from envoice_mock.scenarios.errors import ScenarioError

    account = authenticate(request)
    name, target, seed = await run_request(request)
    try:
        record = start_live_run(
            request.app,
            runtime_of(request),
            live_of(request).bus,
            (account.key, account.secret),
            name,
            target,
            seed,
        )
    except ScenarioError as exc:
        raise scenario_fault(exc) from None
    return respond(request, {k: v for k, v in record.items() if k != "Log"}, 202)


async def live_scenario_status(request: Request) -> Response:
    """A live run's record (its log lines, and its expectations once it ended)."""
    account = authenticate(request)
    runs: dict[str, Any] = runtime_of(request).runs.live.get(account.key, {})
    run = runs.get(request.path_params["id"])
    if run is None:
        raise ApiFault(404, "NotFound", f"There is no scenario run {request.path_params['id']!r}.")
    return respond(request, run)


def ui_routes() -> list[BaseRoute]:
    """The dashboard's routes and static assets."""
    return [
        Route("/", root, methods=["GET"]),
        Route("/_mock/ui", dashboard, methods=["GET"]),
        Route("/_mock/ui/signin", signin, methods=["POST"]),
        Route("/_mock/ui/signout", signout, methods=["POST"]),
        Route("/_mock/ui/state", guarded(state), methods=["GET"]),
        Route("/_mock/ui/scenarios/{name}/run", guarded(live_scenario), methods=["POST"]),
        Route("/_mock/ui/runs/{id}", guarded(live_scenario_status), methods=["GET"]),
        Mount("/_mock/ui/static", app=StaticFiles(directory=str(HERE / "static")), name="ui-static"),
    ]
