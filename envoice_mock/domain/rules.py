"""Validation and enrichment of a row before it is stored: one named step per rule.

`prepare` runs the steps in order on a row being created or updated; `check_references`
and `check_transition` guard what a request may point at and where a status may go.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from envoice_mock.clock import parse_iso
from envoice_mock.domain.accounts import Account
from envoice_mock.domain.errors import REFERENCE_LABELS, StoreError, article, label
from envoice_mock.domain.money import price_document
from envoice_mock.spec import Resource

# The largest cost, quantity or amount a request may carry: keeps every computed amount
# finite and exact to the cent (a bigger figure is refused with a 400, never a 500).
MAX_FIGURE = 1e12
ITEM_FIGURES = ("Quantity", "MinimumQuantity", "Cost", "DiscountPercentage", "TaxPercentage")
ITEM_PERCENTAGES = ("DiscountPercentage", "TaxPercentage")
DATE_ORDER = (("IssuedOn", "Duedate"), ("IssuedOn", "ExpiresOn"))  # (earlier, later)
RefIndex = dict[str, dict[Any, Any]]


def prepare(
    account: Account,
    res: Resource,
    row: dict[str, Any],
    old: dict[str, Any] | None,
    enums: dict[str, tuple[str, ...]],
) -> None:
    """Fill in and check a row about to be stored (`old`: the row before an update)."""
    fill_items(account, res, row, old)
    lower_gateway_names(row)
    check_tax_percentage(res, row)
    check_item_figures(row)
    check_document_amounts(res, row)
    check_date_order(row)
    if res.amounts:
        price_document(row, res.amounts)
    check_status_known(res, row, enums)


def fill_items(account: Account, res: Resource, row: dict[str, Any], old: dict[str, Any] | None) -> None:
    """New items get ids, tax percentages come from their tax ids, products' a minimum quantity."""
    items = row.get("Items")
    if not isinstance(items, list):
        return
    old_ids = {i.get("Id") for i in (old or {}).get("Items") or []}
    for item in items:
        if item.get("Id") not in old_ids:
            item["Id"] = account.next_id("item")
        tax = account.table("tax").get(item.get("TaxId")) if item.get("TaxId") else None
        if tax is not None and "TaxPercentage" not in item:
            item["TaxPercentage"] = tax["Percentage"]
        if res.amounts == "product":
            item.setdefault("MinimumQuantity", 1.0)


def lower_gateway_names(row: dict[str, Any]) -> None:
    """Payment gateways are named in lower case, however the request spelt them."""
    for gateway in row.get("PaymentGateways") or []:
        if isinstance(gateway.get("Name"), str):
            gateway["Name"] = gateway["Name"].lower()


def check_tax_percentage(res: Resource, row: dict[str, Any]) -> None:
    """A tax's percentage lies between 0 and 100."""
    if res.name == "tax" and not 0 <= float(row.get("Percentage") or 0) <= 100:
        raise StoreError("Percentage must be between 0 and 100.", field="Percentage")


def check_item_figures(row: dict[str, Any]) -> None:
    """Item figures are neither negative nor huge; item percentages lie between 0 and 100."""
    for i, item in enumerate(row.get("Items") or []):
        for fname in ITEM_FIGURES:
            if (item.get(fname) or 0) < 0:
                raise StoreError("cannot be negative", field=f"Items[{i}].{fname}")
            if (item.get(fname) or 0) > MAX_FIGURE:
                raise StoreError(f"cannot be more than {MAX_FIGURE:.0e}", field=f"Items[{i}].{fname}")
        for fname in ITEM_PERCENTAGES:
            if not 0 <= (item.get(fname) or 0) <= 100:
                raise StoreError("must be between 0 and 100", field=f"Items[{i}].{fname}")


def check_document_amounts(res: Resource, row: dict[str, Any]) -> None:
    """Shipping and discount amounts of orders and products lie between 0 and MAX_FIGURE."""
    for fname in ("ShippingAmount", "DiscountAmount") if res.amounts in ("order", "product") else ():
        if isinstance(row.get(fname), int | float) and not 0 <= row[fname] <= MAX_FIGURE:
            raise StoreError(f"{fname} must be between 0 and {MAX_FIGURE:.0e}.", field=fname)


def check_date_order(row: dict[str, Any]) -> None:
    """A due or expiry date is not before the issue date."""
    for a, b in DATE_ORDER:
        if row.get(a) and row.get(b) and parse_iso(row[b]) < parse_iso(row[a]):
            raise StoreError(f"{b} cannot be before {a}.", field=b)


def check_status_known(res: Resource, row: dict[str, Any], enums: dict[str, tuple[str, ...]]) -> None:
    """The status is a member of the resource's status enum."""
    if res.status_field and res.status_field in row:
        enum = res.status.get("enum")
        if enum and row[res.status_field] not in enums[enum]:
            raise StoreError(f"Unknown status {row[res.status_field]!r}.", field=res.status_field)


def check_transition(res: Resource, old: Any, new: Any) -> None:
    """Refuse a status change resources.yaml does not allow, naming where it may go."""
    if not res.can_transition(old, new):
        allowed = res.status.get("transitions", {}).get(old, [])
        raise StoreError(
            f"{article(label(res.name)).capitalize()} cannot go from {old} to {new}; from {old} "
            + (f"it may go to {', '.join(allowed)}." if allowed else "it may go nowhere (it is final)."),
            field="Status",
            code="InvalidStatusTransition",
        )


def check_references(account: Account, res: Resource, row: dict[str, Any], ref_index: RefIndex) -> None:
    """Every reference of the row names an existing reference entry or row of the account."""
    if not _references_hold(account, res, row, ref_index):
        _refuse_first_bad_reference(account, res, row, ref_index)


def _references_hold(account: Account, res: Resource, row: dict[str, Any], ref_index: RefIndex) -> bool:
    """The common case, checked without building field paths: every reference exists. False
    also when a value sits where the quick walk does not look (then the full walk decides)."""
    for dotted, table in res.references.items():
        head, _, rest = dotted.partition(".")
        value = row.get(head)
        if not rest:
            values: Iterable[Any] = (value,)
        elif "." in rest:
            return False
        elif isinstance(value, list):
            if not all(type(item) is dict for item in value):
                return False
            values = [item.get(rest) for item in value]
        elif value is None:
            continue
        else:
            return False
        known = ref_index.get(table)
        rows = account.table(table) if known is None else None
        for v in values:
            if v is None:
                continue
            if known is not None:
                key = v.lower() if table == "gateways" and isinstance(v, str) else v
                if key not in known:
                    return False
            elif v not in rows:  # type: ignore[operator]
                return False
    return True


def _refuse_first_bad_reference(
    account: Account, res: Resource, row: dict[str, Any], ref_index: RefIndex
) -> None:
    """Walk every reference with its field path; refuse the first that names nothing."""
    for dotted, table in res.references.items():
        for path, value in values_at(row, dotted.split(".")):
            if value is None:
                continue
            if table in ref_index:
                key = value.lower() if table == "gateways" and isinstance(value, str) else value
                ok = key in ref_index[table]
            else:
                ok = value in account.table(table)
            if not ok:
                raise StoreError(
                    f"There is no {REFERENCE_LABELS.get(table, label(table))} {value!r}.",
                    field=path,
                    code="InvalidReference",
                )


def values_at(obj: Any, parts: list[str], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Every value at a dotted path, descending into lists."""
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from values_at(item, parts, f"{prefix}[{i}]")
        return
    if not isinstance(obj, dict):
        return
    head, rest = parts[0], parts[1:]
    path = f"{prefix}.{head}" if prefix else head
    if not rest:
        yield path, obj.get(head)
    elif head in obj:
        yield from values_at(obj[head], rest, path)


def clone(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars), faster than copy.deepcopy."""
    kind = type(value)
    if kind is str or kind is int or kind is float or value is None:
        return value
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value
