"""`envoice-mock serve | scenario | sink`: the command line, on top of uvicorn.

Whatever a person gets wrong before a server or a run starts is one line on stderr and exit
status 2 (`--debug` adds the traceback); a server logs through the standard logging machinery.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from envoice_mock import __version__
from envoice_mock.cli.args import (
    ACCOUNT,
    CONCURRENCY,
    COUNT,
    DURATION,
    INSTANT,
    MAX_ACCOUNTS,
    PORT,
    SCHEDULE,
    SEED,
    SPEED,
    STATUS,
    Parser,
    common_options,
)
from envoice_mock.config import Settings, SettingsError
from envoice_mock.logconfig import FORMATS, LEVELS


def _serve_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    # Long only because it is a flat list of the flags, one declaration each (the README's table).
    p = sub.add_parser("serve", help="run the mock API server", parents=[common])
    p.add_argument("--host", help="address to bind (default 127.0.0.1; env ENVOICE_MOCK_HOST)")
    p.add_argument("--port", type=PORT, help="port (default 8080; 0 picks a free one; env ENVOICE_MOCK_PORT)")
    p.add_argument(
        "--seed", type=SEED, help="seed for all generated data (default fixed; env ENVOICE_MOCK_SEED)"
    )
    p.add_argument(
        "--account",
        action="append",
        type=ACCOUNT,
        metavar="KEY:SECRET",
        help="add an account beside sandbox-key:sandbox-secret (repeatable)",
    )
    p.add_argument(
        "--any-key",
        action="store_true",
        default=None,
        help="every unseen key/secret pair gets its own fresh, seeded account",
    )
    p.add_argument(
        "--max-accounts",
        type=MAX_ACCOUNTS,
        help="how many accounts the server holds in all, sandbox-key included (default 5000; env ENVOICE_MOCK_MAX_ACCOUNTS)",
    )
    p.add_argument(
        "--enum-style",
        choices=["string", "int"],
        help="enums as indexes (default, as the real service sends them) or names (as the description lists them)",
    )
    p.add_argument("--fixtures", help="fixtures directory (default: the ones shipped with the package)")
    p.add_argument("--scenarios", help="scenario directory of the control API (default: the built-in ones)")
    p.add_argument("--public-url", help="base URL used in share links (default http://HOST:PORT)")
    p.add_argument(
        "--webhook", action="append", metavar="URL", help="register a webhook on the default account"
    )
    p.add_argument(
        "--retry-schedule",
        type=SCHEDULE,
        help="delays between attempts, e.g. 1,2,4,8,16 (default), or a preset: realistic, none",
    )
    p.add_argument("--probe-interval", type=DURATION, help="how often a failing webhook is probed (10s)")
    p.add_argument("--delivery-timeout", type=DURATION, help="how long a receiver may take (5s)")
    p.add_argument(
        "--delivery-concurrency",
        type=CONCURRENCY,
        help="attempts in flight per webhook (default 1: a healthy receiver sees activities in order)",
    )
    p.add_argument(
        "--request-timeout",
        type=DURATION,
        help="a client must finish sending a request within this; slow or silent connections are closed (10s)",
    )
    p.add_argument("--state-file", help="SQLite file that keeps state across restarts (default: memory only)")
    p.add_argument("--clock-start", type=INSTANT, help="start the clock at this instant (virtual time)")
    p.add_argument(
        "--clock-speed", type=SPEED, help="virtual seconds per real second (0 = frozen; default 1)"
    )
    p.add_argument("--log-level", choices=LEVELS, help="log level (default info; env ENVOICE_MOCK_LOG_LEVEL)")
    p.add_argument(
        "--log-format",
        choices=FORMATS,
        help="text lines or JSON lines (default text; env ENVOICE_MOCK_LOG_FORMAT)",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no request or delivery lines (warnings and errors only)"
    )


def tune_gc() -> None:
    """Keep garbage-collection pauses out of request latency (see cli/gcpacing.py)."""
    from envoice_mock.cli.gcpacing import PACER

    PACER.install()


def serve_settings(args: argparse.Namespace) -> Settings:
    """Settings from the flags of `serve`, over the environment and the defaults."""
    from envoice_mock.config import settings_from_env

    overrides = {
        "host": args.host,
        "port": args.port,
        "seed": args.seed,
        "accounts": tuple(args.account) if args.account else None,
        "any_key": args.any_key,
        "max_accounts": args.max_accounts,
        "enum_style": args.enum_style,
        "fixtures": Path(args.fixtures) if args.fixtures else None,
        "scenarios": Path(args.scenarios) if args.scenarios else None,
        "public_url": args.public_url,
        "webhooks": tuple(args.webhook) if args.webhook else None,
        "retry_schedule": args.retry_schedule,
        "probe_interval": args.probe_interval,
        "delivery_timeout": args.delivery_timeout,
        "delivery_concurrency": args.delivery_concurrency,
        "request_timeout": args.request_timeout,
        "state_file": Path(args.state_file) if args.state_file else None,
        "clock_start": args.clock_start,
        "clock_speed": args.clock_speed,
        "log_level": "debug" if args.debug else "warning" if args.quiet else args.log_level,
        "log_format": args.log_format,
    }
    settings = settings_from_env(**overrides)
    if (
        settings.clock_start is not None
        and args.clock_speed is None
        and "ENVOICE_MOCK_CLOCK_SPEED" not in os.environ
    ):
        settings = settings.with_(clock_speed=0.0)
    return settings


def serve(args: argparse.Namespace) -> int:
    """Bind the port, build the runtime, print the banner, then run uvicorn until stopped."""
    import json

    from envoice_mock.api.app import create_app
    from envoice_mock.api.serverlog import DeliveryLog, RequestLog
    from envoice_mock.cli.banner import banner_fields, banner_lines
    from envoice_mock.cli.listen import bind_listener
    from envoice_mock.cli.serving import MockServer
    from envoice_mock.cli.startup import existing_dir, start_runtime
    from envoice_mock.logconfig import configure_logging

    settings = serve_settings(args)
    configure_logging(settings.log_level, settings.log_format)
    existing_dir(settings.scenarios, "scenarios", "--scenarios or ENVOICE_MOCK_SCENARIOS")
    sock = bind_listener(settings.host, settings.port)
    settings = settings.with_(port=sock.getsockname()[1])
    runtime = start_runtime(settings)
    tune_gc()
    app = create_app(runtime=runtime)
    states = {
        hook["Id"]: hook["State"]
        for account in runtime.store.accounts.values()
        for hook in runtime.webhooks.describe(account)
    }
    runtime.webhooks.listeners.append(DeliveryLog(states))  # restored webhooks may start failing
    fields = banner_fields(runtime, __version__, {getattr(r, "path", "") for r in app.routes})
    if settings.log_format == "json":
        print(json.dumps({"event": "listening", **fields}, ensure_ascii=False), flush=True)
    else:
        print("\n".join(banner_lines(fields)), flush=True)
    MockServer(RequestLog(app), runtime, log_config=None, access_log=False).run(sockets=[sock])
    return 0


def _scenario_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("scenario", help="list or run scripted webhook stories")
    ssub = p.add_subparsers(dest="scenario_command", metavar="{list,run}", required=True, parser_class=Parser)
    ls = ssub.add_parser("list", help="the built-in scenarios", parents=[common])
    run = ssub.add_parser("run", help="run a scenario against your receiver", parents=[common])
    run.add_argument("scenario", help="a built-in name or a path to a .yaml file")
    run.add_argument("--target", required=True, help="your webhook receiver URL")
    run.add_argument("--seed", type=SEED, help="override the scenario's seed (printed at the start)")
    run.add_argument("--server", help="drive a running mock at this URL instead of an embedded one")
    run.add_argument(
        "--speed",
        type=SPEED,
        default=0.0,
        help="virtual seconds per real second; 0 (default) jumps through waits instantly",
    )
    run.add_argument("--json", action="store_true", help="print a machine-readable report on stdout")
    run.add_argument(
        "--timings",
        action="store_true",
        help="with --json: include measured durations (they vary run to run)",
    )
    run.add_argument("--verbose", action="store_true", help="print every delivery attempt, not just progress")
    for q in (ls, run):
        q.add_argument(
            "--scenarios", help="scenario directory (default: the built-in ones; env ENVOICE_MOCK_SCENARIOS)"
        )
        q.add_argument(
            "--fixtures", help="fixtures directory (default: the shipped ones; env ENVOICE_MOCK_FIXTURES)"
        )


def scenario_command(args: argparse.Namespace) -> int:
    """`scenario list` and `scenario run`."""
    from envoice_mock.cli.scenario import list_scenarios, run_scenario

    if args.scenario_command == "list":
        return list_scenarios(args)
    return run_scenario(args)


def _sink_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sink", help="a webhook receiver that records, verifies and can fail on purpose", parents=[common]
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=PORT, default=9000, help="port (default 9000; 0 picks a free one)")
    p.add_argument(
        "--secret", default="sandbox-secret", help="signing secret to verify with (default sandbox-secret)"
    )
    p.add_argument(
        "--fail-first", type=COUNT, default=0, help="answer the first N deliveries with --fail-status"
    )
    p.add_argument("--fail-status", type=STATUS, default=503, help="the failing status (default 503)")
    p.add_argument("--fail-for", type=DURATION, help="fail everything for this long after start, e.g. 30s")
    p.add_argument("--accept-invalid", action="store_true", help="answer 200 even to a bad signature")


def sink_command(args: argparse.Namespace) -> int:
    """Run the receiver in the foreground, one line per arrival."""
    import time

    import uvicorn

    from envoice_mock.cli.listen import bind_listener
    from envoice_mock.logconfig import configure_logging
    from envoice_mock.sink import Behaviour, SinkState, create_sink_app

    configure_logging("debug" if args.debug else "warning")
    behaviour = Behaviour(
        fail_first=args.fail_first,
        fail_status=args.fail_status,
        fail_until=time.monotonic() + args.fail_for if args.fail_for else None,
        reject_invalid=not args.accept_invalid,
    )
    state = SinkState(secret=args.secret, behaviour=behaviour, printer=lambda line: print(line, flush=True))
    sock = bind_listener(args.host, args.port)
    host, port = sock.getsockname()[:2]
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    print(f"envoice-mock sink: POST {base}/hook  (received: {base}/_sink/received)", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_sink_app(state), log_config=None, access_log=False))
    server.run(sockets=[sock])
    return 0


def build_parser() -> Parser:
    """The `envoice-mock` argument parser."""
    parser = Parser(prog="envoice-mock", description="Offline sandbox of the Envoice API v1")
    parser.add_argument("--version", action="version", version=f"envoice-mock {__version__}")
    common = common_options()
    sub = parser.add_subparsers(
        dest="command", metavar="{serve,scenario,sink}", required=True, parser_class=Parser
    )
    _serve_parser(sub, common)
    _scenario_parser(sub, common)
    _sink_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `envoice-mock` command."""
    from envoice_mock.cli.startup import one_line
    from envoice_mock.scenarios.errors import ScenarioError
    from envoice_mock.spec import SpecError

    args = build_parser().parse_args(argv)
    commands = {"serve": serve, "scenario": scenario_command, "sink": sink_command}
    debug = args.debug or getattr(args, "log_level", None) == "debug"
    try:
        return commands[args.command](args)
    except (SettingsError, SpecError, ScenarioError) as exc:
        if debug:
            traceback.print_exc()
        print(f"envoice-mock: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `envoice-mock scenario list | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if debug:
            raise
        print(
            f"envoice-mock: unexpected {type(exc).__name__}: {one_line(exc)} (--debug shows the traceback)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
