"""Rows of an account: reading (one, all, a page, a search, a joined view) and writing (create,
update, delete, status changes, named events), each write one unit of work."""

from __future__ import annotations

from itertools import islice
from typing import Any

from envoice_mock.clock import iso
from envoice_mock.domain.accounts import Account
from envoice_mock.domain.atomic import atomic
from envoice_mock.domain.errors import NotFound, StoreError, label
from envoice_mock.domain.invoices import on_status_change
from envoice_mock.domain.ledger import Ledger
from envoice_mock.domain.numbering import forget, holder_of, number_index, remember
from envoice_mock.domain.rules import check_references, check_transition, clone, prepare
from envoice_mock.spec import Resource


class Documents(Ledger):
    """CRUD, paging and search over the tables of resources.yaml."""

    # --- reading ------------------------------------------------------------------------
    def reference(self, table: str) -> list[Any]:
        """A reference list (countries, currencies, ...)."""
        return self.spec.reference[table]

    def get(self, account: Account, kind: str, obj_id: Any) -> dict[str, Any]:
        """One row, or NotFound."""
        row = account.table(kind).get(obj_id) if isinstance(obj_id, int) else None
        if row is None:
            raise NotFound(f"There is no {label(kind)} {obj_id}.", field="Id")
        return row

    def rows(self, account: Account, kind: str) -> list[dict[str, Any]]:
        """All rows of a table, newest first for documents, by id otherwise."""
        rows = list(account.table(kind).values())
        if self.spec.resources[kind].number:
            rows.reverse()
        return rows

    def page(
        self, account: Account, kind: str, page: int | None, size: int | None
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total, rows of the 1-based page); no page size means everything. A page is read
        off the table without copying it: the cost grows with the page's offset, not the table."""
        if page is None or size is None or page < 1 or size < 1:
            return paginate(self.rows(account, kind), page, size)
        table = account.table(kind)
        ordered = reversed(table.values()) if self.spec.resources[kind].number else iter(table.values())
        start = (page - 1) * size
        return len(table), list(islice(ordered, start, start + size))

    def search(
        self,
        account: Account,
        kind: str,
        query: str | None,
        order_by: str | None = None,
        order: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows whose text fields contain `query` (case-insensitive), optionally sorted."""
        rows = list(account.table(kind).values())
        if query:
            needle = query.lower()
            rows = [r for r in rows if any(isinstance(v, str) and needle in v.lower() for v in r.values())]
        if order_by:
            sample = rows[0] if rows else {}
            key = next((k for k in sample if k.lower() == order_by.lower()), None)
            if rows and key is None:
                raise StoreError(f"Cannot order by {order_by!r}: no such field.", field="orderBy")
            if key:
                rows.sort(key=lambda r: (r.get(key) is None, r.get(key)), reverse=order == "Desc")
        elif order == "Desc":
            rows.reverse()
        return rows

    def view_stamp(self, account: Account, kind: str, row: dict[str, Any], model: str) -> tuple[Any, ...]:
        """What `view(account, kind, row, model)` depends on, cheaply: the row (which object,
        when it last changed), each joined row of the account (whether it exists, when it last
        changed; reference data never changes) and the document's activity log (its length,
        its first and last entries' ids). Equal stamps, equal views."""
        res = self.spec.resources[kind]
        fields = self.spec.models[model].fields
        stamps = account.stamps
        parts: list[Any] = [id(row), stamps.get((kind, row.get("Id")), 0)]
        for name, join in res.joins.items():
            table = join["table"]
            if name not in fields or table in self.ref_index:
                continue
            target = row.get(join["from"])
            parts.append((target in account.table(table), stamps.get((table, target), 0)))
        if res.document and "Activities" in fields:
            log = account.doc_activities.get((kind, row["Id"])) or ()
            parts.append((len(log), log[0].get("Id"), log[-1].get("Id")) if log else 0)
        return tuple(parts)

    def view(
        self, account: Account, kind: str, row: dict[str, Any], model: str | None = None
    ) -> dict[str, Any]:
        """The row with its joins (Client, Currency) and Activities filled in, for rendering."""
        res = self.spec.resources[kind]
        fields = self.spec.models[model].fields if model else None
        out = dict(row)
        for name, join in res.joins.items():
            if fields is not None and name not in fields:
                continue
            target = row.get(join["from"])
            if target is None:
                continue
            if join["table"] in self.ref_index:
                joined = self.ref_index[join["table"]].get(target)
            else:
                joined = account.table(join["table"]).get(target)
            if joined is not None:
                out[name] = joined
        if res.document and (fields is None or "Activities" in fields):
            out["Activities"] = account.doc_activities.get((kind, row["Id"]), [])
        return out

    def users_of(self, account: Account, kind: str, obj_id: int) -> int:
        """How many rows of guarding tables refer to this one."""
        res = self.spec.resources[kind]
        return sum(
            1
            for table, fname in res.guarded_by.items()
            for r in account.table(table).values()
            if r.get(fname) == obj_id
        )

    # --- writing ------------------------------------------------------------------------
    @atomic
    def create(
        self, account: Account, kind: str, data: dict[str, Any], *, owned: bool = False
    ) -> dict[str, Any]:
        """Validate references, fill defaults and amounts, store, record `created`. `owned`: the
        data were built for this call and nobody else holds them (a request's coerced body), so
        the row may take them over instead of a copy."""
        res = self.spec.resources[kind]
        data = {k: v for k, v in data.items() if v is not None}
        row = {**clone(res.defaults), **(data if owned else clone(data))}
        row.pop("Id", None)
        check_references(account, res, row, self.ref_index)
        if res.number and row.get("Number"):
            self._check_number_free(account, kind, row["Number"], None)
        row["Id"] = account.next_id(kind)
        row["CreatedOn"] = iso(self.now(account))
        row.setdefault("UserId", account.user_id)
        if res.number or kind in ("product",):
            row["AccessToken"] = self.share_index.token(account, kind, row["Id"])
        if res.number and not row.get("Number"):
            row["Number"] = self._next_number(account, res)
        prepare(account, res, row, None, self.spec.enums)
        account.table(kind)[row["Id"]] = row
        if res.number:
            remember(self._numbers(account, kind), row)
        self.save(account, kind, row)
        self.record(account, kind, row, res.activities.get("created"))
        return row

    @atomic
    def update(self, account: Account, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Apply the given fields to an existing row; items sent replace the item list."""
        res = self.spec.resources[kind]
        row = self.get(account, kind, data.get("Id"))
        merged = {**clone(row), **clone(data)}
        # Only what the request sends must refer to existing rows: a work type, tax, category
        # or product deleted since must not make the document impossible to edit.
        check_references(account, res, {k: v for k, v in merged.items() if k in data}, self.ref_index)
        status_field = res.status_field
        old_status = row.get(status_field) if status_field else None
        if status_field and merged.get(status_field) != old_status:
            check_transition(res, old_status, merged[status_field])
        if res.number and merged.get("Number"):
            self._check_number_free(account, kind, merged["Number"], row["Id"])
        prepare(account, res, merged, row, self.spec.enums)
        old_number = row.get("Number")
        row.clear()
        row.update(merged)
        if res.number:
            remember(self._numbers(account, kind), row, old_number)
        self.save(account, kind, row)
        self.record(account, kind, row, res.activities.get("updated"))
        if status_field and row.get(status_field) != old_status:
            self._status_activity(account, kind, res, row)
        return row

    @atomic
    def delete(self, account: Account, kind: str, obj_id: Any) -> int:
        """Remove a row; refused while other rows refer to it."""
        row = self.get(account, kind, obj_id)
        users = self.users_of(account, kind, row["Id"])
        if users:
            raise StoreError(
                f"The {label(kind)} {row['Id']} cannot be deleted: "
                f"{users} {'document refers' if users == 1 else 'documents refer'} to it.",
                field="Id",
                code="InUse",
            )
        del account.table(kind)[row["Id"]]
        if self.spec.resources[kind].number:
            forget(self._numbers(account, kind), row)
        account.version += 1
        if self.journal:
            self.journal.delete_object(account, kind, row["Id"])
        return int(row["Id"])

    @atomic
    def change_status(
        self, account: Account, kind: str, obj_id: Any, status: str, reason: str | None = None
    ) -> dict[str, Any]:
        """Move a document to a new status along the allowed transitions."""
        res = self.spec.resources[kind]
        row = self.get(account, kind, obj_id)
        fname = res.status_field
        assert fname
        old = row.get(fname)
        if old == status:
            return row
        check_transition(res, old, status)
        row[fname] = status
        if reason:
            row["Note"] = reason
        on_status_change(account, kind, row, status, self.now(account))
        self.save(account, kind, row)
        self._status_activity(account, kind, res, row)
        return row

    @atomic
    def record_event(self, account: Account, kind: str, obj_id: Any, event: str) -> dict[str, Any]:
        """Record a named event of resources.yaml (viewed, pdf, ...) or a raw activity type."""
        res = self.spec.resources[kind]
        row = self.get(account, kind, obj_id)
        activity_type = res.activities.get(event, event)
        if activity_type not in self.spec.enums["ActivityType"]:
            raise StoreError(f"Unknown activity {event!r} for {label(kind)}.", field="event")
        self.record(account, kind, row, activity_type)
        return row

    @atomic
    def change_shipping(self, account: Account, order_id: Any, details: dict[str, Any]) -> dict[str, Any]:
        """Replace an order's shipping details."""
        res = self.spec.resources["order"]
        row = self.get(account, "order", order_id)
        check_references(account, res, {"OrderShippingDetails": details}, self.ref_index)
        row["OrderShippingDetails"] = details
        self.save(account, "order", row)
        self.record(account, "order", row, res.activities.get("updated"))
        return row

    # --- helpers ------------------------------------------------------------------------
    def _status_activity(self, account: Account, kind: str, res: Resource, row: dict[str, Any]) -> None:
        mapping = res.activities.get("status")
        status = row.get(res.status_field or "")
        activity = mapping.get(status, "ChangeStatus") if isinstance(mapping, dict) else mapping
        self.record(account, kind, row, activity, status=status)

    def _next_number(self, account: Account, res: Resource) -> str:
        """The next generated number of a kind, skipping numbers a client already chose."""
        index = self._numbers(account, res.name)
        while True:
            seq = account.sequences.get(f"number:{res.name}", 0) + 1
            account.sequences[f"number:{res.name}"] = seq
            number = f"{res.number.get('prefix', '')}{seq:0{int(res.number.get('width', 4))}d}"
            if holder_of(index, number) is None:
                return number

    def _numbers(self, account: Account, kind: str) -> dict[str, int]:
        return number_index(account.numbers, kind, account.table(kind))

    def _check_number_free(self, account: Account, kind: str, number: Any, own_id: int | None) -> None:
        holder = holder_of(self._numbers(account, kind), number, own_id)
        if holder is not None:
            noun = label(kind)
            taken = account.table(kind)[holder].get("Number")
            raise StoreError(
                f"{noun.capitalize()} {holder} already has the number {taken!r}; "
                f"numbers are unique among an account's {noun}s.",
                field="Number",
                code="NotUnique",
            )


def paginate(rows: list[Any], page: int | None, size: int | None) -> tuple[int, list[Any]]:
    """(total, rows of the 1-based page); no size means one page of everything."""
    if page is not None and page < 1:
        raise StoreError("page is 1-based: it must be 1 or more.", field="page", code="InvalidValue")
    if size is not None and size < 1:
        raise StoreError("pageSize must be 1 or more.", field="pageSize", code="InvalidValue")
    size = size or len(rows) or 1
    start = ((page or 1) - 1) * size
    return len(rows), rows[start : start + size]
