"""Start-up steps of the command line that turn what goes wrong into one-line errors.

Every problem a person can cause before a server or a run starts (a missing or malformed
fixtures folder, a state file that cannot be used, a port in use) ends as a SettingsError or
SpecError whose message is one line; the command line prints it and exits 2.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from envoice_mock.config import Settings, SettingsError
from envoice_mock.runtime.wiring import Runtime, build_runtime
from envoice_mock.spec import Spec, SpecError, load_spec


def one_line(exc: BaseException) -> str:
    """The message of an exception on one line (YAML and OS errors span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def existing_dir(path: Path, what: str, flag: str) -> Path:
    """`path` if it is a directory, else a SettingsError naming the flag that set it."""
    if not Path(path).is_dir():
        raise SettingsError(f"{what} directory not found: {path} (set with {flag})")
    return Path(path)


def load_fixtures(path: Path) -> Spec:
    """Load the fixtures; a structural mistake the loader did not foresee is still one line."""
    existing_dir(path, "fixtures", "--fixtures or ENVOICE_MOCK_FIXTURES")
    try:
        return load_spec(path)
    except SpecError:
        raise
    except (AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
        raise SpecError(f"{path}: malformed fixtures ({type(exc).__name__}: {one_line(exc)})") from exc


def start_runtime(settings: Settings) -> Runtime:
    """Load the fixtures and build the runtime (restoring the state file, if any)."""
    spec = load_fixtures(settings.fixtures)
    try:
        return build_runtime(settings, spec=spec)
    except (sqlite3.Error, OSError) as exc:
        if settings.state_file is None:
            raise
        raise SettingsError(f"state file {settings.state_file}: cannot use it: {one_line(exc)}") from exc
