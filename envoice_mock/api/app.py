"""`create_app(settings) -> Starlette`: the API routes from the table, the control plane, faults."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from envoice_mock.api.account_factory import AccountFactory, SeedOffLoop
from envoice_mock.api.control import control_routes
from envoice_mock.api.hardening import NoSniff
from envoice_mock.api.observing import observed_routes, observing_middleware, start_observing
from envoice_mock.api.operations import OperationFront, Operations, OperationTable, crash_fault
from envoice_mock.api.routing import fault_response
from envoice_mock.config import Settings
from envoice_mock.faults import ApiFault
from envoice_mock.runtime.wiring import Runtime, build_runtime

log = logging.getLogger("envoice_mock")


class NormalizePath:
    """Accept a trailing slash and any letter case on API paths, as the real server does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            normal = path.rstrip("/") or "/"
            if normal[:5].lower() == "/api/":
                normal = normal.lower()
            if normal != path:
                scope = dict(scope, path=normal, raw_path=normal.encode())
        await self.app(scope, receive, send)


async def http_error(request: Request, exc: Exception) -> Response:
    """404/405 and friends in the fault envelope."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        fault = ApiFault(404, "NotFound", f"There is no route {request.url.path}.")
    elif exc.status_code == 405:
        allowed = exc.headers.get("Allow", "") if exc.headers else ""
        fault = ApiFault(
            405, "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path}; use {allowed}."
        )
    else:
        fault = ApiFault(exc.status_code, "HttpError", str(exc.detail))
    response = fault_response(request, fault)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    """The last resort: never a bare 500 page; the fault envelope, and the error logged."""
    fault = crash_fault(request.app.state.runtime, request.method, request.url.path, exc)
    response = fault_response(request, fault)
    response.headers["Connection"] = "close"  # the connection's state is unknown: start afresh
    return response


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Starlette:
    """Build the ASGI app around a runtime (built from `settings` when not given)."""
    if runtime is None:
        runtime = build_runtime(settings or Settings())

    factory = AccountFactory(runtime.store)

    async def tick() -> None:
        # Due dates pass while nobody calls the API, too: sweep once a (real) second.
        while True:
            await asyncio.sleep(1.0)
            runtime.sweep()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.webhooks.start()
        start_observing(runtime)
        ticker = asyncio.create_task(tick()) if runtime.clock.speed > 0 else None
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            await runtime.webhooks.stop()
            factory.close()
            runtime.close()

    operations = Operations(runtime)
    app = Starlette(
        routes=[OperationTable(operations), *observed_routes(), *control_routes()],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.app_factory = app_for  # scenario runs build their private mock with it (no upward import)
    app.add_middleware(NormalizePath)
    app.add_middleware(NoSniff)
    app.add_middleware(SeedOffLoop, factory=factory)
    app.add_middleware(OperationFront, operations=operations, factory=factory)
    observing_middleware(app, runtime)
    return app


def app_for(runtime: Runtime) -> Starlette:
    """The app of an existing runtime: how a scenario run builds its private embedded mock."""
    return create_app(runtime=runtime)


def describe(runtime: Runtime) -> dict[str, Any]:
    """What was loaded, for the startup banner."""
    return {
        "operations": len(runtime.spec.operations),
        "models": len(runtime.spec.models),
        "accounts": [a for a, _ in runtime.settings.all_accounts],
        "seed": runtime.settings.seed,
    }
