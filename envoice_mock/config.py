"""Settings: one frozen object built from CLI flags, environment variables and defaults."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from envoice_mock.bundled import bundled_dir
from envoice_mock.clock import parse_iso

# Shipped inside the package (a wheel) or mapped to the checkout (an editable install).
DEFAULT_FIXTURES = bundled_dir("fixtures")
DEFAULT_SCENARIOS = bundled_dir("scenarios")
DEFAULT_KEY = "sandbox-key"
DEFAULT_SECRET = "sandbox-secret"
DEFAULT_SEED = 20240101
ENV_PREFIX = "ENVOICE_MOCK_"

# The retry schedules a user can name instead of listing delays (seconds).
RETRY_PRESETS: dict[str, tuple[float, ...]] = {
    "default": (1, 2, 4, 8, 16),
    "realistic": (60, 300, 1800, 3600, 7200, 21600, 43200),
    "none": (),
}


class SettingsError(ValueError):
    """A flag or environment variable has a value we cannot use."""


def parse_retry_schedule(text: str) -> tuple[float, ...]:
    """Parse `1,2,4` or a preset name into a tuple of delays in seconds."""
    text = text.strip()
    if text in RETRY_PRESETS:
        return RETRY_PRESETS[text]
    try:
        delays = tuple(parse_duration(part) for part in text.split(",") if part.strip())
    except SettingsError as exc:
        raise SettingsError(
            f"retry schedule {text!r}: {exc}; or name a preset: {', '.join(RETRY_PRESETS)}"
        ) from None
    return delays


MAX_DURATION = 100 * 365 * 86400.0
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | float | int) -> float:
    """Parse `90`, `1.5s`, `250ms`, `10m`, `2h` or `3d` into seconds."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise SettingsError(f"not a duration: {text!r} (use e.g. 30s, 5m, 2h, 3d or a number of seconds)")
    if isinstance(text, int | float):
        value = float(text)
    else:
        raw = text.strip().lower()
        unit = next((u for u in ("ms", "s", "m", "h", "d") if raw.endswith(u)), "")
        number = raw[: len(raw) - len(unit)] if unit else raw
        try:
            value = float(number) * _UNITS.get(unit, 1)
        except ValueError:
            raise SettingsError(f"not a duration: {text!r} (use e.g. 30s, 5m, 2h, 3d)") from None
    if not math.isfinite(value) or value < 0:
        raise SettingsError(f"a duration must be a finite number of seconds, 0 or more: {text!r}")
    if value > MAX_DURATION:
        raise SettingsError(f"a duration of more than 100 years is not useful here: {text!r}")
    return value


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 instant; a missing offset means UTC."""
    try:
        value = parse_iso(text)
    except ValueError:
        raise SettingsError(f"not an ISO-8601 instant: {text!r}") from None
    if value.year > 9000:  # leaves the virtual clock room to advance and run without overflowing
        raise SettingsError(f"an instant after the year 9000 is not useful here: {text!r}")
    return value


def number(kind: Callable[[str], float], low: float, high: float, explain: str) -> Callable[[str], Any]:
    """A parser of `kind` (int or float) between low and high; any other text gets `explain`."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise SettingsError(f"{explain}, got {text!r}") from None
        if not low <= value <= high:  # NaN fails this too
            raise SettingsError(f"{explain}, got {text!r}")
        return value

    return parse


parse_port = number(int, 0, 65535, "a port is a number from 0 to 65535 (0 picks a free one)")
parse_seed = number(int, -(2**63), 2**63 - 1, "a seed is a whole number")
parse_concurrency = number(int, 1, 10_000, "delivery concurrency is a whole number from 1")
parse_max_accounts = number(int, 1, 10**9, "max accounts is a whole number from 1")
parse_speed = number(
    float, 0, 1e9, "a clock speed is virtual seconds per real second, e.g. 1, 60 or 0 (frozen)"
)


def parse_account(text: str) -> tuple[str, str]:
    """Parse `KEY:SECRET`."""
    key, sep, secret = text.partition(":")
    if not sep or not key or not secret:
        raise SettingsError(f"an account is KEY:SECRET, got {text!r}")
    return key, secret


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know, fixed at start."""

    host: str = "127.0.0.1"
    port: int = 8080
    seed: int = DEFAULT_SEED
    accounts: tuple[tuple[str, str], ...] = ()
    any_key: bool = False
    # Enums as indexes by default: the vendor's examples and its WordPress plugin read integers.
    enum_style: str = "int"
    fixtures: Path = DEFAULT_FIXTURES
    scenarios: Path = DEFAULT_SCENARIOS
    public_url: str = ""
    webhooks: tuple[str, ...] = ()
    retry_schedule: tuple[float, ...] = RETRY_PRESETS["default"]
    probe_interval: float = 10.0
    delivery_timeout: float = 5.0
    delivery_concurrency: int = 1
    request_timeout: float = 10.0  # a client must finish sending each request within this
    state_file: Path | None = None
    clock_start: datetime | None = None
    clock_speed: float = 1.0
    max_body_bytes: int = 1024 * 1024
    max_accounts: int = 5000  # all the server holds, sandbox-key too (limits.DEFAULT_MAX_ACCOUNTS)
    log_level: str = "info"
    log_format: str = "text"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.enum_style not in ("string", "int"):
            raise SettingsError(f"enum style must be 'string' or 'int', got {self.enum_style!r}")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port out of range: {self.port}")
        if self.probe_interval <= 0:
            raise SettingsError("probe interval must be positive")
        if self.delivery_timeout <= 0:
            raise SettingsError("delivery timeout must be positive")
        if self.request_timeout <= 0:
            raise SettingsError("request timeout must be positive")
        if self.delivery_concurrency < 1:
            raise SettingsError("delivery concurrency must be 1 or more")
        if self.clock_speed < 0:
            raise SettingsError("clock speed cannot be negative")
        if self.log_level not in ("critical", "error", "warning", "info", "debug"):
            raise SettingsError(
                f"log level must be one of critical, error, warning, info, debug; got {self.log_level!r}"
            )
        if self.public_url and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", self.public_url):
            raise SettingsError(f"a public URL is http(s)://host[:port][/path], got {self.public_url!r}")
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"log format must be 'text' or 'json', got {self.log_format!r}")
        if self.max_accounts < 1:
            raise SettingsError(f"max accounts must be 1 or more, got {self.max_accounts}")

    @property
    def base_url(self) -> str:
        """The URL that share links and webhook Links point at."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (self.public_url or f"http://{host}:{self.port}").rstrip("/")

    @property
    def all_accounts(self) -> tuple[tuple[str, str], ...]:
        """The default sandbox account first, then the extra ones."""
        extra = tuple(a for a in self.accounts if a[0] != DEFAULT_KEY)
        return ((DEFAULT_KEY, DEFAULT_SECRET), *extra)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)


# How each field is read from an environment variable ENVOICE_MOCK_<NAME>.
_ENV_PARSERS: dict[str, Any] = {
    "host": str,
    "port": parse_port,
    "seed": parse_seed,
    "accounts": lambda v: tuple(parse_account(a) for a in v.split(",") if a.strip()),
    "any_key": lambda v: v.strip().lower() in ("1", "true", "yes", "on"),
    "enum_style": lambda v: v.strip().lower(),
    "fixtures": Path,
    "scenarios": Path,
    "public_url": str,
    "webhooks": lambda v: tuple(u.strip() for u in v.split(",") if u.strip()),
    "retry_schedule": parse_retry_schedule,
    "probe_interval": parse_duration,
    "delivery_timeout": parse_duration,
    "delivery_concurrency": parse_concurrency,
    "request_timeout": parse_duration,
    "state_file": Path,
    "clock_start": parse_instant,
    "clock_speed": parse_speed,
    "max_body_bytes": int,
    "max_accounts": parse_max_accounts,
    "log_level": str.lower,
    "log_format": str.lower,
}


def data_dirs_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Path]:
    """The fixtures and scenario folders named by ENVOICE_MOCK_FIXTURES / ENVOICE_MOCK_SCENARIOS, if set."""
    environ = os.environ if environ is None else environ
    names = {"fixtures": "ENVOICE_MOCK_FIXTURES", "scenarios": "ENVOICE_MOCK_SCENARIOS"}
    return {field: Path(environ[var]) for field, var in names.items() if environ.get(var)}


def settings_from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from ENVOICE_MOCK_* variables, then apply explicit overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = environ.get(ENV_PREFIX + f.name.upper())
        if raw is None or f.name not in _ENV_PARSERS:
            continue
        try:
            values[f.name] = _ENV_PARSERS[f.name](raw)
        except (ValueError, SettingsError) as exc:
            raise SettingsError(f"{ENV_PREFIX}{f.name.upper()}={raw!r}: {exc}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
