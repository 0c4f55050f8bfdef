"""Typed request parsing and response rendering over the models of the spec.

`coerce` turns a decoded request body into clean Python values (or collects every field
error); `Renderer` projects a stored object onto a response model, writing enums as names
or indexes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import orjson

from envoice_mock.clock import iso, parse_iso
from envoice_mock.inputs import ascii_int
from envoice_mock.spec import Spec, TypeRef
from envoice_mock.xmlnodes import xml_empty, xml_list

INT32 = (-(2**31), 2**31 - 1)
# Scalars that are value types in the real (.NET) service: they cannot be null.
VALUE_TYPES = frozenset({"int", "long", "number", "bool", "datetime"})


class FieldError(ValueError):
    """One field of a request is unusable."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class ValidationFailed(ValueError):
    """A request has one or more field errors."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def _join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


@functools.lru_cache(maxsize=4096)
def parse_datetime(value: str) -> str:
    """Normalize an ISO-8601 date or instant to `YYYY-MM-DDTHH:MM:SS+HH:MM` (remembered: clients
    send the same dates again and again)."""
    return iso(parse_iso(value).replace(microsecond=0))


CoerceFn = Callable[[Any, str, list["FieldError"]], Any]
NULL_REFUSED = "cannot be null: send a value or leave the field out"


class Coercer:
    """Validates and converts request values against the spec's types.

    Each type gets its own coercing function, built once: the common case (a value that
    already has the field's type) returns at the first test, and a model's fields are found
    by name in one dict lookup (any letter case is accepted, as the real service does).
    """

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._fns: dict[TypeRef, CoerceFn] = {}
        # Per model: field name (exact, then lower-case) -> (field name, its coercer), built lazily.
        self._plans: dict[str, tuple[dict[str, tuple[str, CoerceFn]], dict[str, tuple[str, CoerceFn]]]] = {}

    def value(self, t: TypeRef, raw: Any, path: str, errors: list[FieldError]) -> Any:
        """Coerce one value; append to `errors` and return None when it is unusable (or absent).

        `null` is refused for numbers, ids, booleans, dates, enums and list items, which are value
        types that a .NET service cannot set to null; it means "absent" for strings, objects and lists.
        """
        fn = self._fns.get(t)
        if fn is None:
            fn = self._fns[t] = self._compile(t)
        return fn(raw, path, errors)

    def model(self, name: str, raw: dict[str, Any], path: str, errors: list[FieldError]) -> dict[str, Any]:
        """Coerce an object of model `name`; unknown fields are ignored, as the real service does."""
        plan = self._plans.get(name)
        if plan is None:
            fields = self.spec.models[name].fields
            exact = {f: (f, self._lazy(t)) for f, t in fields.items()}
            plan = self._plans[name] = (exact, {f.lower(): entry for f, entry in exact.items()})
        exact, lowered = plan
        out: dict[str, Any] = {}
        for key, value in raw.items():
            entry = exact.get(key) if type(key) is str else None
            if entry is None:
                entry = lowered.get(str(key).lower())
                if entry is None:
                    continue
            fname, fn = entry
            coerced = fn(value, f"{path}.{fname}" if path else fname, errors)
            if coerced is not None:
                out[fname] = coerced
        return out

    def _lazy(self, t: TypeRef) -> CoerceFn:
        """The coercer of `t`, compiled on first use (models may refer to each other)."""

        def coerce(raw: Any, path: str, errors: list[FieldError]) -> Any:
            return self.value(t, raw, path, errors)

        if t.kind != "model" and (t.kind != "list" or t.item is None or t.item.kind != "model"):
            return self._fns.setdefault(t, self._compile(t))
        return coerce

    def _compile(self, t: TypeRef) -> CoerceFn:
        kind, name = t.kind, t.name
        value_type = kind == "enum" or (kind == "scalar" and name in VALUE_TYPES)
        quick = _already(t, self.spec)
        slow: Callable[[Any, str, list[FieldError]], Any]
        if kind == "scalar":
            slow = lambda raw, path, errors: self._scalar(name, raw)  # noqa: E731
        elif kind == "enum":
            slow = lambda raw, path, errors: self._enum(name, raw)  # noqa: E731
        elif kind == "list":
            assert t.item is not None
            item = t.item
            slow = lambda raw, path, errors: self._list(item, raw, path, errors)  # noqa: E731
        else:
            slow = lambda raw, path, errors: self._object(name, raw, path, errors)  # noqa: E731

        def coerce(raw: Any, path: str, errors: list[FieldError]) -> Any:
            if quick is not None and quick(raw):
                return raw
            if raw is None:
                if value_type or path.endswith("]"):
                    errors.append(FieldError(path, NULL_REFUSED))
                return None
            try:
                return slow(raw, path, errors)
            except FieldError as exc:
                errors.append(FieldError(path, exc.message))
                return None

        return coerce

    def _list(self, item: TypeRef, raw: Any, path: str, errors: list[FieldError]) -> list[Any]:
        from_xml = xml_list(raw)
        if from_xml is not None:
            raw = from_xml
        elif isinstance(raw, dict) and all(_is_index(k) for k in raw):
            raw = [raw[k] for k in sorted(raw, key=int)]  # form-style Items[0]...
        if not isinstance(raw, list):
            raise FieldError(path, "must be a list")
        return [self.value(item, x, f"{path}[{i}]", errors) for i, x in enumerate(raw)]

    def _object(self, name: str, raw: Any, path: str, errors: list[FieldError]) -> dict[str, Any]:
        if xml_empty(raw):
            raw = {}  # <OrderShippingDetails/>: an object with no fields
        if not isinstance(raw, dict):
            raise FieldError(path, f"must be an object ({name})")
        return self.model(name, raw, path, errors)

    def _scalar(self, name: str, raw: Any) -> Any:
        if name in ("int", "long"):
            if isinstance(raw, bool):
                raise FieldError("", "must be an integer")
            if isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            if isinstance(raw, str):
                raw = _int_text(raw)
            if not isinstance(raw, int):
                raise FieldError("", "must be an integer")
            if name == "int" and not INT32[0] <= raw <= INT32[1]:
                raise FieldError("", "is out of the 32-bit integer range")
            return raw
        if name == "number":
            if isinstance(raw, bool):
                raise FieldError("", "must be a number")
            if isinstance(raw, str):
                try:
                    raw = float(raw.strip())
                except ValueError:
                    raise FieldError("", "must be a number") from None
            if isinstance(raw, int):
                try:
                    raw = float(raw)
                except OverflowError:  # an integer literal too big for a double
                    raise FieldError("", "must be a finite number") from None
            if not isinstance(raw, int | float) or not math.isfinite(raw):
                raise FieldError("", "must be a finite number")
            return float(raw)
        if name == "bool":
            if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
                return raw.strip().lower() == "true"
            if not isinstance(raw, bool):
                raise FieldError("", "must be true or false")
            return raw
        if name == "datetime":
            if not isinstance(raw, str):
                raise FieldError("", "must be an ISO-8601 date, e.g. 2024-01-31T15:19:52+01:00")
            try:
                return parse_datetime(raw)
            except ValueError:
                raise FieldError("", f"{raw!r} is not an ISO-8601 date") from None
        if isinstance(raw, dict | list):
            raise FieldError("", "must be a string")
        if isinstance(raw, str):
            return str(raw)  # a plain str, also for XmlText
        return str(raw).lower() if isinstance(raw, bool) else str(raw)

    def _enum(self, name: str, raw: Any) -> str:
        members = self.spec.enums[name]
        if isinstance(raw, str):
            raw = _int_text(raw)
        if isinstance(raw, int) and not isinstance(raw, bool):
            if 0 <= raw < len(members):
                return members[raw]
        elif isinstance(raw, str):
            for member in members:
                if member.lower() == raw.strip().lower():
                    return member
        raise FieldError(
            "", f"{raw!r} is not one of {', '.join(members)} (or their indexes 0-{len(members) - 1})"
        )


def _already(t: TypeRef, spec: Spec) -> Callable[[Any], bool] | None:
    """A test for a value that already is what `t` coerces to (returned as it is), if any."""
    if t.kind == "enum":
        members = frozenset(spec.enums[t.name])
        return lambda raw: type(raw) is str and raw in members
    if t.kind != "scalar":
        return None
    if t.name == "string":
        return lambda raw: type(raw) is str
    if t.name == "long":
        return lambda raw: type(raw) is int
    if t.name == "int":
        low, high = INT32
        return lambda raw: type(raw) is int and low <= raw <= high
    if t.name == "number":
        return lambda raw: type(raw) is float and math.isfinite(raw)
    if t.name == "bool":
        return lambda raw: type(raw) is bool
    return None


def _is_index(key: Any) -> bool:
    """A form-style list index (`Items[0]`): a few ASCII digits."""
    return isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 9


def _int_text(raw: str) -> Any:
    """An ASCII integer string as an int; anything else unchanged (a FieldError when too long)."""
    try:
        number = ascii_int(raw)
    except ValueError as exc:
        raise FieldError("", str(exc)) from None
    return raw if number is None else number


def check_required(data: dict[str, Any], require: tuple[str, ...], errors: list[FieldError]) -> None:
    """Append an error for each required (possibly dotted) field that is missing."""
    for dotted in require:
        head, _, rest = dotted.partition(".")
        if not rest:
            value = data.get(head)
            if value is None or value == "" or value == []:
                errors.append(FieldError(head, "is required"))
            continue
        for i, item in enumerate(data.get(head) or []):
            if isinstance(item, dict):
                sub: list[FieldError] = []
                check_required(item, (rest,), sub)
                errors.extend(FieldError(f"{head}[{i}].{e.field}", e.message) for e in sub)


Render = Callable[[Any], Any]

# List fields that hold an activity log: entries are only ever appended (or, on a failed write,
# the newest taken back; retention drops the oldest), and an entry never changes once stored.
LOG_FIELDS = frozenset({"Activities"})


class LogMemo:
    """Renders activity logs, remembering the rendered entries of long ones.

    A document updated a thousand times carries a thousand activities in every answer about it;
    rendering them afresh each time made `invoice/update` linear in the document's history.
    The memo keeps, per log (the list object), what was rendered, and renders only the entries
    appended since. It trusts a memo only while the log still starts with the same entry, is at
    least as long, and holds the same entry where the rendered part ended; anything else (a
    taken-back write, a retention trim) renders afresh. Logs shorter than `min_length` are not
    remembered; at most `limit` logs are, the least recently used forgotten first.
    """

    def __init__(self, render_item: Render, min_length: int = 16, limit: int = 2048) -> None:
        self.render_item = render_item
        self.min_length = min_length
        self.limit = limit
        # id(log) -> (log, its first entry, the last entry rendered, the rendered entries, each as
        # JSON or None). The
        # log itself is held, so its id is not reused while remembered.
        self._memo: dict[int, tuple[list[Any], Any, Any, list[Any], list[bytes] | None]] = {}

    def __call__(self, log: list[Any]) -> list[Any]:
        """The rendered entries of `log` (a new list the caller may keep)."""
        render = self.render_item
        if len(log) < self.min_length or type(log) is not list:
            return [render(x) for x in log]
        hit = self._memo.pop(id(log), None)
        if hit is not None and hit[0] is log:
            _, first, last, rendered, encoded = hit
            done = len(rendered)
            if done <= len(log) and log[0] is first and log[done - 1] is last:
                fresh = [render(x) for x in log[done:]]
                rendered.extend(fresh)
                if encoded is not None:
                    encoded.extend(_encoded(fresh) or ())
                    if len(encoded) != len(rendered):
                        encoded = None
                return self._remember(log, rendered, encoded)
        rendered = [render(x) for x in log]
        return self._remember(log, rendered, _encoded(rendered))

    def _remember(self, log: list[Any], rendered: list[Any], encoded: list[bytes] | None) -> list[Any]:
        if len(self._memo) >= self.limit:
            del self._memo[next(iter(self._memo))]
        self._memo[id(log)] = (log, log[0], log[-1], rendered, encoded)
        return RenderedLog(rendered, None if encoded is None else b"[" + b",".join(encoded) + b"]")


class RenderedLog(list[Any]):
    """Rendered log entries (a snapshot: not to be changed), with their JSON array already
    encoded in `json` (None when it could not be): a JSON encoder may use it as it stands."""

    def __init__(self, entries: list[Any], json: bytes | None) -> None:
        super().__init__(entries)
        self.json = json


def _encoded(entries: list[Any]) -> list[bytes] | None:
    """Each rendered entry as compact JSON, as the API's encoder writes it; None when one
    cannot be encoded so (the encoder's own fallback then handles the whole answer)."""
    try:
        return [orjson.dumps(entry, option=orjson.OPT_NON_STR_KEYS) for entry in entries]
    except TypeError:
        return None


def straight_line_render(plan: list[tuple[str, Render | None]]) -> Render:
    """A render function for one model, written out field by field and compiled (as dataclasses
    writes its `__init__`): a loop over the model's fields cost as much again as the fields'
    own work. Field names go in as string literals (`repr`), converters as names bound in
    the function's own namespace, so nothing in a model file is ever run as code."""
    namespace: dict[str, Any] = {}
    lines = ["def render(obj):", "    out = {}", "    get = obj.get"]
    for i, (fname, fn) in enumerate(plan):
        key = repr(fname)
        lines.append(f"    v = get({key})")
        lines.append("    if v is not None:")
        if fn is None:
            lines.append(f"        out[{key}] = v")
        else:
            namespace[f"f{i}"] = fn
            lines.append(f"        out[{key}] = f{i}(v)")
    lines.append("    return out")
    exec(compile("\n".join(lines), "<render>", "exec"), namespace)
    render: Render = namespace["render"]
    return render


class Renderer:
    """Projects stored objects onto response models; compiled once per model and style."""

    def __init__(self, spec: Spec, enum_style: str = "string") -> None:
        self.spec = spec
        self.enum_style = enum_style
        self._compiled: dict[str, Render] = {}
        self._logs: dict[str, LogMemo] = {}

    def render(self, model: str, obj: Any) -> Any:
        """Render `obj` as `model`, leaving out fields that have no value."""
        fn = self._compiled.get(model)
        if fn is None:
            fn = self._compiled[model] = self._compile_model(model)
        return fn(obj)

    def enum(self, enum: str, value: str) -> Any:
        """An enum member in the configured style."""
        return self.spec.enum_index(enum, value) if self.enum_style == "int" else value

    def _compile(self, t: TypeRef) -> Render | None:
        if t.kind == "scalar":
            return None
        if t.kind == "enum":
            if self.enum_style != "int":
                return None
            index = {m: i for i, m in enumerate(self.spec.enums[t.name])}
            return lambda v: index.get(v, v)
        if t.kind == "list":
            assert t.item is not None
            inner = self._compile(t.item)
            if inner is None:
                return list
            return lambda v: [inner(x) for x in v]
        return lambda v: self.render(t.name, v)

    def _compile_log(self, t: TypeRef) -> Render | None:
        """A list field that is an activity log: rendered through a LogMemo."""
        if t.kind != "list" or t.item is None or t.item.kind != "model":
            return self._compile(t)
        item_model = t.item.name
        memo = self._logs.get(item_model)
        if memo is None:
            memo = self._logs[item_model] = LogMemo(lambda v: self.render(item_model, v))
        return memo

    def _compile_model(self, name: str) -> Render:
        plan = [
            (f, self._compile_log(t) if f in LOG_FIELDS else self._compile(t))
            for f, t in self.spec.models[name].fields.items()
        ]
        return straight_line_render(plan)
