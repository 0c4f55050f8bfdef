#!/usr/bin/env python3
"""Memory per activity of a running envoice-mock, and whether it comes back.

    .venv/bin/python bench/memory_bench.py [--activities 50000] [--connections 8] [--json out.json]
        [--server-cmd "python -m envoice_mock"] [--cwd DIR]

Starts `envoice-mock serve` (a child process; `--server-cmd`/`--cwd` run another checkout, for
before/after figures) with one webhook pointing at a loopback port where nothing listens yet,
so every delivery fails and the backlog is held. Then, reading the server's RSS from
/proc/<pid>/status after each step:

1. baseline (after a warm-up of 500 activities);
2. after N activities (`POST /_mock/invoice/<id>/view`, 1 activity each, from N raw keep-alive
   HTTP/1.1 requests over --connections connections): KiB per activity = growth / N;
3. after the backlog drains: a receiver (`envoice-mock sink`, its own process) starts on the
   port; the mock probes, catches up and delivers everything;
4. after `POST /_mock/reset`;
5. after N more activities (delivered live) and their drain: does memory get reused?

With `--receiver hang` the port instead has a listening socket that never accepts: every
attempt waits for the delivery timeout, the backlog stays queued (the worst case for memory),
and steps 3 and 5 become: after `POST /_mock/reset` (the queue is dropped), and after N more.

Last, the time SIGTERM takes to stop the server (`sigterm_s`; killed after 30 s). Every step is bounded in time (--timeout); only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from benchlib import AUTH, add_server_args, free_port, read_response, rss_kib, start_mock


async def load(port: int, paths: list[str], connections: int) -> float:
    """POST every path over raw keep-alive connections; answers seconds taken."""
    head = "".join(f"{k}: {v}\r\n" for k, v in AUTH.items())
    queue = list(reversed(paths))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            path = queue.pop()
            writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\n{head}Content-Length: 0\r\n\r\n".encode())
            status = await read_response(reader)
            if b" 200 " not in status:
                raise RuntimeError(f"{path}: {status!r}")
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.monotonic() - started


def view_paths(client: httpx.Client, n: int) -> list[str]:
    """n client-event paths over the account's seeded invoices (ids change with a reset)."""
    ids = [i["Id"] for i in client.get("/api/invoice/all", params={"pageSize": 50}).json()["Result"]]
    return [f"/_mock/invoice/{ids[k % len(ids)]}/view" for k in range(n)]


def wait_drained(client: httpx.Client, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        hooks = client.get("/_mock/webhooks").json()
        if all(h["Pending"] == 0 and h["State"] == "healthy" for h in hooks):
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"backlog not drained after {timeout:.0f}s: {hooks}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--activities", type=int, default=50_000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=300.0, help="max seconds per step [300]")
    add_server_args(ap)
    ap.add_argument("--receiver", choices=["down", "hang"], default="down")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    hook_port = free_port()
    hung = None
    if args.receiver == "hang":
        hung = socket.socket()
        hung.bind(("127.0.0.1", hook_port))
        hung.listen(1024)  # the kernel completes handshakes; nobody ever reads or answers
    server, port = start_mock(
        args.server_cmd,
        args.cwd,
        *("--retry-schedule", "0.1", "--probe-interval", "0.5s"),
        *("--webhook", f"http://127.0.0.1:{hook_port}/hook"),
    )
    sink = None
    numbers: dict[str, float] = {}
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=args.timeout)
        paths = view_paths(client, args.activities)
        asyncio.run(load(port, paths[:500], args.connections))
        numbers["baseline_kib"] = rss_kib(server.pid)
        took = asyncio.run(load(port, paths, args.connections))
        numbers["load_s"] = round(took, 2)
        numbers["after_load_kib"] = rss_kib(server.pid)
        numbers["kib_per_activity"] = round(
            (numbers["after_load_kib"] - numbers["baseline_kib"]) / args.activities, 3
        )
        if hung is not None:
            client.post("/_mock/reset").raise_for_status()
            numbers["after_reset_kib"] = rss_kib(server.pid)
            asyncio.run(load(port, view_paths(client, args.activities), args.connections))
            numbers["after_second_round_kib"] = rss_kib(server.pid)
            client.close()
            return 0
        sink = subprocess.Popen(
            [*shlex.split(args.server_cmd), "sink", "--port", str(hook_port)],
            cwd=args.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            numbers["drain_s"] = round(wait_drained(client, args.timeout), 2)
        except RuntimeError as exc:  # an old build may never drain: report what there is
            print(exc, file=sys.stderr)
            numbers["drain_s"] = float("nan")
        else:
            numbers["after_drain_kib"] = rss_kib(server.pid)
            client.post("/_mock/reset").raise_for_status()
            numbers["after_reset_kib"] = rss_kib(server.pid)
            asyncio.run(load(port, view_paths(client, args.activities), args.connections))
            wait_drained(client, args.timeout)
            numbers["after_second_round_kib"] = rss_kib(server.pid)
        client.close()
    finally:
        for proc in (sink, server):
            if proc is not None and proc.poll() is None:
                started = time.monotonic()
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if proc is server:  # SIGTERM with the backlog still there
                    numbers["sigterm_s"] = round(time.monotonic() - started, 2)
        if hung is not None:
            hung.close()
        report(args, numbers)
    return 0


def report(args: argparse.Namespace, numbers: dict[str, float]) -> int:
    """Print (and with --json save) the figures."""
    width = max(len(k) for k in numbers)
    print(
        f"activities: {args.activities}, receiver {args.receiver}, server: {args.server_cmd} (in {args.cwd})"
    )
    for key, value in numbers.items():
        print(f"  {key:<{width}}  {value}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"activities": args.activities, "receiver": args.receiver, **numbers}, indent=2)
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
