"""Argument types and a parser for the command line that explain a bad value in one line.

argparse reports a failing `type=` function as `invalid parse_duration value: 'fast'`; these
types keep the explanation the environment-variable path gives (`not a duration: 'fast' (use
e.g. 30s, 5m, 2h, 3d)`), and `Parser.error` prints one line instead of usage plus message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from .config import SettingsError, parse_account, parse_duration, parse_instant, parse_retry_schedule


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print `prog: message (see prog --help)` and exit 2."""
        sys.stderr.write(f"{self.prog}: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def explained(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """Wrap a parser raising SettingsError/ValueError so argparse shows its explanation."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (SettingsError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise SettingsError(
            f"a port is a number from 0 to 65535, got {text!r} (0 picks a free one)"
        ) from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"a port is a number from 0 to 65535, got {port} (0 picks a free one)")
    return port


def _integer(what: str, minimum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise SettingsError(f"{what} must be a whole number, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise SettingsError(f"{what} must be {minimum} or more, got {value}")
        return value

    return parse


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(
            f"a clock speed is virtual seconds per real second, e.g. 1, 60 or 0 (frozen); got {text!r}"
        ) from None
    if not 0 <= value < float("inf"):
        raise SettingsError(f"a clock speed must be a finite number, 0 or more; got {text!r}")
    return value


def _status(text: str) -> int:
    value = _integer("an HTTP status")(text)
    if not 100 <= value <= 599:
        raise SettingsError(f"an HTTP status is a number from 100 to 599, got {value}")
    return value


PORT = explained(_port, "port")
SEED = explained(_integer("a seed"), "seed")
COUNT = explained(_integer("a count", minimum=0), "count")
CONCURRENCY = explained(_integer("delivery concurrency", minimum=1), "concurrency")
STATUS = explained(_status, "status")
SPEED = explained(_speed, "speed")
DURATION = explained(parse_duration, "duration")
SCHEDULE = explained(parse_retry_schedule, "schedule")
INSTANT = explained(parse_instant, "instant")
ACCOUNT = explained(parse_account, "account")


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand takes: --debug."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--debug", action="store_true", help="show the full traceback of a start-up error (and debug logs)"
    )
    return parent
