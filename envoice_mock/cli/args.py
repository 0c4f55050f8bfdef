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

from envoice_mock.config import (
    SettingsError,
    number,
    parse_account,
    parse_concurrency,
    parse_duration,
    parse_instant,
    parse_max_accounts,
    parse_port,
    parse_retry_schedule,
    parse_seed,
    parse_speed,
)


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


PORT = explained(parse_port, "port")
SEED = explained(parse_seed, "seed")
COUNT = explained(number(int, 0, 10**9, "a count is a whole number, 0 or more"), "count")
CONCURRENCY = explained(parse_concurrency, "concurrency")
STATUS = explained(number(int, 100, 599, "an HTTP status is a number from 100 to 599"), "status")
SPEED = explained(parse_speed, "speed")
DURATION = explained(parse_duration, "duration")
SCHEDULE = explained(parse_retry_schedule, "schedule")
INSTANT = explained(parse_instant, "instant")
MAX_ACCOUNTS = explained(parse_max_accounts, "max_accounts")
ACCOUNT = explained(parse_account, "account")


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand takes: --debug."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--debug", action="store_true", help="show the full traceback of a start-up error (and debug logs)"
    )
    return parent
