"""The API's operations served straight off the ASGI scope: the hot path of the mock.

Every call of the route table is served here, in one step from the scope to the two ASGI
messages of the answer: no Starlette Request, Response, router or exception middleware on the
way (under load those layers cost as much as a cached read itself). What they did is done
here, once: the path is matched without regard to a trailing slash or letter case, HEAD is
served as GET, a new `--any-key` account is seeded (off the loop) before its first call,
every answer carries `X-Content-Type-Options: nosniff`, expected errors answer the fault
envelope, and anything unexpected is logged, kept for the pytest plugin, and answered as a
500 fault that closes the connection. Anything else (an unknown path, a wrong method, the
control plane, the pages) goes on to the Starlette app, as before.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.datastructures import URLPath
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send

from envoice_mock.api.handlers import ACTIONS, Call
from envoice_mock.api.journal import ANSWER_CAP, BODY_CAP, CallNotes
from envoice_mock.api.routing import (
    EXPECTED_ERRORS,
    account_of,
    collect_body,
    encode_reply,
    fault_of,
    parse_body,
    parse_params,
)
from envoice_mock.faults import ApiFault, fault_body
from envoice_mock.spec import Operation

if TYPE_CHECKING:
    from envoice_mock.api.account_factory import AccountFactory
    from envoice_mock.domain.store import Account, Store
    from envoice_mock.runtime.wiring import Runtime

log = logging.getLogger("envoice_mock")

RawHeaders = list[tuple[bytes, bytes]]
Answer = tuple[int, RawHeaders, bytes]
Endpoint = Callable[["LeanRequest"], Awaitable[Answer]]
NOSNIFF = (b"x-content-type-options", b"nosniff")


class ClientGone(Exception):
    """The client went away before its request's body arrived: nobody to answer."""


class LeanRequest:
    """What an operation reads of a request: headers (lower-case names, the first of a repeated
    one), the query string, and the body."""

    __slots__ = ("account", "headers", "query_string", "receive", "received", "size")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            if key not in headers:
                headers[key] = value.decode("latin-1")
        self.headers = headers
        self.query_string: str = scope.get("query_string", b"").decode("latin-1")
        self.receive = receive
        self.received: list[bytes] = []  # the body's chunks read so far (for the journal)
        self.size = 0
        self.account: str | None = None  # the key it authenticated as, once it has

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; ClientGone when the client disconnects first."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            if chunk:
                self.size += len(chunk)
                if self.size - len(chunk) < BODY_CAP:
                    self.received.append(chunk)
                yield chunk
            if not message.get("more_body", False):
                return

    async def body(self, limit: int) -> bytes:
        """The whole body; a 413 fault past `limit` bytes."""
        return await collect_body(self.headers.get("content-length", ""), self.chunks(), limit)


def answer(status: int, media: str | None, body: bytes, *extra: tuple[bytes, bytes]) -> Answer:
    """An answer with the headers Starlette would give it, nosniff and any `extra` ones."""
    headers: RawHeaders = []
    if status != 204:
        headers.append((b"content-length", str(len(body)).encode()))
    if media is not None:
        headers.append((b"content-type", media.encode("latin-1")))
    headers.extend(extra)
    headers.append(NOSNIFF)
    return status, headers, body


def reply(request: LeanRequest, value: Any, status: int = 200, *extra: tuple[bytes, bytes]) -> Answer:
    """A JSON-ready value as JSON, or XML when the client prefers it; 204 has no body."""
    if status == 204:
        return answer(204, None, b"", *extra)
    media, body = encode_reply(request.headers.get("accept", ""), value)
    return answer(status, media, body, *extra)


def fault_answer(request: LeanRequest, fault: ApiFault, *extra: tuple[bytes, bytes]) -> Answer:
    """The fault envelope with the fault's status (a 401 names the scheme)."""
    if fault.status == 401:
        extra = (*extra, (b"www-authenticate", b'x-auth-key realm="envoice"'))
    return reply(request, fault_body(fault), fault.status, *extra)


def crash_fault(runtime: Runtime, method: str, path: str, exc: BaseException) -> ApiFault:
    """An unexpected error: logged, kept for the pytest plugin, and the 500 fault to answer."""
    log.exception("unhandled error on %s %s", method, path, exc_info=exc)
    runtime.errors.append(f"{method} {path}: {''.join(traceback.format_exception(exc))}")
    return ApiFault(500, "InternalError", f"The mock failed: {type(exc).__name__}: {exc}")


def current_account(store: Store, headers: dict[str, str]) -> Account:
    """The account a request's credentials name, as it is now, its overdue invoices swept (a
    401 or 429 fault when they name none)."""
    account = account_of(store, headers.get("x-auth-key"), headers.get("x-auth-secret"))
    store.sweep_overdue(account)
    return account


def make_endpoint(op: Operation, runtime: Runtime) -> Endpoint:
    """The coroutine that serves one operation."""
    action = ACTIONS[op.action]
    cacheable = op.method == "GET" and not op.options.get("activity")
    store = runtime.store
    responses = runtime.responses
    settings = runtime.settings
    coerce = runtime.coercer.value

    async def endpoint(request: LeanRequest) -> Answer:
        headers = request.headers
        try:
            account = current_account(store, headers)
            request.account = account.key
            if cacheable:
                key = (
                    account.key,
                    account.version,
                    op.id,
                    request.query_string,
                    headers.get("x-mock-enum-style"),
                    headers.get("accept"),
                )
                hit: Answer | None = responses.get(key)
                if hit is not None:
                    return hit
            params = parse_params(op, request.query_string, coerce)
            body = None
            if op.body is not None:
                raw = await request.body(settings.max_body_bytes)
                if store.accounts.get(account.key) is not account:
                    # Reset (or replaced) while the body was on its way: act on the account as
                    # it is now, never on the one thrown away (its ids are handed out again).
                    account = current_account(store, headers)
                body = parse_body(op, raw, headers.get("content-type", "application/json"), runtime)
            call = Call(
                op=op,
                store=store,
                account=account,
                renderer=runtime.renderer_for(headers.get("x-mock-enum-style")),
                params=params,
                body=body,
            )
            result = action(call)
        except EXPECTED_ERRORS as exc:
            return fault_answer(request, fault_of(exc))
        response = reply(request, result.value, result.status)
        if cacheable:
            responses.put(key, response)
        return response

    endpoint.__name__ = op.id.replace(".", "_")
    return endpoint


def normal_path(path: str) -> str:
    """A path as the route table spells it: no trailing slash; API paths in lower case."""
    normal = path.rstrip("/") or "/"
    return normal.lower() if normal[:5].lower() == "/api/" else normal


class Operations:
    """The route table's endpoints by normalized path and method."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.table: dict[str, dict[str, Endpoint]] = {}
        for op in runtime.spec.operations:
            path = op.path.lower().rstrip("/")
            self.table.setdefault(path, {})[op.method] = make_endpoint(op, runtime)

    def find(self, path: str, method: str) -> Endpoint | None:
        """The endpoint of a (normalized) path and method; HEAD is served as GET."""
        methods = self.table.get(path)
        if methods is None:
            return None
        return methods.get("GET" if method == "HEAD" else method)

    async def serve(
        self,
        endpoint: Endpoint,
        scope: Scope,
        receive: Receive,
        send: Send,
        notes: CallNotes | None = None,
        factory: AccountFactory | None = None,
    ) -> None:
        """Run an endpoint and send its answer (a 500 fault when it fails unexpectedly); with
        `factory`, first seed the account the call names if it is new (a seeding that fails is
        such a 500 too); with `notes`, journal the call."""
        started = time.perf_counter()
        request = LeanRequest(scope, receive)
        try:
            if factory is not None:
                await factory.ensure_for(scope["headers"])
            status, headers, body = await endpoint(request)
        except ClientGone:
            return
        except Exception as exc:
            fault = crash_fault(self.runtime, scope["method"], normal_path(scope["path"]), exc)
            # The connection's state is unknown: start afresh.
            status, headers, body = fault_answer(request, fault, (b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if notes is not None:
            received = request.received
            raw = received[0] if len(received) == 1 else b"".join(received)
            duration_ms = (time.perf_counter() - started) * 1000
            notes.note(scope, raw, request.size, status, duration_ms, body[:ANSWER_CAP], request.account)


class OperationFront:
    """ASGI middleware in front of the whole app: API operations are served (and journaled)
    by `Operations` at once; everything else goes on to the app."""

    def __init__(
        self, app: ASGIApp, operations: Operations, factory: AccountFactory, notes: CallNotes
    ) -> None:
        self.app = app
        self.operations = operations
        self.factory = factory
        self.notes = notes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.operations.find(normal_path(scope["path"]), scope["method"])
            if endpoint is not None:
                factory = self.factory if self.factory.store.settings.any_key else None
                await self.operations.serve(endpoint, scope, receive, send, self.notes, factory)
                return
        await self.app(scope, receive, send)


class OperationTable(BaseRoute):
    """The route table as one Starlette route, for what the front leaves to the app: a known
    path with a wrong method is a partial match, which Starlette answers 405 naming the
    allowed methods; a full match (an app without the front) is served as the front would."""

    def __init__(self, operations: Operations) -> None:
        self.operations = operations

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """FULL for a known path and method, PARTIAL for a known path only."""
        if scope["type"] != "http":
            return Match.NONE, {}
        methods = self.operations.table.get(scope["path"])
        if methods is None:
            return Match.NONE, {}
        if self.operations.find(scope["path"], scope["method"]) is None:
            return Match.PARTIAL, {"operation_allowed": sorted(methods)}
        return Match.FULL, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the operation, or answer 405 naming the allowed methods."""
        endpoint = self.operations.find(scope["path"], scope["method"])
        if endpoint is None:
            allowed = ", ".join(scope.get("operation_allowed", []))
            raise HTTPException(405, headers={"Allow": allowed})
        await self.operations.serve(endpoint, scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """Operations are not reversed by name."""
        raise NoMatchFound(name, path_params)
