"""Log output of the command line: the standard logging machinery, text or JSON lines.

Loggers: `envoice_mock.http` (one line per request), `envoice_mock.delivery` (one line per
delivery attempt), `envoice_mock.webhook` (webhook state changes), and uvicorn's own. JSON lines
come from python-json-logger, so a CI log collector gets the fields (method, path, status, ms,
account, ...) as keys.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO

LEVELS = ("critical", "error", "warning", "info", "debug")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s"


def _formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%SZ",
            json_ensure_ascii=False,
        )
    return logging.Formatter(TEXT_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")


def configure_logging(level: str = "info", fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Send envoice-mock's and uvicorn's logs to `stream` (stderr) at `level`, as text or JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter = _formatter(fmt)
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    numeric = logging.getLevelName(level.upper())
    logging.getLogger("envoice_mock").setLevel(numeric)
    # uvicorn's start-up chatter repeats the banner; keep its warnings and errors.
    logging.getLogger("uvicorn").setLevel(
        min(numeric, logging.WARNING) if numeric <= logging.DEBUG else logging.WARNING
    )
    logging.getLogger("uvicorn.access").disabled = True
