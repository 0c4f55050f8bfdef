"""Loads `fixtures/*.yaml` into frozen objects; fails fast naming the file and the problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SCALARS = frozenset({"int", "long", "number", "string", "bool", "datetime"})
ACTIONS = frozenset(
    {
        "reference",
        "list",
        "page",
        "search",
        "details",
        "create",
        "update",
        "delete",
        "can_delete",
        "change_status",
        "status",
        "uri",
        "send",
        "convert",
        "change_shipping",
    }
)
RETURNS = frozenset({"id", "view", "none", "bool", "status", "link", "list", "envelope"})
REFERENCE_TABLES = ("countries", "currencies", "uilanguages", "dateformats", "gateways")


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecError(ValueError):
    """A fixture file is malformed; the message names the file and what is wrong."""


@dataclass(frozen=True)
class TypeRef:
    """A field's type: a scalar, an enum, a model, or a list of one of those."""

    kind: str  # scalar | enum | model | list
    name: str
    item: TypeRef | None = None

    def __str__(self) -> str:
        return f"[{self.item}]" if self.item else self.name


@dataclass(frozen=True)
class Model:
    """A named set of typed fields."""

    name: str
    fields: dict[str, TypeRef]


@dataclass(frozen=True)
class Param:
    """A query parameter, bound under every spelling in `names`."""

    as_: str
    names: tuple[str, ...]
    type: TypeRef
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class Operation:
    """One route of the API, as declared in routes.yaml."""

    id: str
    method: str
    path: str
    action: str
    resource: str | None = None
    query: tuple[Param, ...] = ()
    body: TypeRef | None = None
    require: tuple[str, ...] = ()
    returns: str = "view"
    view: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Resource:
    """A store table and its rules (resources.yaml)."""

    name: str
    references: dict[str, str] = field(default_factory=dict)
    joins: dict[str, dict[str, str]] = field(default_factory=dict)
    guarded_by: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    document: str | None = None
    amounts: str | None = None
    number: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    activities: dict[str, Any] = field(default_factory=dict)

    @property
    def status_field(self) -> str | None:
        """The name of the status field, if the resource has one."""
        return self.status.get("field")

    def can_transition(self, old: str, new: str) -> bool:
        """Whether the status may move from `old` to `new` (staying put is always allowed)."""
        return old == new or new in self.status.get("transitions", {}).get(old, [])


@dataclass(frozen=True)
class Spec:
    """Everything loaded from a fixtures directory."""

    root: Path
    enums: dict[str, tuple[str, ...]]
    models: dict[str, Model]
    operations: tuple[Operation, ...]
    resources: dict[str, Resource]
    reference: dict[str, list[Any]]
    seed: dict[str, Any]
    activity_messages: dict[str, Any]
    accounts: tuple[dict[str, Any], ...] = ()
    gateway_payments: dict[str, dict[str, str]] = field(default_factory=dict)

    def enum_index(self, enum: str, value: str) -> int:
        """The integer value of an enum member (its index)."""
        return self.enums[enum].index(value)


def _read(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_LOADER)
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start is not None and mark is not None and start.line != mark.line:
            problem += f" ({context} started on line {start.line + 1})"
        raise SpecError(f"{where}: not valid YAML: {problem}") from None


def parse_type(text: str, enums: dict[str, Any], models: set[str], where: str) -> TypeRef:
    """Parse `int`, `InvoiceStatus`, `ClientDetails` or `[InvoiceItem]`."""
    text = str(text).strip()
    if text.startswith("[") and text.endswith("]"):
        item = parse_type(text[1:-1], enums, models, where)
        return TypeRef("list", str(item), item)
    if text in SCALARS:
        return TypeRef("scalar", text)
    if text in enums:
        return TypeRef("enum", text)
    if text in models:
        return TypeRef("model", text)
    raise SpecError(f"{where}: unknown type {text!r}")


def load_spec(root: Path) -> Spec:
    """Load and cross-check every fixture under `root`."""
    root = Path(root)
    models_file = root / "models.yaml"
    raw = _read(models_file) or {}
    enums = {k: tuple(str(v) for v in vals) for k, vals in (raw.get("enums") or {}).items()}
    raw_models = raw.get("models") or {}
    names = set(raw_models)
    models: dict[str, Model] = {}
    for mname, mfields in raw_models.items():
        if not isinstance(mfields, dict):
            raise SpecError(f"{models_file}: model {mname} must map field names to types")
        models[mname] = Model(
            mname,
            {f: parse_type(t, enums, names, f"{models_file}: {mname}.{f}") for f, t in mfields.items()},
        )

    resources_file = root / "resources.yaml"
    resources: dict[str, Resource] = {}
    for rname, body in (_read(resources_file) or {}).items():
        try:
            resources[rname] = Resource(name=rname, **(body or {}))
        except TypeError as exc:
            raise SpecError(f"{resources_file}: resource {rname}: {exc}") from None

    reference = {t: _read(root / "reference" / f"{t}.yaml") or [] for t in REFERENCE_TABLES}
    routes_file = root / "routes.yaml"
    operations = tuple(
        _operation(entry, enums, names, resources, reference, routes_file)
        for entry in (_read(routes_file) or {}).get("operations") or []
    )
    seen: set[tuple[str, str]] = set()
    for op in operations:
        key = (op.method, op.path.lower())
        if key in seen:
            raise SpecError(f"{routes_file}: {op.method} {op.path} is declared twice")
        seen.add(key)
    for rname, res in resources.items():
        for target in (*res.references.values(), *(j["table"] for j in res.joins.values())):
            if target not in resources and target not in reference:
                raise SpecError(f"{resources_file}: {rname} refers to unknown table {target!r}")
    return Spec(
        root=root,
        enums=enums,
        models=models,
        operations=operations,
        resources=resources,
        reference=reference,
        seed=_read(root / "seed.yaml") or {},
        activity_messages=_read(root / "activities.yaml") or {},
        accounts=_accounts(root / "accounts.yaml"),
        gateway_payments=_gateway_payments(root / "payments.yaml", reference, enums),
    )


def _gateway_payments(
    path: Path, reference: dict[str, list[Any]], enums: dict[str, tuple[str, ...]]
) -> dict[str, dict[str, str]]:
    """How a payment through each gateway is recorded (payments.yaml): one entry per gateway of
    reference/gateways.yaml, each naming a payment type whose activity type exists."""
    raw = (_read(path) or {}).get("gateways") or {}
    known = {g["Name"] for g in reference.get("gateways", [])}
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: gateways must map gateway names to their payment")
    out: dict[str, dict[str, str]] = {}
    for name, entry in raw.items():
        where = f"{path}: gateway {name}"
        if name not in known:
            raise SpecError(f"{where}: not a gateway of reference/gateways.yaml")
        if not isinstance(entry, dict) or set(entry) != {"payment_type", "label"}:
            raise SpecError(f"{where}: needs exactly payment_type and label")
        if f"NewPaymentWith{entry['payment_type']}" not in enums.get("ActivityType", ()):
            raise SpecError(f"{where}: no activity type NewPaymentWith{entry['payment_type']}")
        out[str(name)] = {k: str(v) for k, v in entry.items()}
    missing = sorted(known - set(out))
    if missing:
        raise SpecError(f"{path}: no payment for gateway {', '.join(missing)}")
    return out


def _accounts(path: Path) -> tuple[dict[str, Any], ...]:
    """Accounts declared in the fixtures (optional file)."""
    if not path.exists():
        return ()
    raw = (_read(path) or {}).get("accounts") or []
    out = []
    for i, entry in enumerate(raw):
        where = f"{path}: account #{i + 1}"
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("key"), str)
            or not isinstance(entry.get("secret"), str)
        ):
            raise SpecError(f"{where}: needs a key and a secret")
        hooks = entry.get("webhooks") or []
        if not isinstance(hooks, list) or not all(isinstance(h, str) for h in hooks):
            raise SpecError(f"{where}: webhooks must be a list of URLs")
        if len(hooks) > 10:
            raise SpecError(f"{where}: at most 10 webhooks")
        out.append(
            {
                "key": entry["key"],
                "secret": entry["secret"],
                "webhooks": hooks,
                "webhook_secret": entry.get("webhook_secret"),
            }
        )
    return tuple(out)


def _operation(
    entry: dict[str, Any],
    enums: dict[str, Any],
    models: set[str],
    resources: dict[str, Resource],
    reference: dict[str, Any],
    where_file: Path,
) -> Operation:
    entry = dict(entry)
    op_id = entry.pop("id", None)
    where = f"{where_file}: operation {op_id or entry}"
    try:
        method = str(entry.pop("method")).upper()
        path = str(entry.pop("path"))
        action = str(entry.pop("action"))
    except KeyError as exc:
        raise SpecError(f"{where}: missing {exc.args[0]!r}") from None
    if not op_id:
        raise SpecError(f"{where}: missing 'id'")
    if method not in ("GET", "POST"):
        raise SpecError(f"{where}: method must be GET or POST")
    if action not in ACTIONS:
        raise SpecError(f"{where}: unknown action {action!r}")
    resource = entry.pop("resource", None)
    if resource is not None and resource not in resources:
        raise SpecError(f"{where}: unknown resource {resource!r}")
    if action == "reference" and entry.get("table") not in reference:
        raise SpecError(f"{where}: unknown reference table {entry.get('table')!r}")
    params = tuple(
        Param(
            as_=str(p["as"]),
            names=tuple(p.get("names") or [p["as"]]),
            type=parse_type(p.get("type", "string"), enums, models, f"{where}: query {p['as']}"),
            required=bool(p.get("required", False)),
            default=p.get("default"),
        )
        for p in entry.pop("query", None) or []
    )
    body = entry.pop("body", None)
    view = entry.pop("view", None)
    if view is not None and view not in models:
        raise SpecError(f"{where}: unknown view model {view!r}")
    returns = str(entry.pop("returns", "id" if action in ("delete", "send") else "view"))
    if returns not in RETURNS:
        raise SpecError(f"{where}: unknown returns {returns!r}")
    return Operation(
        id=str(op_id),
        method=method,
        path=path,
        action=action,
        resource=resource,
        query=params,
        body=parse_type(body, enums, models, f"{where}: body") if body else None,
        require=tuple(entry.pop("require", None) or ()),
        returns=returns,
        view=view,
        options=entry,
    )
