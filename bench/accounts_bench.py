#!/usr/bin/env python3
"""Does creating accounts with --any-key stall everybody else?

    .venv/bin/python bench/accounts_bench.py [--accounts 1000] [--concurrency 50] [--json out.json]

Starts `envoice-mock serve --any-key --port 0` on 127.0.0.1, then at the same time
(a) creates --accounts new accounts, --concurrency at a time (one `GET /api/worktype/all` with a
fresh key each), and (b) reads `GET /api/worktype/all` as the existing sandbox account, one
request after another, until (a) is done. Prints the reader's latency (median, p90, p99, max)
and how long the creation took. Bounded: at most --timeout seconds in all.

The reader runs in a process of its own (`Reader`): in the creators' event loop its answers
waited behind theirs, and that wait, the benchmark's own, was counted as the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from benchlib import AUTH as SANDBOX
from benchlib import REPO, our_command, percentile, stop


def start_server(extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    """The server in a child process, and its URL (read from the banner)."""
    proc = subprocess.Popen(
        [*our_command(), "serve", "--any-key", "--port", "0", "--log-level", "warning", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            return proc, found.group(1)
    raise SystemExit("the server exited before listening")


async def run(url: str, accounts: int, concurrency: int, timeout: float) -> dict[str, float]:
    """Create accounts while timing another account's reads."""
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        (await client.get("/api/worktype/all", headers=SANDBOX)).raise_for_status()  # warm
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(accounts):
            queue.put_nowait(i)
        failures = 0

        async def creator() -> None:
            nonlocal failures
            while not queue.empty():
                i = queue.get_nowait()
                headers = {"x-auth-key": f"bench-{i}", "x-auth-secret": "bench-secret"}
                response = await client.get("/api/worktype/all", headers=headers)
                failures += response.status_code != 200

        reader = Reader(url)
        try:
            started = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*(creator() for _ in range(concurrency))), timeout)
            created_in = time.perf_counter() - started
        finally:
            latencies = reader.stop()
    return {
        "accounts": accounts,
        "concurrency": concurrency,
        "create_seconds": round(created_in, 2),
        "accounts_per_second": round(accounts / created_in, 1),
        "failed_creations": failures,
        "reads": len(latencies),
        "read_median_ms": round(statistics.median(latencies), 2),
        "read_p90_ms": round(percentile(sorted(latencies), 90) or 0.0, 2),
        "read_p99_ms": round(percentile(sorted(latencies), 99) or 0.0, 2),
        "read_max_ms": round(max(latencies), 2),
    }


READ_LIMIT_S = 900.0  # a reader stops by itself after this long, whatever happens


class Reader:
    """The sandbox account's reads, one after another, timed in a process of their own."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--read", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> list[float]:
        """Stop reading; the latencies (ms) in the order measured."""
        out, _ = self.proc.communicate(input="", timeout=60)
        return [float(v) for v in json.loads(out)]


def read_until_told(url: str) -> None:
    """The reader's process: GET worktype/all on one kept-alive connection until stdin closes
    (or READ_LIMIT_S passes); prints the latencies as a JSON list."""
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    latencies: list[float] = []
    deadline = time.monotonic() + READ_LIMIT_S
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.perf_counter()
        conn.request("GET", "/api/worktype/all", headers=SANDBOX)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"reader: {response.status}")
        latencies.append((time.perf_counter() - started) * 1000)
    conn.close()
    print(json.dumps([round(v, 4) for v in latencies]))


def reads_alone(url: str, seconds: float) -> list[float]:
    """The reader's latencies (ms) with nothing else going on, for `seconds`."""
    reader = Reader(url)
    time.sleep(seconds)  # the measuring window itself (nothing to poll for)
    return reader.stop()


def main() -> None:
    """Parse the options, run once, print (and optionally save) the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--server-arg", action="append", default=[], help="extra `serve` argument")
    parser.add_argument("--read", metavar="URL", help=argparse.SUPPRESS)  # the reader's process
    args = parser.parse_args()
    if args.read:
        read_until_told(args.read)
        return
    proc, url = start_server(args.server_arg)
    try:
        numbers = asyncio.run(run(url, args.accounts, args.concurrency, args.timeout))
    finally:
        stop(proc)
    for name, value in numbers.items():
        print(f"{name:>22}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(numbers, indent=2) + "\n")


if __name__ == "__main__":
    main()
