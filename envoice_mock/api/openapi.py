"""An OpenAPI 3 description of what this mock serves, generated from the route table and models.

Nothing here is copied from the vendor's description: paths, parameters (each under its first
spelling, the others named), bodies and answers come from `fixtures/routes.yaml` and
`fixtures/models.yaml`, so an operation added to the table appears here too. Enums follow the
enum style asked for (`string`: member names; `int`: indexes, names in the description).
"""

from __future__ import annotations

from typing import Any

from envoice_mock.spec import Operation, Spec, TypeRef

SCALAR_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "format": "int32"},
    "long": {"type": "integer", "format": "int64"},
    "number": {"type": "number", "format": "double"},
    "string": {"type": "string"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
}
# The model that describes each reference table's rows, where one does.
REFERENCE_MODELS = {
    "countries": "CountryDetails",
    "currencies": "CurrencyDetails",
    "uilanguages": "UILanguageDetails",
    "gateways": "PaymentGatewayDetails",
}
BODY_TYPES = ("application/json", "text/json", "application/x-www-form-urlencoded", "application/xml")
ANSWER_TYPES = ("application/json", "application/xml")
# The mock's own control plane, described briefly: (method, path, summary, takes a JSON body).
CONTROL_PLANE: tuple[tuple[str, str, str, bool], ...] = (
    ("GET", "/_mock/health", "Ready check (no auth needed)", False),
    ("POST", "/_mock/reset", "Re-seed this account (its webhooks stay)", False),
    ("GET", "/_mock/clock", "The clock", False),
    ("POST", "/_mock/clock/advance", 'Move the clock: {"seconds": 90} or {"duration": "3d"}', True),
    ("GET", "/_mock/activities", "This account's activities (since=ID)", False),
    ("GET", "/_mock/webhooks", "Webhooks: state, counts, secrets, history", False),
    ("POST", "/_mock/webhooks", 'Register a webhook: {"Url": "http://...", "Secret"?}', True),
    ("DELETE", "/_mock/webhooks/{id}", "Remove a webhook", False),
    ("GET", "/_mock/deliveries", "Delivery attempts (webhook=, activity=, outcome=)", False),
    ("GET", "/_mock/deliveries/{id}", "One attempt: wire headers, answer, signature checks", False),
    ("POST", "/_mock/deliveries/settle", "Wait until nothing is due now", True),
    ("POST", "/_mock/deliveries/idle", 'Deliver everything, moving virtual time: {"max": "1d"}', True),
    (
        "POST",
        "/_mock/chaos",
        'Delivery chaos: {"fail": {"attempts": 3}}, reorder, duplicate, delay, ...',
        True,
    ),
    ("DELETE", "/_mock/chaos", "Clear this account's chaos", False),
    ("GET", "/_mock/events", "Server-Sent Events of this account (Last-Event-ID, types=)", False),
    (
        "GET",
        "/_mock/requests",
        "The request journal (method=, path=, status=, page=, pageSize=, since=)",
        False,
    ),
    ("DELETE", "/_mock/requests", "Clear the request journal", False),
    ("GET", "/_mock/scenarios", "The built-in scenarios", False),
    (
        "POST",
        "/_mock/scenarios/{name}/run",
        'Run one on its own mock: {"target": "http://...", "seed"?}',
        True,
    ),
    ("GET", "/_mock/scenarios/runs/{id}", "A background run and its report", False),
    (
        "POST",
        "/_mock/{kind}/{id}/{event}",
        "A client-side event on an invoice, estimation or order (kind): view, open, pay, mark-paid, "
        'reject, remind, sign, open-attachment, pdf; pay takes {"gateway": "stripe", "amount": 10}',
        True,
    ),
)


def ref(name: str) -> dict[str, Any]:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def type_schema(t: TypeRef) -> dict[str, Any]:
    """The schema of a field type."""
    if t.kind == "scalar":
        return dict(SCALAR_SCHEMAS[t.name])
    if t.kind == "list":
        assert t.item is not None
        return {"type": "array", "items": type_schema(t.item)}
    return ref(t.name)


def enum_schema(name: str, members: tuple[str, ...], style: str) -> dict[str, Any]:
    """An enum as names, or as indexes with the names said in the description."""
    if style == "int":
        return {
            "type": "integer",
            "enum": list(range(len(members))),
            "description": ", ".join(f"{i} = {m}" for i, m in enumerate(members)),
            "x-enum-varnames": list(members),
        }
    return {"type": "string", "enum": list(members)}


def answer_schema(spec: Spec, op: Operation) -> dict[str, Any] | None:
    """The schema of a successful answer (None: 204, no body)."""
    view = ref(op.view) if op.view else {"type": "object"}
    if op.action == "reference":
        table = op.options.get("table", "")
        model = REFERENCE_MODELS.get(table)
        if table == "dateformats":
            return {"type": "array", "items": {"type": "string"}}
        return {"type": "array", "items": ref(model) if model else {"type": "object"}}
    if op.action == "page" or (op.action == "search" and op.returns == "envelope"):
        return {
            "allOf": [
                ref("ListResult"),
                {"type": "object", "properties": {"Result": {"type": "array", "items": view}}},
            ]
        }
    if op.action in ("list", "search"):
        return {"type": "array", "items": view}
    if op.action == "status":
        enum = spec.resources[op.resource or ""].status.get("enum") if op.resource else None
        return ref(enum) if enum else {"type": "string"}
    if op.action == "uri":
        return ref("Link")
    if op.action == "can_delete":
        return {"type": "boolean"}
    if op.action == "change_shipping":
        return None
    returns = op.returns
    if returns == "none":
        return None
    if returns == "id":
        return {"type": "integer", "format": "int32"}
    if returns == "bool":
        return {"type": "boolean"}
    return view


def operation(spec: Spec, op: Operation) -> dict[str, Any]:
    """One operation object."""
    area, _, verb = op.id.partition(".")
    out: dict[str, Any] = {
        "operationId": op.id.replace(".", "_"),
        "tags": [area],
        "summary": f"{area} {verb}",
    }
    params = []
    for p in op.query:
        param: dict[str, Any] = {
            "name": p.names[0],
            "in": "query",
            "required": p.required,
            "schema": type_schema(p.type),
        }
        if p.default is not None:
            param["schema"]["default"] = p.default
        if len(p.names) > 1:
            param["description"] = "Also accepted as " + ", ".join(f"`{n}`" for n in p.names[1:]) + "."
        params.append(param)
    if params:
        out["parameters"] = params
    if op.body is not None:
        schema = type_schema(op.body)
        if op.require and op.body.kind == "model":
            top = sorted({r.split(".")[0] for r in op.require})
            schema = {"allOf": [schema, {"type": "object", "required": top}]}
            out["description"] = "Required: " + ", ".join(f"`{r}`" for r in op.require) + "."
        out["requestBody"] = {"required": True, "content": {t: {"schema": schema} for t in BODY_TYPES}}
    answer = answer_schema(spec, op)
    fault = {"content": {t: {"schema": ref("Fault")} for t in ANSWER_TYPES}}
    responses: dict[str, Any] = {}
    if answer is None:
        responses["204"] = {"description": "Done (no body)."}
    else:
        responses["200"] = {"description": "OK", "content": {t: {"schema": answer} for t in ANSWER_TYPES}}
    responses["400"] = {"description": "The request is invalid (the fault names the field).", **fault}
    responses["401"] = {"description": "Missing or wrong x-auth-key / x-auth-secret.", **fault}
    if (op.query and any(p.as_ == "id" for p in op.query)) or op.action in ("update", "delete", "send"):
        responses["404"] = {"description": "No such object in this account.", **fault}
    out["responses"] = responses
    return out


def control_operation(method: str, path: str, summary: str, takes_body: bool) -> dict[str, Any]:
    """A control-plane operation: free-form JSON in and out."""
    out: dict[str, Any] = {
        "operationId": "mock_" + "_".join(p.strip("{}") for p in path.split("/")[2:]) + "_" + method.lower(),
        "tags": ["mock control"],
        "summary": summary,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {}}}},
            "400": {
                "description": "Invalid (the fault names the field).",
                "content": {"application/json": {"schema": ref("Fault")}},
            },
            "401": {"description": "Missing or wrong x-auth-key / x-auth-secret."},
        },
    }
    params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
    if params:
        out["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
        ]
    if path == "/_mock/health":
        out["security"] = []
    if takes_body:
        out["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return out


def describe_api(
    spec: Spec, enum_style: str = "string", server_url: str = "/", version: str = "0"
) -> dict[str, Any]:
    """The whole OpenAPI 3.0 document."""
    paths: dict[str, dict[str, Any]] = {}
    for op in spec.operations:
        paths.setdefault(op.path, {})[op.method.lower()] = operation(spec, op)
    for method, path, summary, takes_body in CONTROL_PLANE:
        paths.setdefault(path, {})[method.lower()] = control_operation(method, path, summary, takes_body)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Envoice API v1 (envoice-mock sandbox)",
            "version": version,
            "description": (
                "What this mock serves, generated from its route table and models. "
                f"Enums are shown as {'indexes' if enum_style == 'int' else 'names'}; "
                "a request may ask for the other style with header `x-mock-enum-style`."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"ApiKey": [], "ApiSecret": []}],
        "tags": sorted(
            ({"name": t} for t in {op.id.split(".")[0] for op in spec.operations}), key=lambda t: t["name"]
        ),
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": component_schemas(spec, enum_style),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "x-auth-key"},
                "ApiSecret": {"type": "apiKey", "in": "header", "name": "x-auth-secret"},
            },
        },
    }


def component_schemas(spec: Spec, enum_style: str) -> dict[str, Any]:
    """The enums and models of the fixtures, and the envelopes every answer uses."""
    schemas: dict[str, Any] = {}
    for name, members in spec.enums.items():
        schemas[name] = enum_schema(name, members, enum_style)
    for name, model in spec.models.items():
        schemas[name] = {
            "type": "object",
            "properties": {f: type_schema(t) for f, t in model.fields.items()},
        }
    schemas["ErrorMessage"] = {
        "type": "object",
        "properties": {
            k: {"type": "string"} for k in ("Code", "FaultMessage", "Group", "UserVisibleMessage")
        },
    }
    schemas["Fault"] = {
        "type": "object",
        "required": ["IsFaulted", "ErrorMessages"],
        "properties": {
            "IsFaulted": {"type": "boolean"},
            "ErrorMessages": {"type": "array", "items": ref("ErrorMessage")},
        },
    }
    schemas["ListResult"] = {
        "type": "object",
        "properties": {
            "TotalCount": {"type": "integer"},
            "Count": {"type": "integer"},
            "Result": {"type": "array", "items": {}},
            "IsFaulted": {"type": "boolean"},
            "ErrorMessages": {"type": "array", "items": ref("ErrorMessage")},
        },
    }
    schemas["Link"] = {"type": "object", "properties": {"Link": {"type": "string", "format": "uri"}}}
    return schemas
