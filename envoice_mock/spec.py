"""Loads `fixtures/*.yaml` into frozen objects; fails fast naming the file and the problem."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from envoice_mock.fixturefile import FixtureFiles
from envoice_mock.fixturefile import SpecError as SpecError  # re-exported: callers import it from here

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
MAX_WEBHOOKS = 10  # an account's webhooks at most (the real service's limit)
# Client events that pay a document (the control plane runs the payment flow); the others are
# declared in activities.yaml `client_events`.
PAYMENT_EVENTS = ("pay", "mark-paid")
REFERENCE_TABLES = ("countries", "currencies", "uilanguages", "dateformats", "gateways")


# The keys each kind of fixture entry may have (anything else is a misspelling: an error).
OPERATION_KEYS = frozenset(
    {"id", "method", "path", "action", "resource", "query", "body", "require", "returns", "view"}
    | {"activity", "id_fields", "link", "table"}  # options of some actions
)
# The tables of seed.yaml that seeding draws from (the other keys have defaults).
SEED_TABLES = (
    "invoice_fates",
    "recent_invoice_fates",
    "estimation_fates",
    "order_fates",
    "gateway_sets",
    "notes",
    "products",
)
PARAM_KEYS = frozenset({"as", "names", "type", "required", "default"})
ACCOUNT_KEYS = frozenset({"key", "secret", "webhooks", "webhook_secret"})
ACTIVITY_KEYS = frozenset({"default", "messages", "payment", "client_events", "webhook_fields"})
SEED_KEYS = frozenset(
    {"anchor", "history_days", "counts", "client_currencies", "client_countries", "client_languages"}
    | {"work_types", "taxes", "categories", "invoice_fates", "recent_invoice_fates", "estimation_fates"}
    | {"order_fates", "gateway_sets", "notes", "products"}
)


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
    client_events: dict[str, dict[str, str]] = field(default_factory=dict)  # event -> kind|other -> type
    webhook_fields: tuple[str, ...] = ()  # the Activity fields a webhook body carries, in order

    @property
    def client_event_names(self) -> tuple[str, ...]:
        """Every client event the control plane accepts: the paying ones and the declared ones."""
        return (*PAYMENT_EVENTS, *self.client_events)

    def client_event_activity(self, event: str, kind: str) -> str | None:
        """The activity (or resources.yaml event) a client event records on a `kind`; None: unknown."""
        by_kind = self.client_events.get(event)
        return None if by_kind is None else by_kind.get(kind, by_kind.get("other"))

    def enum_index(self, enum: str, value: str) -> int:
        """The integer value of an enum member (its index)."""
        return self.enums[enum].index(value)


def parse_type(
    text: str, enums: dict[str, Any], models: set[str], where: str, line: int | None = None
) -> TypeRef:
    """Parse `int`, `InvoiceStatus`, `ClientDetails` or `[InvoiceItem]`."""
    text = str(text).strip()
    if text.startswith("[") and text.endswith("]"):
        item = parse_type(text[1:-1], enums, models, where, line)
        return TypeRef("list", str(item), item)
    if text in SCALARS:
        return TypeRef("scalar", text)
    if text in enums:
        return TypeRef("enum", text)
    if text in models:
        return TypeRef("model", text)
    raise SpecError(f"{where}: unknown type {text!r}" + (f" (line {line})" if line else ""))


def load_spec(root: Path) -> Spec:
    """Load and cross-check every fixture under `root`."""
    root = Path(root)
    files = FixtureFiles()
    enums, models = _models(files, root / "models.yaml")
    resources_file = root / "resources.yaml"
    resources = _resources(files, resources_file)
    reference = {t: files.read(root / "reference" / f"{t}.yaml") or [] for t in REFERENCE_TABLES}
    routes_file = root / "routes.yaml"
    operations = tuple(
        _operation(files, entry, enums, set(models), resources, reference, routes_file)
        for entry in (files.read(routes_file) or {}).get("operations") or []
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
                raise files.error(
                    resources_file, f"{rname} refers to unknown table {target!r}", res.references
                )
    activities = _activities(files, root / "activities.yaml", enums)
    return Spec(
        root=root,
        enums=enums,
        models=models,
        operations=operations,
        resources=resources,
        reference=reference,
        seed=_seed(files, root / "seed.yaml", resources),
        activity_messages=activities,
        client_events=_client_events(files, root / "activities.yaml", activities, enums, resources),
        webhook_fields=_webhook_fields(files, root / "activities.yaml", activities),
        accounts=_accounts(files, root / "accounts.yaml"),
        gateway_payments=_gateway_payments(files, root / "payments.yaml", reference, enums),
    )


def _models(files: FixtureFiles, path: Path) -> tuple[dict[str, tuple[str, ...]], dict[str, Model]]:
    """The enums and models of models.yaml."""
    raw = files.read(path) or {}
    files.check_keys(path, raw, ("enums", "models"), "top level")
    enums = {k: tuple(str(v) for v in vals) for k, vals in (raw.get("enums") or {}).items()}
    raw_models = raw.get("models") or {}
    names = set(raw_models)
    models: dict[str, Model] = {}
    for mname, mfields in raw_models.items():
        if not isinstance(mfields, dict):
            raise files.error(path, f"model {mname} must map field names to types", raw_models, mname)
        models[mname] = Model(
            mname,
            {
                f: parse_type(t, enums, names, f"{path}: {mname}.{f}", files.line(mfields, f))
                for f, t in mfields.items()
            },
        )
    return enums, models


def _resources(files: FixtureFiles, path: Path) -> dict[str, Resource]:
    """The tables of resources.yaml and their rules."""
    raw = files.read(path) or {}
    allowed = [f.name for f in fields(Resource) if f.name != "name"]
    resources: dict[str, Resource] = {}
    for rname, body in raw.items():
        files.check_keys(path, body or {}, allowed, f"resource {rname}")
        resources[rname] = Resource(name=rname, **(body or {}))
    return resources


def _activities(files: FixtureFiles, path: Path, enums: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """The message templates of activities.yaml (each for a known activity type)."""
    raw = files.read(path) or {}
    files.check_keys(path, raw, ACTIVITY_KEYS, "top level")
    messages = raw.get("messages") or {}
    for name in messages:
        if name not in enums.get("ActivityType", ()):
            raise files.error(path, f"messages: {name!r} is not an activity type", messages, name)
    return raw  # the parsed mapping itself: later checks name its lines


def _client_events(
    files: FixtureFiles,
    path: Path,
    raw: dict[str, Any],
    enums: dict[str, tuple[str, ...]],
    resources: dict[str, Resource],
) -> dict[str, dict[str, str]]:
    """activities.yaml `client_events`, each as {kind or `other`: activity type or event name}."""
    table = raw.get("client_events") or {}
    named = {e for r in resources.values() for e in r.activities} | set(enums.get("ActivityType", ()))
    out: dict[str, dict[str, str]] = {}
    for event, entry in table.items():
        by_kind = entry if isinstance(entry, dict) else {"other": entry}
        for kind, activity in by_kind.items():
            if kind != "other" and kind not in resources:
                raise files.error(path, f"client_events: {event}: unknown kind {kind!r}", entry, kind)
            if activity not in named:
                where = (entry, kind) if isinstance(entry, dict) else (table, event)
                raise files.error(path, f"client_events: {event}: unknown activity {activity!r}", *where)
        out[str(event)] = {str(k): str(v) for k, v in by_kind.items()}
    return out


def _webhook_fields(files: FixtureFiles, path: Path, raw: dict[str, Any]) -> tuple[str, ...]:
    """activities.yaml `webhook_fields`: the Activity fields a webhook body carries, distinct names."""
    listed = raw.get("webhook_fields")
    if not isinstance(listed, list) or not listed:
        raise files.error(path, "missing 'webhook_fields' (the Activity fields a webhook carries)", raw)
    for name in listed:
        if not isinstance(name, str) or not name.isidentifier() or listed.count(name) > 1:
            raise files.error(
                path, f"webhook_fields: {name!r} is not a distinct field name", raw, "webhook_fields"
            )
    return tuple(listed)


def _seed(files: FixtureFiles, path: Path, resources: dict[str, Resource]) -> dict[str, Any]:
    """seed.yaml: its keys known, its fates statuses of their resource, each order fate reachable."""
    raw = files.read(path) or {}
    files.check_keys(path, raw, SEED_KEYS, "top level")
    for needed in SEED_TABLES:
        if not raw.get(needed):
            raise files.error(path, f"missing {needed!r} (seeding draws from it)", raw)
    for table, kind in (("invoice_fates", "invoice"), ("recent_invoice_fates", "invoice")):
        _check_fates(files, path, raw.get(table) or {}, resources[kind], table, extra=("Overdue",))
    _check_fates(files, path, raw.get("estimation_fates") or {}, resources["estimation"], "estimation_fates")
    order_fates = raw.get("order_fates") or {}
    _check_fates(files, path, order_fates, resources["order"], "order_fates")
    transitions = resources["order"].status.get("transitions", {})
    for fate, entry in order_fates.items():
        files.check_keys(path, entry, ("weight", "via"), f"order_fates: {fate}")
        for stop in entry.get("via") or []:
            if stop not in transitions:
                raise files.error(path, f"order_fates: {fate}: via {stop!r} is not an order status", entry)
    return dict(raw)


def _check_fates(
    files: FixtureFiles,
    path: Path,
    table: dict[str, Any],
    res: Resource,
    what: str,
    extra: tuple[str, ...] = (),
) -> None:
    statuses = set(res.status.get("transitions", {})) | set(extra)
    for fate in table:
        if fate not in statuses:
            raise files.error(path, f"{what}: {fate!r} is not a {res.name} status", table, fate)


def _gateway_payments(
    files: FixtureFiles, path: Path, reference: dict[str, list[Any]], enums: dict[str, tuple[str, ...]]
) -> dict[str, dict[str, str]]:
    """How a payment through each gateway is recorded (payments.yaml): one entry per gateway of
    reference/gateways.yaml, each naming a payment type whose activity type exists."""
    raw = files.read(path) or {}
    files.check_keys(path, raw, ("gateways",), "top level")
    gateways = raw.get("gateways") or {}
    known = {g["Name"] for g in reference.get("gateways", [])}
    out: dict[str, dict[str, str]] = {}
    for name, entry in gateways.items():
        if name not in known:
            raise files.error(
                path, f"gateway {name}: not a gateway of reference/gateways.yaml", gateways, name
            )
        files.check_keys(path, entry, ("payment_type", "label"), f"gateway {name}")
        if f"NewPaymentWith{entry.get('payment_type')}" not in enums.get("ActivityType", ()):
            raise files.error(
                path, f"gateway {name}: no activity type NewPaymentWith{entry.get('payment_type')}", entry
            )
        out[str(name)] = {k: str(v) for k, v in entry.items()}
    missing = sorted(known - set(out))
    if missing:
        raise files.error(path, f"no payment for gateway {', '.join(missing)}", gateways)
    return out


def _accounts(files: FixtureFiles, path: Path) -> tuple[dict[str, Any], ...]:
    """Accounts declared in the fixtures (optional file)."""
    if not path.exists():
        return ()
    raw = (files.read(path) or {}).get("accounts") or []
    out = []
    for i, entry in enumerate(raw):
        what = f"account #{i + 1}"
        files.check_keys(path, entry, ACCOUNT_KEYS, what)
        if not isinstance(entry.get("key"), str) or not isinstance(entry.get("secret"), str):
            raise files.error(path, f"{what}: needs a key and a secret", entry)
        hooks = entry.get("webhooks") or []
        if not isinstance(hooks, list) or not all(isinstance(h, str) for h in hooks):
            raise files.error(path, f"{what}: webhooks must be a list of URLs", entry, "webhooks")
        if len(hooks) > MAX_WEBHOOKS:
            raise files.error(path, f"{what}: at most {MAX_WEBHOOKS} webhooks", entry, "webhooks")
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
    files: FixtureFiles,
    entry: dict[str, Any],
    enums: dict[str, Any],
    models: set[str],
    resources: dict[str, Resource],
    reference: dict[str, Any],
    where_file: Path,
) -> Operation:
    """One entry of routes.yaml, checked key by key."""
    original = entry
    op_id = entry.get("id")
    what = f"operation {op_id or entry}"
    files.check_keys(where_file, entry, OPERATION_KEYS, what)
    entry = dict(entry)
    entry.pop("id", None)

    def fail(message: str, key: str | None = None) -> SpecError:
        return files.error(where_file, f"{what}: {message}", original, key)

    try:
        method = str(entry.pop("method")).upper()
        path = str(entry.pop("path"))
        action = str(entry.pop("action"))
    except KeyError as exc:
        raise fail(f"missing {exc.args[0]!r}") from None
    if not op_id:
        raise fail("missing 'id'")
    if method not in ("GET", "POST"):
        raise fail("method must be GET or POST", "method")
    if action not in ACTIONS:
        raise fail(f"unknown action {action!r}", "action")
    resource = entry.pop("resource", None)
    if resource is not None and resource not in resources:
        raise fail(f"unknown resource {resource!r}", "resource")
    _check_options(fail, action, entry, enums, reference)
    params = tuple(_param(files, p, enums, models, where_file, what) for p in entry.pop("query", None) or [])
    body = entry.pop("body", None)
    view = entry.pop("view", None)
    if view is not None and view not in models:
        raise fail(f"unknown view model {view!r}", "view")
    returns = str(entry.pop("returns", "id" if action in ("delete", "send") else "view"))
    if returns not in RETURNS:
        raise fail(f"unknown returns {returns!r}", "returns")
    return Operation(
        id=str(op_id),
        method=method,
        path=path,
        action=action,
        resource=resource,
        query=params,
        body=parse_type(body, enums, models, f"{where_file}: {what}: body", files.line(original, "body"))
        if body
        else None,
        require=tuple(entry.pop("require", None) or ()),
        returns=returns,
        view=view,
        options=entry,
    )


def _check_options(
    fail: Callable[[str, str], SpecError],
    action: str,
    entry: dict[str, Any],
    enums: dict[str, Any],
    reference: dict[str, Any],
) -> None:
    """The options of an operation name a reference table and an activity type that exist."""
    if action == "reference" and entry.get("table") not in reference:
        raise fail(f"unknown reference table {entry.get('table')!r}", "table")
    if "activity" in entry and entry["activity"] not in enums.get("ActivityType", ()):
        raise fail(f"unknown activity type {entry['activity']!r}", "activity")


def _param(
    files: FixtureFiles, p: Any, enums: dict[str, Any], models: set[str], where_file: Path, what: str
) -> Param:
    """A query parameter of an operation."""
    files.check_keys(where_file, p, PARAM_KEYS, f"{what}: query parameter")
    if "as" not in p:
        raise files.error(where_file, f"{what}: a query parameter needs 'as'", p)
    return Param(
        as_=str(p["as"]),
        names=tuple(p.get("names") or [p["as"]]),
        type=parse_type(
            p.get("type", "string"), enums, models, f"{where_file}: {what}: query {p['as']}", files.line(p)
        ),
        required=bool(p.get("required", False)),
        default=p.get("default"),
    )
