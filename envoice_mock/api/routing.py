"""What every route shares: authentication, parameters, bodies, replies in JSON or XML, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from envoice_mock.api.codecs import decode_body, encode_json, encode_xml, wants_xml
from envoice_mock.domain.schema import FieldError, ValidationFailed, check_required
from envoice_mock.domain.store import Account, Store, StoreError
from envoice_mock.faults import ApiFault, fault_body
from envoice_mock.spec import Operation, Param

if TYPE_CHECKING:
    from envoice_mock.runtime.wiring import Runtime


def runtime_of(request: Request) -> Runtime:
    """The Runtime the app was built around."""
    return request.app.state.runtime  # type: ignore[no-any-return]


def app_factory_of(request: Request) -> Callable[[Runtime], Any]:
    """How the serving app builds an app around another runtime (a scenario's private mock)."""
    return request.app.state.app_factory  # type: ignore[no-any-return]


XML_MEDIA = "application/xml; charset=utf-8"
JSON_MEDIA = "application/json; charset=utf-8"
TEXT_JSON_MEDIA = "text/json; charset=utf-8"


def encode_reply(accept: str, value: Any) -> tuple[str, bytes]:
    """(media type, body) of a JSON-ready value: XML when the client prefers it, else JSON."""
    if accept and "xml" in accept and wants_xml(accept):
        return XML_MEDIA, encode_xml(value)
    return (TEXT_JSON_MEDIA if accept.startswith("text/json") else JSON_MEDIA), encode_json(value)


def respond(request: Request, value: Any, status: int = 200) -> Response:
    """Encode a JSON-ready value as JSON, or XML when the client prefers it."""
    if status == 204:
        return Response(status_code=204)
    media, body = encode_reply(request.headers.get("accept", ""), value)
    return Response(body, status, media_type=media)


def fault_response(request: Request, fault: ApiFault) -> Response:
    """The fault envelope with the fault's status."""
    response = respond(request, fault_body(fault), fault.status)
    if fault.status == 401:
        response.headers["WWW-Authenticate"] = 'x-auth-key realm="envoice"'
    return response


def authenticate(request: Request) -> Account:
    """The account named by x-auth-key / x-auth-secret, or a 401 fault."""
    headers = request.headers
    return account_of(runtime_of(request).store, headers.get("x-auth-key"), headers.get("x-auth-secret"))


def account_of(store: Store, key: str | None, secret: str | None) -> Account:
    """The account of this key and secret, or a 401 fault saying what is missing or wrong."""
    if not key or not secret:
        missing = " and ".join(h for h, v in (("x-auth-key", key), ("x-auth-secret", secret)) if not v)
        raise ApiFault(
            401, "Unauthorized", f"Missing {missing} header: every call needs your API key and secret."
        )
    account = store.authenticate(key, secret)
    if account is None:
        raise ApiFault(401, "Unauthorized", "The API key and secret do not match an account.")
    return account


def parse_params(op: Operation, query_string: str, coerce: Callable[..., Any]) -> dict[str, Any]:
    """Bind query parameters under every declared spelling (case-insensitive names; the last
    of a repeated name wins)."""
    if not op.query:
        return {}
    query = {k.lower(): v for k, v in parse_qsl(query_string, keep_blank_values=True)}
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
    return await collect_body(request.headers.get("content-length", ""), request.stream(), limit)


async def collect_body(declared: str, chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Join a body's chunks, or a 413 fault once it (or its declared length) passes `limit` bytes."""
    if declared.isascii() and declared.isdigit() and (len(declared) > 20 or int(declared) > limit):
        raise too_large(limit)
    parts = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


def too_large(limit: int) -> ApiFault:
    """The 413 fault of a body over the limit."""
    return ApiFault(413, "PayloadTooLarge", f"The request body is larger than {limit} bytes.")


def parse_body(op: Operation, raw: bytes, content_type: str, runtime: Runtime) -> Any:
    """Decode and validate the body against the operation's model and required fields."""
    if op.body is None:
        return None
    data = decode_body(raw, content_type)
    if data is None:
        raise ApiFault(400, "Required", "The request body is empty; this operation needs one.", field="body")
    errors: list[FieldError] = []
    if op.body.kind == "model":
        if not isinstance(data, dict):
            raise ApiFault(
                400, "InvalidBody", f"The request body must be a JSON object ({op.body.name}).", field="body"
            )
        value = runtime.coercer.model(op.body.name, data, "", errors)
        if errors:  # a field already refused is not also reported missing
            bad = {e.field.split("[")[0].split(".")[0] for e in errors}
            check_required(value, tuple(r for r in op.require if r.split(".")[0] not in bad), errors)
        else:
            check_required(value, op.require, errors)
    else:
        if isinstance(data, dict) and len(data) == 1 and str(next(iter(data))).lower() == "id":
            data = next(iter(data.values()))  # a bare value posted as a form field: "id=5"
        value = runtime.coercer.value(op.body, data, "body", errors)
    if errors:
        raise ValidationFailed(errors)
    return value


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
