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
    p.add_argument(
        "--delivery-concurrency",
        type=int,
        help="attempts in flight per webhook (default 1: a healthy receiver sees activities in order)",
    )
    p.add_argument(
        "--request-timeout",
        type=parse_duration,
        help="a client must finish sending a request within this; slow or silent connections are closed (10s)",
    )
    p.add_argument("--state-file", help="SQLite file that keeps state across restarts (default: memory only)")
    p.add_argument("--clock-start", type=parse_instant, help="start the clock at this instant (virtual time)")
    p.add_argument(
        "--clock-speed", type=float, help="virtual seconds per real second (0 = frozen; default 1)"
    )
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"], help="log level")


def tune_gc() -> None:
    """Keep garbage-collection pauses out of request latency.

    The store holds many long-lived small objects; CPython's default thresholds make full
    collections walk all of them ever more often as it grows (p99 spikes of tens of ms under
    load). Freezing what start-up built and collecting the young generation less often removes
    most of those pauses; reference counting still frees almost everything at once.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def serve(args: argparse.Namespace) -> int:
    """Start uvicorn with the app; print what was loaded."""
    import socket

    from .app import create_app, describe
    from .runtime import build_runtime
    from .serving import MockServer

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
        "delivery_concurrency": args.delivery_concurrency,
        "request_timeout": args.request_timeout,
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
    tune_gc()
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
    server = MockServer(create_app(runtime=runtime), runtime, log_level=settings.log_level, access_log=False)
    server.run(sockets=[sock])
    return 0


def _scenario_parser(sub: Any) -> None:
    p = sub.add_parser("scenario", help="list or run scripted webhook stories")
    ssub = p.add_subparsers(dest="scenario_command", required=True)
    ls = ssub.add_parser("list", help="the built-in scenarios")
    ls.add_argument("--scenarios", help="scenario directory (default: the built-in ones)")
    run = ssub.add_parser("run", help="run a scenario against your receiver")
    run.add_argument("scenario", help="a built-in name or a path to a .yaml file")
    run.add_argument("--target", required=True, help="your webhook receiver URL")
    run.add_argument("--seed", type=int, help="override the scenario's seed (printed at the start)")
    run.add_argument("--server", help="drive a running mock at this URL instead of an embedded one")
    run.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="virtual seconds per real second; 0 (default) jumps through waits instantly",
    )
    run.add_argument("--json", action="store_true", help="print a machine-readable report on stdout")
    run.add_argument("--scenarios", help="scenario directory (default: the built-in ones)")


def scenario_command(args: argparse.Namespace) -> int:
    """`scenario list` and `scenario run`."""
    import asyncio
    import json
    from pathlib import Path

    from .config import DEFAULT_SCENARIOS
    from .scenarios import ScenarioError, find_scenario, load_scenario, scenario_files, summary_lines
    from .spec import load_spec

    spec = load_spec(DEFAULT_FIXTURES)
    directory = Path(args.scenarios) if args.scenarios else DEFAULT_SCENARIOS
    if args.scenario_command == "list":
        for path in scenario_files(directory):
            try:
                sc = load_scenario(path, spec)
                print(f"{sc.name:<28} {sc.description}")
            except ScenarioError as exc:
                print(f"{path.stem:<28} INVALID: {exc}")
        return 0
    try:
        scenario = load_scenario(find_scenario(args.scenario, directory), spec)
    except ScenarioError as exc:
        print(f"envoice-mock: {exc}", file=sys.stderr)
        return 2
    out = sys.stderr if args.json else sys.stdout

    def printer(line: str) -> None:
        print(line, file=out, flush=True)

    seed = scenario.seed if args.seed is None else args.seed
    printer(f"seed: {seed}   (replay exactly with --seed {seed})")
    if args.server:
        from .embedded import run_remote

        coro = run_remote(scenario, args.target, args.server, seed, printer, realtime=args.speed > 0)
    else:
        from .embedded import run_embedded

        coro = run_embedded(scenario, args.target, seed, args.speed, printer)
    try:
        report = asyncio.run(coro)
    except ScenarioError as exc:
        print(f"envoice-mock: {exc}", file=sys.stderr)
        return 2
    for line in summary_lines(report):
        printer(line)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    return 0 if report.ok else 1


def _sink_parser(sub: Any) -> None:
    p = sub.add_parser("sink", help="a webhook receiver that records, verifies and can fail on purpose")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000)
    p.add_argument(
        "--secret", default="sandbox-secret", help="signing secret to verify with (default sandbox-secret)"
    )
    p.add_argument(
        "--fail-first", type=int, default=0, help="answer the first N deliveries with --fail-status"
    )
    p.add_argument("--fail-status", type=int, default=503, help="the failing status (default 503)")
    p.add_argument(
        "--fail-for", type=parse_duration, help="fail everything for this long after start, e.g. 30s"
    )
    p.add_argument("--accept-invalid", action="store_true", help="answer 200 even to a bad signature")


def sink_command(args: argparse.Namespace) -> int:
    """Run the receiver in the foreground, one line per arrival."""
    import time

    import uvicorn

    from .sink import Behaviour, SinkState, bind_free_port, create_sink_app

    behaviour = Behaviour(
        fail_first=args.fail_first,
        fail_status=args.fail_status,
        fail_until=time.monotonic() + args.fail_for if args.fail_for else None,
        reject_invalid=not args.accept_invalid,
    )
    state = SinkState(secret=args.secret, behaviour=behaviour, printer=lambda line: print(line, flush=True))
    sock = bind_free_port(args.host, args.port)
    sock.listen(2048)
    host, port = sock.getsockname()[:2]
    print(
        f"envoice-mock sink: POST http://{host}:{port}/hook  (received: http://{host}:{port}/_sink/received)",
        flush=True,
    )
    server = uvicorn.Server(uvicorn.Config(create_sink_app(state), log_level="warning", access_log=False))
    server.run(sockets=[sock])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `envoice-mock` command."""
    parser = argparse.ArgumentParser(prog="envoice-mock", description="Offline sandbox of the Envoice API v1")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _scenario_parser(sub)
    _sink_parser(sub)
    args = parser.parse_args(argv)
    commands = {"serve": serve, "scenario": scenario_command, "sink": sink_command}
    try:
        return commands[args.command](args)
    except SettingsError as exc:
        print(f"envoice-mock: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
