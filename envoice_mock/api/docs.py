"""`GET /openapi.json` (generated, in the enum style in force) and `GET /docs` (Swagger UI,
served from the swagger-ui-bundle package: no CDN, works offline, auth preset)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from envoice_mock.api.openapi import describe_api
from envoice_mock.api.routing import fault_response, runtime_of
from envoice_mock.api.ui import page_headers, templates, viewer_credentials
from envoice_mock.faults import ApiFault


def _package_version() -> str:
    try:
        return version("envoice-mock")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def _swagger_dir() -> Path | None:
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # pragma: no cover - the dependency is declared; guard a broken install
        return None
    return Path(str(swagger_ui_path))


async def openapi_json(request: Request) -> Response:
    """The OpenAPI 3 description; `?enumStyle=int|string` (or header x-mock-enum-style) overrides."""
    runtime = runtime_of(request)
    asked = request.query_params.get("enumStyle") or request.headers.get("x-mock-enum-style")
    try:
        style = runtime.renderer_for(asked).enum_style
    except ApiFault as fault:  # an unknown style is a 400, as on the API
        return fault_response(request, fault)
    server = str(request.base_url).rstrip("/")
    doc = describe_api(runtime.spec, style, server, _package_version())
    return JSONResponse(doc, headers={"Cache-Control": "no-store"})


async def docs_page(request: Request) -> Response:
    """Swagger UI over /openapi.json, with the viewer's (or the sandbox) credentials preset."""
    creds = viewer_credentials(request)
    key, secret = creds if creds else runtime_of(request).settings.all_accounts[0]
    response = templates().TemplateResponse(
        request, "docs.html", {"key": key, "secret": secret, "spec_url": "/openapi.json"}
    )
    response.headers.update(page_headers(allow_inline_style=True))
    return response


def docs_routes() -> list[BaseRoute]:
    """The description, the docs page and its assets."""
    routes: list[BaseRoute] = [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs_page, methods=["GET"]),
    ]
    assets = _swagger_dir()
    if assets is not None:
        routes.append(Mount("/docs/assets", app=StaticFiles(directory=assets), name="docs-assets"))
    return routes
