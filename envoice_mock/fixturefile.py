"""Reading fixture YAML so that every error can name its file and line.

`FixtureFiles.read` loads a file like `yaml.safe_load` (plain dicts and lists), remembering on
which line each mapping, each list and each mapping key starts. `error` then builds a
SpecError that names the file and the line of the object (or key) at fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecError(ValueError):
    """A fixture file is malformed; the message names the file, the line and what is wrong."""


class _LineLoader(_BASE):  # type: ignore[misc,valid-type]  # CSafeLoader has no stubs
    """A safe loader whose mappings and lists note their lines in `files`."""

    files: FixtureFiles
    path: Path


def _map(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[dict[Any, Any]]:
    data: dict[Any, Any] = {}
    loader.files.note(loader.path, data, node, [(k, k.start_mark.line + 1) for k, _ in node.value])
    yield data
    data.update(loader.construct_mapping(node))


def _seq(loader: _LineLoader, node: yaml.SequenceNode) -> Iterator[list[Any]]:
    data: list[Any] = []
    loader.files.note(loader.path, data, node, [])
    yield data
    data.extend(loader.construct_sequence(node))


_LineLoader.add_constructor("tag:yaml.org,2002:map", _map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _seq)


class FixtureFiles:
    """The fixture files read so far, with the line of every mapping, list and key in them."""

    def __init__(self) -> None:
        self._keep: list[Any] = []  # every noted object stays alive, so its id stays its own
        self._lines: dict[int, tuple[Path, int]] = {}
        self._key_lines: dict[int, dict[Any, int]] = {}

    def note(self, path: Path, obj: Any, node: yaml.Node, keys: list[tuple[yaml.Node, int]]) -> None:
        """Remember where `obj` (and each of its keys) starts."""
        self._keep.append(obj)
        self._lines[id(obj)] = (path, node.start_mark.line + 1)
        if keys:
            self._key_lines[id(obj)] = {getattr(k, "value", None): line for k, line in keys}

    def read(self, path: Path) -> Any:
        """The data of one YAML file (None when empty); SpecError when missing or malformed."""
        try:
            with path.open(encoding="utf-8") as handle:
                loader = _LineLoader(handle)
                loader.files, loader.path = self, path
                try:
                    return loader.get_single_data()
                finally:
                    loader.dispose()
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

    def line(self, obj: Any, key: Any = None) -> int | None:
        """The line `obj` (or its `key`) starts on, when it came from a file read here."""
        if key is not None:
            found = self._key_lines.get(id(obj), {}).get(key)
            if found is not None:
                return found
        where = self._lines.get(id(obj))
        return where[1] if where else None

    def error(self, path: Path, message: str, obj: Any = None, key: Any = None) -> SpecError:
        """A SpecError naming the file, what is wrong, and the line of `obj` (or its `key`)."""
        line = self.line(obj, key) if obj is not None else None
        return SpecError(f"{path}: {message}" + (f" (line {line})" if line else ""))

    def check_keys(self, path: Path, obj: Any, allowed: Iterable[str], what: str) -> None:
        """Refuse a mapping with a key outside `allowed` (a misspelt key is an error, not ignored)."""
        if not isinstance(obj, dict):
            raise self.error(path, f"{what} must be a mapping", obj)
        known = set(allowed)
        for key in obj:
            if key not in known:
                raise self.error(
                    path, f"{what}: unknown key {key!r} (known keys: {', '.join(sorted(known))})", obj, key
                )
