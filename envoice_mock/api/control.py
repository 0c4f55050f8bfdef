"""The `/_mock/*` control plane: health, reset, clock, activities, webhooks, deliveries.

Everything but health is authenticated with the account's own x-auth-key/x-auth-secret and
sees only that account; answers are JSON, errors use the API's fault envelope.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from envoice_mock.api.codecs import decode_body
from envoice_mock.api.hardening import SHARE_PAGE_POLICY
from envoice_mock.api.pages import render_html
from envoice_mock.api.paging import cursor, limit_of, link_next
from envoice_mock.api.routing import (
    EXPECTED_ERRORS,
    app_factory_of,
    authenticate,
    fault_of,
    fault_response,
    read_body,
    respond,
    runtime_of,
)
from envoice_mock.config import SettingsError, parse_duration
from envoice_mock.delivery.chaos import ChaosError, ChaosLimit
from envoice_mock.domain.activities import DOCUMENT_ID_FIELDS
from envoice_mock.domain.sheet import build_sheet, gateway_label
from envoice_mock.domain.store import StoreError
from envoice_mock.faults import ApiFault
from envoice_mock.inputs import MAX_INT_DIGITS
from envoice_mock.limits import check_clock_advance
from envoice_mock.scenarios.embedded import start_background_run
from envoice_mock.scenarios.errors import ScenarioError
from envoice_mock.scenarios.loader import load_scenario, scenario_files


class IdConvertor(Convertor[int]):
    """A path segment that is an id: ASCII digits, at most MAX_INT_DIGITS of them (else no match)."""

    regex = f"[0-9]{{1,{MAX_INT_DIGITS}}}"

    def convert(self, value: str) -> int:
        """The id."""
        return int(value)

    def to_string(self, value: int) -> str:
        """The segment."""
        return str(value)


register_url_convertor("id", IdConvertor())


async def json_body(request: Request) -> dict[str, Any]:
    """A small JSON object body (empty means {})."""
    raw = await read_body(request, runtime_of(request).settings.max_body_bytes)
    data = decode_body(raw, request.headers.get("content-type", "application/json"))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiFault(400, "InvalidBody", "The body must be a JSON object.", field="body")
    return data


def guarded(handler: Any) -> Any:
    """Turn the expected errors of a control handler into fault responses, as API endpoints do."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except EXPECTED_ERRORS as exc:
            return fault_response(request, fault_of(exc))

    endpoint.__name__ = handler.__name__
    return endpoint


async def health(request: Request) -> Response:
    """Ready: answers 200 without auth."""
    runtime = runtime_of(request)
    return respond(
        request,
        {
            "Status": "ok",
            "Operations": len(runtime.spec.operations),
            "Accounts": len(runtime.store.accounts),
            "Seed": runtime.settings.seed,
            "Now": runtime.clock.describe()["Now"],
        },
    )


async def reset(request: Request) -> Response:
    """Re-seed the calling account (its webhooks stay registered)."""
    runtime = runtime_of(request)
    account = authenticate(request)
    fresh = runtime.store.reset(account)
    runtime.webhooks.forget_activities(fresh)
    return respond(request, {"Reset": True, "Account": fresh.key})


async def activities(request: Request) -> Response:
    """The account's activities in the order they happened, a page at a time:
    `?since=<activity id>&limit=<n>` (default 1000); a `Link` header names the next page."""
    account = authenticate(request)
    runtime = runtime_of(request)
    since = cursor(request, "since", "an activity id")
    limit = limit_of(request)
    rows = account.activities
    start = bisect.bisect_right(rows, since, key=lambda a: a["Id"]) if since else 0
    page = rows[start : start + limit + 1]
    payload = runtime.webhooks.activity_payload
    response = respond(request, [payload(a) | {"TypeName": a["Type"]} for a in page[:limit]])
    if len(page) > limit:
        link_next(request, response, page[limit - 1]["Id"], limit)
    return response


async def clock_get(request: Request) -> Response:
    """The calling account's clock."""
    account = authenticate(request)
    return respond(request, runtime_of(request).clock.describe(account.key))


async def clock_advance(request: Request) -> Response:
    """Move the calling account's virtual time forward by `seconds` (or a duration such as "3d")
    and fire what falls due for it; other accounts' clocks and timers are untouched."""
    account = authenticate(request)
    body = await json_body(request)
    raw = body.get("seconds", body.get("duration"))
    if raw is None:
        raise ApiFault(
            400, "Required", 'is required (a number of seconds, or a duration like "3d")', field="seconds"
        )
    try:
        seconds = parse_duration(raw)
    except SettingsError as exc:
        raise ApiFault(400, "InvalidValue", str(exc), field="seconds") from None
    runtime = runtime_of(request)
    check_clock_advance(runtime.clock.seconds(account.key), seconds, runtime.clock.origin.year)
    await runtime.advance(seconds, account.key)
    return respond(request, runtime.clock.describe(account.key))


async def client_event(request: Request) -> Response:
    """A client-side event the API cannot express: pay and mark-paid, or one of activities.yaml."""
    runtime = runtime_of(request)
    authenticate(request)  # a 401 comes before any fault of the path or the body
    kind = request.path_params["kind"]
    event = request.path_params["event"]
    obj_id = request.path_params["id"]
    if kind not in DOCUMENT_ID_FIELDS:
        raise ApiFault(404, "NotFound", f"No client events for {kind!r}.")
    body = await json_body(request)
    account = authenticate(request)  # as it is now: a reset while the body came replaced it
    # An unknown enum style is a 400 before anything is recorded.
    renderer = runtime.renderer_for(request.headers.get("x-mock-enum-style"))
    store = runtime.store
    if event == "pay":
        row = store.pay(account, obj_id, gateway=body.get("gateway"), amount=_amount(body))
    elif event == "mark-paid":
        row = store.pay(account, obj_id, gateway=body.get("gateway"), amount=_amount(body), by_client=True)
    elif (activity := runtime.spec.client_event_activity(event, kind)) is not None:
        row = store.record_event(account, kind, obj_id, activity)
    else:
        raise ApiFault(404, "NotFound", f"Unknown client event {event!r}.")
    status = row.get("Status")
    if status is not None:  # in the enum style in force, as every other answer gives it
        status = renderer.enum(f"{kind.title()}Status", status)
    return respond(request, {"Id": row["Id"], "Status": status})


def _amount(body: dict[str, Any]) -> float | None:
    raw = body.get("amount")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ApiFault(400, "InvalidValue", "must be a finite number", field="amount")
    return float(raw)


async def shared_page(request: Request) -> Response:
    """The page behind a share link (records a Viewed activity, as a client opening it would)."""
    return await _shared(request, pdf=False)


async def shared_pdf(request: Request) -> Response:
    """The PDF behind an invoice/pdf link."""
    return await _shared(request, pdf=True)


async def _shared(request: Request, pdf: bool) -> Response:
    runtime = runtime_of(request)
    token = request.query_params.get("token", "")
    opaque = request.query_params.get("id", "")
    account, kind, row = _shared_document(request, token, request.path_params["kind"], opaque)
    view = runtime.store.view(account, kind, row)
    sheet = build_sheet(runtime.store, account, kind, view)
    if pdf:
        # fpdf2 takes ~0.2 s to import: loaded on the first PDF, not at start-up.
        from envoice_mock.api.pdfdoc import render_pdf

        # Drawing a PDF takes a tenth of a second: off the event loop, so the API and deliveries go on.
        body = await run_in_threadpool(render_pdf, sheet, view.get("CreatedOn"))
        return Response(body, media_type="application/pdf")
    if kind in ("invoice", "estimation") and request.query_params.get("preview") != "1":
        runtime.store.record_event(account, kind, row["Id"], "viewed")
    paid = request.query_params.get("paid")
    notice = None
    if paid is not None:
        how = (
            gateway_label(runtime.spec, paid)
            if paid in runtime.spec.gateway_payments
            else "a recorded payment"
        )
        notice = f"Payment received through {how}. Thank you!"
    return _share_page(request, sheet, token, notice)


def _shared_document(
    request: Request, token: str, path_kind: str, opaque: str
) -> tuple[Any, str, dict[str, Any]]:
    """The account, kind and row behind a share link (token, path kind and id checked), or a 404 fault."""
    found = runtime_of(request).store.resolve_share(token, path_kind, opaque)
    if not found:
        raise ApiFault(404, "NotFound", "This link is not valid (the document may have been deleted).")
    return found


def _share_page(
    request: Request,
    sheet: Any,
    token: str,
    notice: str | None = None,
    error: bool = False,
    status: int = 200,
) -> HTMLResponse:
    opaque = request.query_params.get("id", "")
    query = urlencode({"token": token, "id": opaque})
    page = render_html(
        sheet,
        token=token,
        opaque=opaque,
        pdf_url=f"/{sheet.kind}/pdf?{query}",
        pay_url="/invoice/shared/pay" if sheet.kind == "invoice" else None,
        notice=notice,
        error=error,
    )
    return HTMLResponse(page, status_code=status, headers={"Content-Security-Policy": SHARE_PAGE_POLICY})


async def shared_pay(request: Request) -> Response:
    """The share page's pay button: the same payment as POST /_mock/invoice/{id}/pay (activities
    and webhooks included), then back to the page. Paying twice shows a message, never an error page."""
    runtime = runtime_of(request)
    raw = await read_body(request, 16 * 1024)
    form = decode_body(raw, request.headers.get("content-type", "application/x-www-form-urlencoded")) or {}
    if not isinstance(form, dict):
        raise ApiFault(400, "InvalidBody", "The pay form must carry token, id and gateway.", field="body")
    token = str(form.get("token") or "")
    opaque = str(form.get("id") or "")
    account, kind, row = _shared_document(request, token, "invoice", opaque)
    gateway = str(form.get("gateway") or "") or None
    back = urlencode({"token": token, "id": opaque, "preview": "1", "paid": gateway or ""})
    try:
        runtime.store.pay(account, row["Id"], gateway=gateway)
    except StoreError as exc:
        view = runtime.store.view(account, kind, row)
        sheet = build_sheet(runtime.store, account, kind, view)
        request.scope["query_string"] = urlencode({"token": token, "id": opaque}).encode()
        status = 409 if exc.code == "InvalidState" else 400
        return _share_page(
            request, sheet, token, f"No payment was taken: {exc.message}", error=True, status=status
        )
    return RedirectResponse(f"/invoice/shared?{back}", status_code=303)


async def webhooks_list(request: Request) -> Response:
    """The account's webhooks with their state, counts and secrets."""
    account = authenticate(request)
    return respond(request, runtime_of(request).webhooks.describe(account))


async def webhooks_add(request: Request) -> Response:
    """Register a webhook: {"Url": "http://..."} (optionally "Secret")."""
    authenticate(request)  # a 401 comes before any fault of the body
    body = await json_body(request)
    account = authenticate(request)  # as it is now: a reset while the body came replaced it
    url = body.get("Url", body.get("url"))
    secret = body.get("Secret", body.get("secret"))
    hook = runtime_of(request).webhooks.add(account, url, secret)
    return respond(request, hook, 201)


async def webhooks_delete(request: Request) -> Response:
    """Remove a webhook."""
    account = authenticate(request)
    hook_id = request.path_params["id"]
    runtime_of(request).webhooks.remove(account, hook_id)
    return respond(request, {"Deleted": hook_id})


async def deliveries(request: Request) -> Response:
    """Delivery attempts, filtered by webhook, activity or outcome, a page at a time:
    `?since=<Seq>&limit=<n>` (default 1000); a `Link` header names the next page."""
    account = authenticate(request)
    q = request.query_params
    activity = cursor(request, "activity", "an activity id") if q.get("activity") else None
    since = cursor(request, "since", "a delivery Seq")
    limit = limit_of(request)
    rows = runtime_of(request).webhooks.log(
        account, webhook=q.get("webhook"), activity=activity, outcome=q.get("outcome"), since=since
    )
    page = list(itertools.islice(rows, limit + 1))
    response = respond(request, page[:limit])
    if len(page) > limit:
        link_next(request, response, page[limit - 1]["Seq"], limit)
    return response


async def settle(request: Request) -> Response:
    """Wait until nothing is due for delivery now (handy in tests); answers the pending count.
    With {"flush": true}, deliveries held back by a reorder window are released first."""
    account = authenticate(request)
    runtime = runtime_of(request)
    if (await json_body(request)).get("flush"):
        runtime.chaos.flush(account.key)
    await runtime.webhooks.settle_due(account.key)
    nxt = runtime.webhooks.next_in(account)
    return respond(
        request,
        {
            "Pending": runtime.webhooks.pending_count(account),
            "NextDueIn": None if nxt is None else max(0.0, nxt),
        },
    )


async def idle(request: Request) -> Response:
    """Deliver everything of the calling account, moving its virtual time to each next due attempt
    (at most `max`, default 1d)."""
    account = authenticate(request)
    runtime = runtime_of(request)
    body = await json_body(request)
    try:
        limit = parse_duration(86400 if body.get("max") is None else body["max"])
    except SettingsError as exc:
        raise ApiFault(400, "InvalidValue", str(exc), field="max") from None
    check_clock_advance(runtime.clock.seconds(account.key), limit, runtime.clock.origin.year)
    runtime.chaos.flush(account.key)
    before = runtime.clock.seconds(account.key)
    await runtime.webhooks.run_until_idle(
        max_virtual=limit, on_advance=lambda: runtime.sweep(account.key), account=account.key
    )
    return respond(
        request,
        {
            "Pending": runtime.webhooks.pending_count(account),
            "AdvancedSeconds": runtime.clock.seconds(account.key) - before,
            "Now": runtime.clock.describe(account.key)["Now"],
        },
    )


async def chaos_apply(request: Request) -> Response:
    """Install a chaos directive for this account's deliveries (or run replay / clear)."""

    account = authenticate(request)
    runtime = runtime_of(request)
    body = await json_body(request)
    hooks = list(runtime.webhooks.hooks.get(account.key, {}).values())
    since = min((h.since_activity for h in hooks), default=0)
    activities = [a for a in account.activities if a["Id"] > since]
    try:
        result = runtime.chaos.apply(body, hooks, activities, account=account.key)
    except ChaosLimit as exc:
        raise ApiFault(429, "ChaosLimit", str(exc), field="chaos") from None
    except ChaosError as exc:
        raise ApiFault(400, "InvalidChaos", str(exc), field="chaos") from None
    return respond(request, result)


async def chaos_clear(request: Request) -> Response:
    """Remove this account's chaos rules."""
    account = authenticate(request)
    runtime_of(request).chaos.apply({"clear": {}}, [], [], account=account.key)
    return respond(request, {"Cleared": True})


async def scenarios_list(request: Request) -> Response:
    """The built-in scenarios with their descriptions."""

    runtime = runtime_of(request)
    out = []
    for path in scenario_files(runtime.settings.scenarios):
        try:
            sc = load_scenario(path, runtime.spec)
            out.append(
                {"Name": sc.name, "Description": sc.description, "Seed": sc.seed, "Steps": len(sc.steps)}
            )
        except ScenarioError as exc:
            out.append({"Name": path.stem, "Error": str(exc)})
    return respond(request, out)


async def run_request(request: Request) -> tuple[str, str, int | None]:
    """(scenario name, target URL, seed) of a request to run a scenario, or a 400/404 fault."""
    body = await json_body(request)
    target = body.get("target") or body.get("Target")
    seed = body.get("seed", body.get("Seed"))
    if not isinstance(target, str) or not target.startswith(("http://", "https://")):
        raise ApiFault(400, "Required", "is required (the receiver URL, http:// or https://)", field="target")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ApiFault(400, "InvalidValue", "must be an integer", field="seed")
    name = request.path_params["name"]
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):  # names only: never a path on the server
        raise ApiFault(404, "NotFound", f"There is no scenario {name!r}.")
    return name, target, seed


def scenario_fault(exc: Exception) -> ApiFault:
    """404 for an unknown scenario, 400 for one that cannot run."""
    status = 404 if str(exc).startswith("no scenario") else 400
    return ApiFault(status, "NotFound" if status == 404 else "InvalidScenario", str(exc))


async def scenario_run(request: Request) -> Response:
    """Start a built-in scenario in the background (its own embedded mock) against a target."""

    account = authenticate(request)
    runtime = runtime_of(request)
    name, target, seed = await run_request(request)
    try:
        run_id = start_background_run(runtime, app_factory_of(request), name, target, seed, account)
    except ScenarioError as exc:
        raise scenario_fault(exc) from None
    return respond(request, {"RunId": run_id, "Status": "running"}, 202)


async def scenario_run_status(request: Request) -> Response:
    """A background scenario run of this account: running, or its report."""
    account = authenticate(request)
    runtime = runtime_of(request)
    run_id = request.path_params["id"]
    run = runtime.runs.background.get(run_id)
    if run is None or runtime.runs.owners.get(run_id) != account.key:
        raise ApiFault(404, "NotFound", f"There is no scenario run {request.path_params['id']!r}.")
    return respond(request, run)


def control_routes() -> list[Route]:
    """The control-plane and share-link routes."""
    return [
        Route("/_mock/health", guarded(health), methods=["GET"]),
        Route("/_mock/reset", guarded(reset), methods=["POST"]),
        Route("/_mock/activities", guarded(activities), methods=["GET"]),
        Route("/_mock/clock", guarded(clock_get), methods=["GET"]),
        Route("/_mock/clock/advance", guarded(clock_advance), methods=["POST"]),
        Route("/_mock/webhooks", guarded(webhooks_list), methods=["GET"]),
        Route("/_mock/webhooks", guarded(webhooks_add), methods=["POST"]),
        Route("/_mock/webhooks/{id}", guarded(webhooks_delete), methods=["DELETE"]),
        Route("/_mock/deliveries", guarded(deliveries), methods=["GET"]),
        Route("/_mock/deliveries/settle", guarded(settle), methods=["POST"]),
        Route("/_mock/deliveries/idle", guarded(idle), methods=["POST"]),
        Route("/_mock/chaos", guarded(chaos_apply), methods=["POST"]),
        Route("/_mock/chaos", guarded(chaos_clear), methods=["DELETE"]),
        Route("/_mock/scenarios", guarded(scenarios_list), methods=["GET"]),
        Route("/_mock/scenarios/runs/{id}", guarded(scenario_run_status), methods=["GET"]),
        Route("/_mock/scenarios/{name}/run", guarded(scenario_run), methods=["POST"]),
        Route("/_mock/{kind}/{id:id}/{event}", guarded(client_event), methods=["POST"]),
        Route("/invoice/shared/pay", guarded(shared_pay), methods=["POST"]),
        Route("/{kind:str}/shared", guarded(shared_page), methods=["GET"]),
        Route("/{kind:str}/pdf", guarded(shared_pdf), methods=["GET"]),
    ]
