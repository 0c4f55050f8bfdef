"""`${name.path}` references: which names a step uses, and their values once saved."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

REF = re.compile(r"\$\{([A-Za-z_][\w]*)((?:\.[\w]+)*)\}")


def refs(value: Any) -> set[str]:
    """The saved names a (nested) step value refers to."""
    if isinstance(value, str):
        return {m.group(1) for m in REF.finditer(value)}
    if isinstance(value, dict):
        return set().union(*(refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(refs(v) for v in value)) if value else set()
    return set()


def resolve(value: Any, saved: dict[str, Any]) -> Any:
    """Replace ${name.path} references with saved values (a whole-string ref keeps its type)."""
    if isinstance(value, str):
        whole = REF.fullmatch(value)
        if whole:
            return _lookup(saved, whole.group(1), whole.group(2))
        return REF.sub(lambda m: str(_lookup(saved, m.group(1), m.group(2))), value)
    if isinstance(value, dict):
        return {k: resolve(v, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, saved) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()  # YAML reads 2024-01-15 as a date; the API wants text
    return value


def _lookup(saved: dict[str, Any], name: str, path: str) -> Any:
    value = saved[name]
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(f"${{{name}{path}}}: no {part!r} in the saved value")
    return value
