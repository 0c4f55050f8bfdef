"""The generic actions behind every operation of the route table.

Each action takes a `Call` (the operation, the account, parsed parameters and body) and
returns a `Reply` (a Python value and a status). They know the store but not Starlette.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envoice_mock.api.views import rendered_view
from envoice_mock.domain.schema import Renderer
from envoice_mock.domain.store import Account, Store, paginate
from envoice_mock.faults import ApiFault
from envoice_mock.spec import Operation


@dataclass
class Call:
    """One parsed API request."""

    op: Operation
    store: Store
    account: Account
    renderer: Renderer
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None


@dataclass
class Reply:
    """What to answer: `value` is JSON-ready; `status` 204 means no body."""

    value: Any = None
    status: int = 200


def _kind(call: Call) -> str:
    assert call.op.resource, f"{call.op.id} needs a resource"
    return call.op.resource


def _view(call: Call, row: dict[str, Any], model: str | None = None) -> Any:
    model = model or call.op.view
    assert model, f"{call.op.id} needs a view"
    return rendered_view(call.store, call.account, call.renderer, _kind(call), row, model)


def _body_id(call: Call, fields: tuple[str, ...] = ("Id",)) -> int:
    if isinstance(call.body, int):
        return call.body
    for fname in fields:
        value = (call.body or {}).get(fname)
        if value:
            return int(value)
    raise ApiFault(400, "Required", "is required", field=fields[0])


def _envelope(call: Call, total: int, rows: list[Any]) -> dict[str, Any]:
    return {"TotalCount": total, "Count": len(rows), "Result": rows, "IsFaulted": False, "ErrorMessages": []}


def act_reference(call: Call) -> Reply:
    """A reference list (countries, currencies, languages, date formats, gateways)."""
    return Reply(call.store.reference(call.op.options["table"]))


def act_list(call: Call) -> Reply:
    """Every row of a table as a bare array."""
    return Reply([_view(call, r) for r in call.store.rows(call.account, _kind(call))])


def act_page(call: Call) -> Reply:
    """One 1-based page of a table in the ListResult envelope."""
    total, rows = call.store.page(
        call.account, _kind(call), call.params.get("page"), call.params.get("pageSize")
    )
    return Reply(_envelope(call, total, [_view(call, r) for r in rows]))


def act_search(call: Call) -> Reply:
    """Rows matching a text query, sorted and paged when asked."""
    p = call.params
    rows = call.store.search(call.account, _kind(call), p.get("query"), p.get("orderBy"), p.get("order"))
    total = len(rows)
    if p.get("page") is not None or p.get("pageSize") is not None:
        _, rows = paginate(rows, p.get("page"), p.get("pageSize"))
    rendered = [_view(call, r) for r in rows]
    return Reply(_envelope(call, total, rendered) if call.op.returns == "envelope" else rendered)


def act_details(call: Call) -> Reply:
    """One row by id."""
    return Reply(_view(call, call.store.get(call.account, _kind(call), call.params["id"])))


def act_create(call: Call) -> Reply:
    """Create a row; answer its id or its view."""
    row = call.store.create(call.account, _kind(call), call.body, owned=True)  # a fresh coerced body
    return Reply(row["Id"] if call.op.returns == "id" else _view(call, row))


def act_update(call: Call) -> Reply:
    """Update a row; answer 204 or its view."""
    row = call.store.update(call.account, _kind(call), call.body)
    return Reply(None, 204) if call.op.returns == "none" else Reply(_view(call, row))


def act_delete(call: Call) -> Reply:
    """Delete a row; answer its id."""
    return Reply(call.store.delete(call.account, _kind(call), _body_id(call)))


def act_can_delete(call: Call) -> Reply:
    """Whether a row may be deleted (no document refers to it)."""
    row = call.store.get(call.account, _kind(call), call.params["id"])
    return Reply(call.store.users_of(call.account, _kind(call), row["Id"]) == 0)


def act_change_status(call: Call) -> Reply:
    """Move a document to another status."""
    call.store.change_status(
        call.account, _kind(call), _body_id(call), call.body["Status"], call.body.get("Reason")
    )
    return Reply(None, 204) if call.op.returns == "none" else Reply(True)


def act_status(call: Call) -> Reply:
    """A document's status as a bare string (or index, in int enum style)."""
    res = call.store.spec.resources[_kind(call)]
    row = call.store.get(call.account, _kind(call), call.params["id"])
    return Reply(call.renderer.enum(res.status["enum"], row[res.status_field or "Status"]))


def act_uri(call: Call) -> Reply:
    """A share (or PDF) link to a document, served by this mock."""
    kind = _kind(call)
    row = call.store.get(call.account, kind, call.params["id"])
    pdf = call.op.options.get("link") == "pdf"
    if call.op.options.get("activity"):
        call.store.record(call.account, kind, row, call.op.options["activity"])
    return Reply({"Link": call.store.share_link(call.account, kind, row, pdf=pdf)})


def act_send(call: Call) -> Reply:
    """Send a document by email (to the client or the accountant); answer its id."""
    fields = tuple(call.op.options.get("id_fields") or ("Id",))
    row = call.store.send(call.account, _kind(call), _body_id(call, fields), call.op.options["activity"])
    return Reply(row["Id"])


def act_convert(call: Call) -> Reply:
    """Turn an estimation into an invoice; answer the invoice."""
    invoice = call.store.convert(call.account, _body_id(call))
    view = call.op.view or "InvoiceFullDetails"
    return Reply(call.renderer.render(view, call.store.view(call.account, "invoice", invoice, view)))


def act_change_shipping(call: Call) -> Reply:
    """Replace an order's shipping details."""
    call.store.change_shipping(call.account, call.params["id"], call.body or {})
    return Reply(None, 204)


ACTIONS: dict[str, Callable[[Call], Reply]] = {
    name.removeprefix("act_"): fn for name, fn in globals().items() if name.startswith("act_")
}
