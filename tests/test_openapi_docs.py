"""`GET /openapi.json` is generated from the route table and models; `GET /docs` works offline."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route
from starlette.testclient import TestClient

from envoice_mock.api.app import create_app
from envoice_mock.api.openapi import describe_api
from envoice_mock.config import Settings
from envoice_mock.runtime.wiring import build_runtime
from envoice_mock.spec import Spec


@pytest.mark.parametrize("style", ["string", "int"])
def test_the_description_is_valid_openapi_3(spec: Spec, style: str) -> None:
    validate(describe_api(spec, style))


def test_every_operation_of_the_table_is_described(spec: Spec) -> None:
    doc = describe_api(spec)
    described = {
        (m.upper(), p) for p, ops in doc["paths"].items() for m in ops if not p.startswith("/_mock/")
    }
    assert described == {(op.method, op.path) for op in spec.operations}
    assert len(described) == 61
    assert doc["paths"]["/_mock/chaos"]["post"]["tags"] == ["mock control"]
    new = doc["paths"]["/api/invoice/new"]["post"]
    assert new["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InvoiceFullDetails"
    }
    assert "ClientId" in new["requestBody"]["content"]["application/json"]["schema"]["allOf"][1]["required"]
    page = doc["paths"]["/api/invoice/all"]["get"]
    assert [p["name"] for p in page["parameters"]] == ["queryOptions.page", "queryOptions.pageSize"]
    assert "204" in doc["paths"]["/api/client/update"]["post"]["responses"]


def test_the_control_plane_described_is_the_one_served(client: TestClient, spec: Spec) -> None:
    """Every control-plane path of the description answers something other than 404/405."""
    doc = describe_api(spec)
    for path, ops in doc["paths"].items():
        if not path.startswith("/_mock/") or "{" in path:
            continue
        for method in ops:
            if method == "get":
                if path == "/_mock/events":
                    continue  # a stream: tested elsewhere
                answer = client.request(method.upper(), path)
            else:
                answer = client.request(method.upper(), path, json={})
            assert answer.status_code not in (404, 405), (method, path, answer.status_code)


def test_enums_follow_the_style_in_force(spec: Spec) -> None:
    runtime = build_runtime(Settings(enum_style="int"), spec=spec)
    with TestClient(create_app(runtime=runtime)) as client:
        as_int = client.get("/openapi.json").json()["components"]["schemas"]["InvoiceStatus"]
        as_names = client.get("/openapi.json", headers={"x-mock-enum-style": "string"}).json()
    assert as_int["type"] == "integer" and as_int["enum"] == [0, 1, 2, 3, 4]
    assert "2 = Unpaid" in as_int["description"]
    assert as_names["components"]["schemas"]["InvoiceStatus"]["enum"][:2] == ["Draft", "Paid"]


def test_the_server_url_is_the_one_asked(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["servers"] == [{"url": "http://testserver"}]
    assert doc["components"]["securitySchemes"]["ApiKey"]["name"] == "x-auth-key"


def test_docs_are_served_offline_with_auth_preset(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert (
        'data-key="sandbox-key"' in page.text
        and "http" not in page.text.split("<body>")[1].split("swagger-ui")[0]
    )
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in (
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/_mock/ui/static/docs.js",
    ):
        assert client.get(asset).status_code == 200, asset


def test_an_unknown_enum_style_is_refused_on_the_description_too(client: TestClient) -> None:
    for response in (
        client.get("/openapi.json", headers={"x-mock-enum-style": "banana"}),
        client.get("/openapi.json", params={"enumStyle": "banana"}),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["IsFaulted"] is True
    assert client.get("/openapi.json", params={"enumStyle": "int"}).status_code == 200


def test_every_control_route_served_is_described(spec: Spec) -> None:
    """The other way round: nothing under /_mock/ (the dashboard's own pages aside) is served
    without being in the description, so /docs lists the client events too."""
    app = create_app(runtime=build_runtime(Settings(), spec=spec))
    served = {
        (method, re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path))
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/_mock/")
        if not route.path.startswith("/_mock/ui")
        for method in route.methods or ()
        if method != "HEAD"
    }
    doc = describe_api(spec)
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops if p.startswith("/_mock/")}
    assert served - described == set()
