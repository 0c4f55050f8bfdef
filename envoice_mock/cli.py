"""`envoice-mock serve | scenario | sink`: the command line, on top of uvicorn."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from .config import (
    DEFAULT_FIXTURES,
    SettingsError,
    parse_account,
    parse_duration,
    parse_instant,
    parse_retry_schedule,
    settings_from_env,
)


def _serve_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the mock API server")
    p.add_argument("--host", help="address to bind (default 127.0.0.1; env ENVOICE_MOCK_HOST)")
    p.add_argument("--port", type=int, help="port (default 8080; 0 picks a free one; env ENVOICE_MOCK_PORT)")
    p.add_argument(
        "--seed", type=int, help="seed for all generated data (default fixed; env ENVOICE_MOCK_SEED)"
    )
    p.add_argument(
        "--account",
        action="append",
        type=parse_account,
        metavar="KEY:SECRET",
        help="add an account beside sandbox-key:sandbox-secret (repeatable)",
    )
    p.add_argument(
        "--any-key",
        action="store_true",
        default=None,
        help="every unseen key/secret pair gets its own fresh, seeded account",
    )
    p.add_argument("--enum-style", choices=["string", "int"], help="enums as names (default) or indexes")
    p.add_argument("--fixtures", help=f"fixtures directory (default {DEFAULT_FIXTURES})")
    p.add_argument("--public-url", help="base URL used in share links (default http://HOST:PORT)")
    p.add_argument(
        "--webhook", action="append", metavar="URL", help="register a webhook on the default account"
    )
    p.add_argument(
        "--retry-schedule",
        type=parse_retry_schedule,
        help="delays between attempts, e.g. 1,2,4,8,16 (default), or a preset: realistic, none",
    )
    p.add_argument(
        "--probe-interval", type=parse_duration, help="how often a failing webhook is probed (10s)"
    )
    p.add_argument("--delivery-timeout", type=parse_duration, help="how long a receiver may take (5s)")
    p.add_argument("--state-file", help="SQLite file that keeps state across restarts (default: memory only)")
    p.add_argument("--clock-start", type=parse_instant, help="start the clock at this instant (virtual time)")
    p.add_argument(
        "--clock-speed", type=float, help="virtual seconds per real second (0 = frozen; default 1)"
    )
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"], help="log level")


def serve(args: argparse.Namespace) -> int:
    """Start uvicorn with the app; print what was loaded."""
    import socket

    import uvicorn

    from .app import create_app, describe
    from .runtime import build_runtime

    overrides = {
        "host": args.host,
        "port": args.port,
        "seed": args.seed,
        "accounts": tuple(args.account) if args.account else None,
        "any_key": args.any_key,
        "enum_style": args.enum_style,
        "fixtures": args.fixtures,
        "public_url": args.public_url,
        "webhooks": tuple(args.webhook) if args.webhook else None,
        "retry_schedule": args.retry_schedule,
        "probe_interval": args.probe_interval,
        "delivery_timeout": args.delivery_timeout,
        "state_file": args.state_file,
        "clock_start": args.clock_start,
        "clock_speed": args.clock_speed,
        "log_level": args.log_level,
    }
    settings = settings_from_env(**overrides)
    if (
        settings.clock_start is not None
        and args.clock_speed is None
        and "ENVOICE_MOCK_CLOCK_SPEED" not in __import__("os").environ
    ):
        settings = settings.with_(clock_speed=0.0)
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(2048)  # connections made before uvicorn starts wait in the backlog, not refused
    settings = settings.with_(port=sock.getsockname()[1])
    from pathlib import Path

    if settings.fixtures and not isinstance(settings.fixtures, Path):
        settings = settings.with_(fixtures=Path(settings.fixtures))
    if settings.state_file and not isinstance(settings.state_file, Path):
        settings = settings.with_(state_file=Path(settings.state_file))
    runtime = build_runtime(settings)
    info = describe(runtime)
    print(
        f"envoice-mock: {info['operations']} operations, {info['models']} models, seed {info['seed']}, "
        f"accounts {', '.join(info['accounts'])}{' (+ any key)' if settings.any_key else ''}",
        flush=True,
    )
    print(
        f"envoice-mock: listening on {settings.base_url}  (health: {settings.base_url}/_mock/health)",
        flush=True,
    )
    config = uvicorn.Config(
        create_app(runtime=runtime), log_level=settings.log_level, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `envoice-mock` command."""
    parser = argparse.ArgumentParser(prog="envoice-mock", description="Offline sandbox of the Envoice API v1")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    try:
        from .scenario_cli import add_scenario_commands
    except ImportError:
        add_scenario_commands = None
    if add_scenario_commands:
        add_scenario_commands(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
        return int(args.handler(args))
    except SettingsError as exc:
        print(f"envoice-mock: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
