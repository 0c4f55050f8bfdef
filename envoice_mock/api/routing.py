"""Turns the route table into Starlette routes: auth, parameters, bodies, replies, faults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.datastructures import URLPath
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from envoice_mock.api.codecs import decode_body, encode_json, encode_xml, wants_xml
from envoice_mock.api.handlers import ACTIONS, Call
from envoice_mock.domain.schema import FieldError, ValidationFailed, check_required
from envoice_mock.domain.store import Account, StoreError
from envoice_mock.faults import ApiFault, fault_body
from envoice_mock.spec import Operation, Param

if TYPE_CHECKING:
    from envoice_mock.runtime.wiring import Runtime

Endpoint = Callable[[Request], Awaitable[Response]]


def runtime_of(request: Request) -> Runtime:
    """The Runtime the app was built around."""
    return request.app.state.runtime  # type: ignore[no-any-return]


def app_factory_of(request: Request) -> Callable[[Runtime], Any]:
    """How the serving app builds an app around another runtime (a scenario's private mock)."""
    return request.app.state.app_factory  # type: ignore[no-any-return]


def respond(request: Request, value: Any, status: int = 200) -> Response:
    """Encode a JSON-ready value as JSON, or XML when the client prefers it."""
    if status == 204:
        return Response(status_code=204)
    accept = request.headers.get("accept", "")
    if accept and "xml" in accept and wants_xml(accept):
        return Response(encode_xml(value), status, media_type="application/xml; charset=utf-8")
    media = (
        "text/json; charset=utf-8" if accept.startswith("text/json") else "application/json; charset=utf-8"
    )
    return Response(encode_json(value), status, media_type=media)


def fault_response(request: Request, fault: ApiFault) -> Response:
    """The fault envelope with the fault's status."""
    response = respond(request, fault_body(fault), fault.status)
    if fault.status == 401:
        response.headers["WWW-Authenticate"] = 'x-auth-key realm="envoice"'
    return response


def authenticate(request: Request) -> Account:
    """The account named by x-auth-key / x-auth-secret, or a 401 fault."""
    key = request.headers.get("x-auth-key")
    secret = request.headers.get("x-auth-secret")
    if not key or not secret:
        missing = " and ".join(h for h, v in (("x-auth-key", key), ("x-auth-secret", secret)) if not v)
        raise ApiFault(
            401, "Unauthorized", f"Missing {missing} header: every call needs your API key and secret."
        )
    account = runtime_of(request).store.authenticate(key, secret)
    if account is None:
        raise ApiFault(401, "Unauthorized", "The API key and secret do not match an account.")
    return account


def parse_params(op: Operation, request: Request, coerce: Callable[..., Any]) -> dict[str, Any]:
    """Bind query parameters under every declared spelling (case-insensitive names)."""
    query = {k.lower(): v for k, v in request.query_params.items()}
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    for param in op.query:
        raw = _first(query, param)
        if raw is None or raw == "":
            if param.required:
                errors.append(FieldError(param.names[0], "is required (query parameter)"))
            elif param.default is not None:
                out[param.as_] = param.default
            continue
        value = coerce(param.type, raw, param.names[0], errors)
        if value is not None:
            out[param.as_] = value
    if errors:
        raise ValidationFailed(errors)
    return out


def _first(query: dict[str, str], param: Param) -> str | None:
    for name in param.names:
        if name.lower() in query:
            return query[name.lower()]
    return None


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, or a 413 fault once it grows past `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 20 or int(declared) > limit):
        raise ApiFault(413, "PayloadTooLarge", f"The request body is larger than {limit} bytes.")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiFault(413, "PayloadTooLarge", f"The request body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_body(op: Operation, request: Request, runtime: Runtime) -> Any:
    """Decode and validate the body against the operation's model and required fields."""
    if op.body is None:
        return None
    raw = await read_body(request, runtime.settings.max_body_bytes)
    data = decode_body(raw, request.headers.get("content-type", "application/json"))
    if data is None:
        raise ApiFault(400, "Required", "The request body is empty; this operation needs one.", field="body")
    errors: list[FieldError] = []
    if op.body.kind == "model":
        if not isinstance(data, dict):
            raise ApiFault(
                400, "InvalidBody", f"The request body must be a JSON object ({op.body.name}).", field="body"
            )
        value = runtime.coercer.model(op.body.name, data, "", errors)
        bad = {e.field.split("[")[0].split(".")[0] for e in errors}
        check_required(value, tuple(r for r in op.require if r.split(".")[0] not in bad), errors)
    else:
        if isinstance(data, dict) and len(data) == 1 and str(next(iter(data))).lower() == "id":
            data = next(iter(data.values()))  # a bare value posted as a form field: "id=5"
        value = runtime.coercer.value(op.body, data, "body", errors)
    if errors:
        raise ValidationFailed(errors)
    return value


def make_endpoint(op: Operation) -> Endpoint:
    """The Starlette endpoint that serves one operation."""
    action = ACTIONS[op.action]
    cacheable = op.method == "GET" and not op.options.get("activity")

    async def endpoint(request: Request) -> Response:
        runtime = runtime_of(request)
        try:
            account = authenticate(request)
            runtime.store.sweep_overdue(account)
            if cacheable:
                headers = request.headers
                key = (
                    account.key,
                    account.version,
                    op.id,
                    request.url.query,
                    headers.get("x-mock-enum-style"),
                    headers.get("accept"),
                )
                hit = runtime.responses.get(key)
                if hit is not None:
                    return Response(hit.body, hit.status_code, media_type=hit.media_type)
            call = Call(
                op=op,
                store=runtime.store,
                account=account,
                renderer=runtime.renderer_for(request.headers.get("x-mock-enum-style")),
                params=parse_params(op, request, runtime.coercer.value),
                body=await parse_body(op, request, runtime),
            )
            reply = action(call)
        except EXPECTED_ERRORS as exc:
            return fault_response(request, fault_of(exc))
        response = respond(request, reply.value, reply.status)
        if cacheable:
            runtime.responses.put(key, response)
        return response

    endpoint.__name__ = op.id.replace(".", "_")
    return endpoint


EXPECTED_ERRORS = (ApiFault, ValidationFailed, StoreError)


def fault_of(exc: Exception) -> ApiFault:
    """The fault to answer for an expected error (bad request, refused by the store, ...)."""
    if isinstance(exc, ApiFault):
        return exc
    if isinstance(exc, ValidationFailed):
        return validation_fault(exc)
    assert isinstance(exc, StoreError)
    return ApiFault(exc.status, exc.code, exc.message, field=exc.field)


def validation_fault(exc: ValidationFailed) -> ApiFault:
    """A 400 fault listing every field error."""
    errors = [
        (
            "InvalidValue" if e.message != "is required" and "required" not in e.message else "Required",
            e.message,
            e.field or None,
        )
        for e in exc.errors
    ]
    first = exc.errors[0]
    return ApiFault(400, errors[0][0], first.message, field=first.field, errors=errors)


class OperationTable(BaseRoute):
    """Every API operation behind one route: a dict lookup on the (normalized) path, O(1)
    however many operations the table declares. A known path with the wrong method is a
    partial match, which Starlette turns into a 405."""

    def __init__(self, operations: tuple[Operation, ...]) -> None:
        self.table: dict[str, dict[str, ASGIApp]] = {}
        for op in operations:
            self.table.setdefault(op.path.lower().rstrip("/"), {})[op.method] = request_response(
                make_endpoint(op)
            )

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """FULL for a known path and method, PARTIAL for a known path only."""
        if scope["type"] != "http":
            return Match.NONE, {}
        methods = self.table.get(scope["path"])
        if methods is None:
            return Match.NONE, {}
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        app = methods.get(method)
        if app is None:
            return Match.PARTIAL, {"operation_app": None, "operation_allowed": sorted(methods)}
        return Match.FULL, {"operation_app": app}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the operation's endpoint, or answer 405 naming the allowed methods."""
        app = scope.get("operation_app")
        if app is None:
            allowed = ", ".join(scope.get("operation_allowed", []))
            raise HTTPException(405, headers={"Allow": allowed})
        await app(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """Operations are not reversed by name."""
        raise NoMatchFound(name, path_params)


def api_routes(operations: tuple[Operation, ...]) -> list[BaseRoute]:
    """The route(s) serving the operation table."""
    return [OperationTable(operations)]
