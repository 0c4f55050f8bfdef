#!/usr/bin/env python3
"""API latency with and without ten dashboards (event-stream readers) open, while webhook
deliveries run at about 1,000/s.

    .venv/bin/python bench/dashboard_bench.py [--duration 10] [--readers 10] [--rate 100] [--rounds 3] [--json out.json]

Processes: the mock (`envoice-mock serve` on a free 127.0.0.1 port, frozen-free real clock),
a receiver (this script with `--receiver`: a raw asyncio HTTP/1.1 keep-alive server answering
200 at once), and this driver. Ten webhooks on the default account point at the receiver, so
each activity is ten deliveries: `--rate 100` activities/s (POST /api/invoice/sendtoaccountant,
paced) offer ~1,000 deliveries/s. Meanwhile a probe client sends GET /api/invoice/details at
200/s (of another invoice, whose answer does not grow), timing each answer. Two phases of `--duration` seconds each: without readers, then with
`--readers` streams (threads of a separate process) each following GET /_mock/events (every event: requests, activities,
deliveries). Reported: p50/p99 of the probe GETs and of the paced POSTs, deliveries/s (from the
webhooks' Delivered counts), events read per reader. Only 127.0.0.1 is a target; every loop is
bounded by the phase duration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from benchlib import AUTH, HOST, free_port, our_command, parse_head, percentile, stop, wait_ready


def receiver(port: int) -> None:
    """Answer 200 to every request, keep-alive, as fast as possible."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                _, headers = parse_head((await reader.readuntil(b"\r\n\r\n"))[:-4])
                length = int(headers.get(b"content-length", b"0"))
                if length:
                    await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, HOST, port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def paced(until: float, rate: float, action, out: list[float]) -> None:
    """Call `action` `rate` times a second until `until` (monotonic), timing each call (ms)."""
    interval = 1.0 / rate
    nxt = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= until:
            return
        if now < nxt:
            time.sleep(nxt - now)
        started = time.perf_counter()
        action()
        out.append((time.perf_counter() - started) * 1000)
        nxt += interval


def reader(base: str, until: float, counts: list[int], index: int) -> None:
    """Follow the event stream until `until`, counting events. A raw socket and a byte count, so
    that the readers cost this machine (which the server shares) as little as a browser would."""
    host, port = base.removeprefix("http://").split(":")
    request = (
        f"GET /_mock/events HTTP/1.1\r\nHost: {host}\r\nx-auth-key: {AUTH['x-auth-key']}\r\n"
        f"x-auth-secret: {AUTH['x-auth-secret']}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=2.0) as sock:
        sock.sendall(request)
        tail = b""
        while time.monotonic() < until:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return
            data = tail + chunk
            counts[index] += data.count(b"\nid: ")
            tail = data[-5:]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phase(base: str, duration: float, rate: float, readers: int, server_pid: int) -> dict[str, object]:
    with httpx.Client(base_url=base, headers=AUTH, timeout=10) as c:
        # Writes go to one invoice, the probe reads another, whose answer does not grow.
        invoice, other = (i["Id"] for i in c.get("/api/invoice/all", params={"pageSize": 2}).json()["Result"])
        delivered_before = sum(h["Delivered"] for h in c.get("/_mock/webhooks").json())
    # The readers run in their own process, so their parsing does not slow this one's probe.
    readers_proc = None
    if readers:
        readers_proc = subprocess.Popen(
            [sys.executable, __file__, "--read", base, str(readers), str(duration + 1.5)],
            stdout=subprocess.PIPE,
            text=True,
        )
    time.sleep(1.0)  # readers connected
    until = time.monotonic() + duration
    gets: list[float] = []
    posts: list[float] = []
    probe = httpx.Client(base_url=base, headers=AUTH, timeout=10)
    writer = httpx.Client(base_url=base, headers=AUTH, timeout=10)
    started = time.monotonic()
    cpu_before = cpu_seconds(server_pid)
    w = threading.Thread(
        target=paced,
        args=(until, rate, lambda: writer.post("/api/invoice/sendtoaccountant", json={"Id": invoice}), posts),
    )
    w.start()
    paced(until, 200, lambda: probe.get("/api/invoice/details", params={"id": other}), gets)
    w.join()
    elapsed = time.monotonic() - started
    server_cpu = (cpu_seconds(server_pid) - cpu_before) / elapsed
    time.sleep(0.5)
    delivered = sum(h["Delivered"] for h in probe.get("/_mock/webhooks").json()) - delivered_before
    probe.close()
    writer.close()
    counts = json.loads(readers_proc.communicate(timeout=30)[0]) if readers_proc else []
    return {
        "readers": readers,
        "get_p50_ms": round(statistics.median(gets), 2),
        "get_p99_ms": round(percentile(sorted(gets), 99) or 0.0, 2),
        "post_p50_ms": round(statistics.median(posts), 2),
        "post_p99_ms": round(percentile(sorted(posts), 99) or 0.0, 2),
        "deliveries_per_s": round(delivered / elapsed),
        "server_cpu_percent": round(server_cpu * 100, 1),
        "events_per_reader": (min(counts), max(counts)) if readers else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument(
        "--rate", type=float, default=100.0, help="activities/s (x10 webhooks = deliveries/s)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating without/with rounds")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--read", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        base, n, seconds = args.read[0], int(args.read[1]), float(args.read[2])
        counts = [0] * n
        until = time.monotonic() + seconds
        threads = [
            threading.Thread(target=reader, args=(base, until, counts, i), daemon=True) for i in range(n)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 5)
        print(json.dumps(counts))
        return 0
    if args.receiver:
        receiver(args.receiver)
        return 0
    recv_port, mock_port = free_port(), free_port()
    recv = subprocess.Popen([sys.executable, __file__, "--receiver", str(recv_port)])
    log = Path(tempfile.gettempdir()) / f"dashboard-bench-{os.getpid()}.log"
    with log.open("w") as out:
        mock = subprocess.Popen(
            [*our_command(), "serve", "--host", HOST, "--port", str(mock_port), "--log-level", "warning"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://{HOST}:{mock_port}"
    try:
        wait_ready(f"{base}/_mock/health", mock, 30, "envoice-mock", log)
        with httpx.Client(base_url=base, headers=AUTH) as c:
            for i in range(10):
                c.post(
                    "/_mock/webhooks", json={"Url": f"http://{HOST}:{recv_port}/hook/{i}"}
                ).raise_for_status()
        phase(base, 2.0, args.rate, 0, mock.pid)  # warm-up
        rounds = []
        for _ in range(args.rounds):  # alternate, so a noisy neighbour hurts both sides alike
            rounds.append(
                (
                    phase(base, args.duration, args.rate, 0, mock.pid),
                    phase(base, args.duration, args.rate, args.readers, mock.pid),
                )
            )
    finally:
        stop(mock)
        stop(recv)
    for without, with_ in rounds:
        print(json.dumps(without))
        print(json.dumps(with_))

    def med(key: str, side: int) -> float:
        return float(statistics.median(float(r[side][key]) for r in rounds))  # type: ignore[arg-type]

    a, b = med("get_p99_ms", 0), med("get_p99_ms", 1)
    ratios = [float(w["get_p99_ms"]) / float(wo["get_p99_ms"]) - 1 for wo, w in rounds]  # type: ignore[arg-type]
    print(
        f"median of {args.rounds} rounds: GET p99 {a:.2f} ms without readers, {b:.2f} ms with "
        f"{args.readers} ({(b / a - 1) * 100:+.0f}%; per round "
        f"{', '.join(f'{r * 100:+.0f}%' for r in ratios)}); POST p99 {med('post_p99_ms', 0):.2f} -> "
        f"{med('post_p99_ms', 1):.2f} ms; server CPU {med('server_cpu_percent', 0):.0f}% -> "
        f"{med('server_cpu_percent', 1):.0f}%; deliveries/s {med('deliveries_per_s', 0):.0f} / "
        f"{med('deliveries_per_s', 1):.0f}"
    )
    results = [list(r) for r in rounds]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
