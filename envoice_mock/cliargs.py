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


PORT = explained(number(int, 0, 65535, "a port is a number from 0 to 65535 (0 picks a free one)"), "port")
SEED = explained(number(int, -(2**63), 2**63 - 1, "a seed is a whole number"), "seed")
COUNT = explained(number(int, 0, 10**9, "a count is a whole number, 0 or more"), "count")
CONCURRENCY = explained(
    number(int, 1, 10_000, "delivery concurrency is a whole number from 1"), "concurrency"
)
STATUS = explained(number(int, 100, 599, "an HTTP status is a number from 100 to 599"), "status")
SPEED = explained(
    number(float, 0, 1e9, "a clock speed is virtual seconds per real second, e.g. 1, 60 or 0 (frozen)"),
    "speed",
)
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
