#!/usr/bin/env python3
"""The API's latency while ten hostile webhook receivers are attached, against none attached.

    .venv/bin/python bench/hostile_bench.py [--duration 10] [--connections 8] [--rate 50]
        [--server-cmd "python -m envoice_mock"] [--cwd DIR] [--json out.json]

Ten receivers run in a child process (this script with `--receivers`), on loopback ports:
3 hung (read the request, never answer), 2 slow (answer 200 after 2 s), 2 resetting (read the
request, then close with RST), 3 huge (answer 200 with a 1 GiB body, streamed until the client
hangs up). For each of two phases, a fresh `envoice-mock serve` child is started:

* `quiet`: no webhook registered;
* `hostile`: the ten receivers registered as the default account's webhooks.

In both phases the same load runs for --duration seconds: --connections raw keep-alive
HTTP/1.1 connections issue `GET /api/invoice/details?id=<seeded>` back to back (latency of
each measured), while one more connection records --rate activities per second
(`POST /_mock/invoice/<id>/view`), each of which the hostile phase must deliver ten times.
Printed: requests, p50 / p99 / max latency (ms) per phase, and the server's peak RSS.
Only 127.0.0.1 is used; every phase is bounded by --duration plus a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
from benchlib import AUTH, add_server_args, read_response, rss_kib, start_mock

MODES = ["hang"] * 3 + ["slow"] * 2 + ["reset"] * 2 + ["huge"] * 3


# --- the receivers (child process) --------------------------------------------------------------
async def read_request(reader: asyncio.StreamReader) -> bool:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return True


async def serve(mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while await read_request(reader):
            if mode == "hang":
                await asyncio.sleep(3600)
            elif mode == "slow":
                await asyncio.sleep(2.0)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
            elif mode == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            elif mode == "huge":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (1 << 30))
                chunk = b"x" * 65536
                for _ in range((1 << 30) // len(chunk)):
                    writer.write(chunk)
                    await writer.drain()
                return
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def receivers() -> None:
    servers = []
    ports = []
    for mode in MODES:
        server = await asyncio.start_server(lambda r, w, m=mode: serve(m, r, w), "127.0.0.1", 0)
        servers.append(server)
        ports.append(server.sockets[0].getsockname()[1])
    print(json.dumps(ports), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


# --- the load ----------------------------------------------------------------------------------
async def get_loop(port: int, path: str, until: float, latencies: list[float]) -> None:
    head = "".join(f"{k}: {v}\r\n" for k, v in AUTH.items())
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.monotonic() < until:
        started = time.perf_counter()
        writer.write(request)
        await read_response(reader)
        latencies.append((time.perf_counter() - started) * 1000)
    writer.close()


async def post_loop(port: int, path: str, until: float, rate: float) -> int:
    head = "".join(f"{k}: {v}\r\n" for k, v in AUTH.items())
    request = f"POST {path} HTTP/1.1\r\nHost: x\r\n{head}Content-Length: 0\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    started = time.monotonic()
    while time.monotonic() < until:
        writer.write(request)
        await read_response(reader)
        sent += 1
        await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
    writer.close()
    return sent


def phase(args: argparse.Namespace, hook_ports: list[int] | None) -> dict[str, float]:
    server, port = start_mock(args.server_cmd, args.cwd)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as client:
            invoice = client.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"]
            for hook_port in hook_ports or []:
                client.post("/_mock/webhooks", json={"Url": f"http://127.0.0.1:{hook_port}/hook"})
        latencies: list[float] = []
        peak = [rss_kib(server.pid)]

        async def run() -> int:
            until = time.monotonic() + args.duration

            async def watch() -> None:
                while time.monotonic() < until:
                    peak[0] = max(peak[0], rss_kib(server.pid))
                    await asyncio.sleep(0.2)

            path = f"/api/invoice/details?id={invoice}"
            results = await asyncio.gather(
                post_loop(port, f"/_mock/invoice/{invoice}/view", until, args.rate),
                watch(),
                *(get_loop(port, path, until, latencies) for _ in range(args.connections)),
            )
            return int(results[0])

        activities = asyncio.run(run())
        started = time.monotonic()
        server.terminate()
        server.wait(timeout=30)
        stop_s = time.monotonic() - started
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    latencies.sort()
    return {
        "requests": len(latencies),
        "p50_ms": round(latencies[len(latencies) // 2], 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 2),
        "max_ms": round(latencies[-1], 2),
        "activities": activities,
        "peak_rss_mib": round(peak[0] / 1024, 1),
        "sigterm_s": round(stop_s, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--rate", type=float, default=50.0, help="activities per second while measuring [50]")
    add_server_args(ap)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--receivers", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.receivers:
        asyncio.run(receivers())
        return 0
    child = subprocess.Popen(
        [sys.executable, __file__, "--receivers"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        ports = json.loads(child.stdout.readline())
        results = {"quiet": phase(args, None), "hostile": phase(args, ports)}
    finally:
        with contextlib.suppress(OSError):
            assert child.stdin is not None
            child.stdin.close()
        child.terminate()
        child.wait(timeout=10)
    print(f"server: {args.server_cmd} (in {args.cwd}); {args.connections} connections, {args.duration:g}s")
    for name, r in results.items():
        print(
            f"  {name:<8} {r['requests']:>7} requests  p50 {r['p50_ms']:>7} ms  p99 {r['p99_ms']:>7} ms  "
            f"max {r['max_ms']:>8} ms  {r['activities']} activities  peak RSS {r['peak_rss_mib']} MiB  "
            f"SIGTERM {r['sigterm_s']} s"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
