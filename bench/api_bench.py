#!/usr/bin/env python3
"""Throughput and latency of envoice-mock against Stoplight Prism, on three invoice endpoints.

    .venv/bin/python bench/api_bench.py [--duration 10] [--connections 32] [--no-prism] [--json out.json]

Starts `envoice-mock serve` (and `prism mock` on the reference OpenAPI description) on free
loopback ports, loads each endpoint for --duration seconds with --connections keep-alive
connections, then prints requests/s, p50 and p99 latency and our/Prism ratios.

The load comes from `wrk` when it is on PATH (a generated Lua script sets the auth headers,
the POST bodies and reports the numbers), else from a built-in asyncio generator over raw
HTTP/1.1 keep-alive streams. Only 127.0.0.1 is ever a target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchlib import (
    AUTH,
    HOST,
    REPO,
    WRK_DONE_LUA,
    WRK_SETUP_LUA,
    ProtocolError,
    fmt,
    free_port,
    http,
    new_invoice_body,
    our_command,
    parse_head,
    percentile,
    rss_mib,
    stop,
    tail,
    wait_ready,
)

DEFAULT_SPEC = REPO.parent / "shared" / "reference" / "envoice-openapi.json"
PRISM_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "envoice-mock-bench"
TARGET_RPS_RATIO = 3.0  # from the issue: at least 3x Prism's requests/s
TARGET_P99_MS = 20.0  # and p99 under 20 ms


# --------------------------------------------------------------------------------------------
# Results


@dataclass
class Result:
    server: str
    endpoint: str
    requests: int = 0
    duration_s: float = 0.0
    rps: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None
    non_2xx: int = 0  # responses with a status outside 200-299 (wrk: status >= 400)
    socket_errors: int = 0  # connect/read/write errors and timeouts
    bytes_per_response: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Endpoint:
    name: str  # shown in the table
    method: str
    path: str  # with query string
    body: dict | None = None  # POST template; Number is made unique per request


# --------------------------------------------------------------------------------------------
# Processes


def find_prism(install: bool) -> str | None:
    """The prism binary: on PATH, in the bench cache, or installed there with npm."""
    cached = PRISM_CACHE / "node_modules" / ".bin" / "prism"
    if cached.exists():
        return str(cached)
    if shutil.which("prism"):
        return shutil.which("prism")
    if not install:
        return None
    if not shutil.which("npm"):
        print("npm is not available: skipping Prism (install Node.js/npm, or pass --no-prism)")
        return None
    print(f"installing @stoplight/prism-cli into {PRISM_CACHE} ...", flush=True)
    PRISM_CACHE.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PRISM_CACHE), "@stoplight/prism-cli"],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0 or not cached.exists():
        print(f"npm install failed (exit {r.returncode}): skipping Prism\n{r.stderr[-2000:]}")
        return None
    return str(cached)


# --------------------------------------------------------------------------------------------
# wrk


WRK_LUA = r"""
wrk.method = %(method)s
wrk.headers["x-auth-key"] = %(key)s
wrk.headers["x-auth-secret"] = %(secret)s
%(content_type)s
local pre, post = %(pre)s, %(post)s
%(setup)s%(request_fn)s
%(done)s"""

POST_REQUEST_FN = """
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, pre .. tid .. "-" .. n .. post)
end
"""


def lua_str(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid Lua string literal for ASCII text


def split_body(ep: Endpoint) -> tuple[str, str]:
    """The POST body as text around the unique part of its Number."""
    marker = "@@N@@"
    text = json.dumps({**ep.body, "Number": f"BENCH-{marker}"}, separators=(",", ":"))
    pre, post = text.split(marker)
    return pre, post


def wrk_script(ep: Endpoint, tag: str) -> str:
    pre, post = split_body(ep) if ep.body is not None else ("", "")
    return WRK_LUA % {
        "method": lua_str(ep.method),
        "key": lua_str(AUTH["x-auth-key"]),
        "secret": lua_str(AUTH["x-auth-secret"]),
        "content_type": 'wrk.headers["Content-Type"] = "application/json"' if ep.body is not None else "",
        "pre": lua_str(pre + tag + "-"),
        "post": lua_str(post),
        "request_fn": POST_REQUEST_FN if ep.body is not None else "",
        "setup": WRK_SETUP_LUA,
        "done": WRK_DONE_LUA,
    }


def run_wrk(base: str, ep: Endpoint, duration: float, connections: int, threads: int, tag: str) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script(ep, tag))
        script = f.name
    try:
        cmd = [
            "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
            "--timeout", "10s", "--latency", "-s", script, base + ep.path,
        ]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    finally:
        os.unlink(script)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if r.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {r.returncode}):\n{r.stdout}\n{r.stderr}")
    d = json.loads(line[len("WRK_JSON ") :])
    secs = d["duration_us"] / 1e6
    return Result(
        server="",
        endpoint=ep.name,
        requests=d["requests"],
        duration_s=round(secs, 3),
        rps=d["requests"] / secs if secs else 0.0,
        p50_ms=d["p50_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
        mean_ms=d["mean_us"] / 1000,
        max_ms=d["max_us"] / 1000,
        non_2xx=d["status"],
        socket_errors=d["connect"] + d["read"] + d["write"] + d["timeout"],
        bytes_per_response=d["bytes"] / d["requests"] if d["requests"] else None,
        extra={"wrk_output": r.stdout.replace(line, "").strip()},
    )


# --------------------------------------------------------------------------------------------
# Built-in asyncio generator: one raw keep-alive HTTP/1.1 stream per worker.


async def read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    start_line, headers = parse_head(head[:-4])
    parts = start_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise ProtocolError(start_line[:80])
    status = int(parts[1])
    length = int(headers[b"content-length"]) if b"content-length" in headers else None
    chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
    size = len(head)
    if chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            n = int(size_line.split(b";")[0].strip(), 16)
            await reader.readexactly(n + 2)
            size += len(size_line) + n + 2
            if n == 0:
                break
    elif length:
        await reader.readexactly(length)
        size += length
    return status, size


def build_request(ep: Endpoint, number: str | None) -> bytes:
    body = b""
    headers = [
        f"{ep.method} {ep.path} HTTP/1.1",
        f"Host: {HOST}",
        f"x-auth-key: {AUTH['x-auth-key']}",
        f"x-auth-secret: {AUTH['x-auth-secret']}",
    ]
    if ep.body is not None:
        pre, post = split_body(ep)
        body = (pre + str(number) + post).encode()
        headers += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def _worker(port, ep, stop_at, tag, wid, lat, counts) -> None:
    fixed = build_request(ep, None) if ep.body is None else None
    n = 0
    reader = writer = None
    while time.perf_counter() < stop_at:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            n += 1
            req = fixed if fixed is not None else build_request(ep, f"{tag}-{wid}-{n}")
            t0 = time.perf_counter()
            writer.write(req)
            status, size = await asyncio.wait_for(read_response(reader), timeout=10)
            lat.append(time.perf_counter() - t0)
            counts["bytes"] += size
            if not 200 <= status < 300:
                counts["non_2xx"] += 1
                counts.setdefault("statuses", {}).setdefault(str(status), 0)
                counts["statuses"][str(status)] += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ProtocolError, ValueError):
            counts["socket_errors"] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _run_async(port, ep, duration, connections, tag):
    lat: list[float] = []
    counts = {"bytes": 0, "non_2xx": 0, "socket_errors": 0}
    start = time.perf_counter()
    stop_at = start + duration
    await asyncio.gather(*(_worker(port, ep, stop_at, tag, w, lat, counts) for w in range(connections)))
    return lat, counts, time.perf_counter() - start


def run_python(port: int, ep: Endpoint, duration: float, connections: int, tag: str) -> Result:
    try:
        import uvloop  # the client's own overhead matters on two cores

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    lat, counts, secs = runner(_run_async(port, ep, duration, connections, tag))
    lat.sort()
    return Result(
        server="",
        endpoint=ep.name,
        requests=len(lat),
        duration_s=round(secs, 3),
        rps=len(lat) / secs,
        p50_ms=(percentile(lat, 50) or 0) * 1000 if lat else None,
        p99_ms=(percentile(lat, 99) or 0) * 1000 if lat else None,
        mean_ms=sum(lat) / len(lat) * 1000 if lat else None,
        max_ms=lat[-1] * 1000 if lat else None,
        non_2xx=counts["non_2xx"],
        socket_errors=counts["socket_errors"],
        bytes_per_response=counts["bytes"] / len(lat) if lat else None,
        extra={"statuses": counts.get("statuses", {})},
    )


# --------------------------------------------------------------------------------------------
# The run


def endpoints(base: str) -> list[Endpoint]:
    """The three endpoints, with a real invoice, client and work type taken from our server."""
    _, raw = http("GET", base + "/api/invoice/all?pageSize=1")
    invoice_id = json.loads(raw)["Result"][0]["Id"]
    _, raw = http("GET", base + "/api/client/all")
    client_id = json.loads(raw)[0]["Id"]
    _, raw = http("GET", base + "/api/worktype/all")
    worktype_id = json.loads(raw)[0]["Id"]
    body = new_invoice_body(client_id, worktype_id, "BENCH")
    # invoice/all comes before invoice/new: the POSTs grow the store, and so the list.
    return [
        Endpoint("GET invoice/details", "GET", f"/api/invoice/details?id={invoice_id}"),
        Endpoint("GET invoice/all", "GET", "/api/invoice/all"),
        Endpoint("POST invoice/new", "POST", "/api/invoice/new", body),
    ]


def check(base: str, ep: Endpoint) -> tuple[int, int]:
    status, raw = http(ep.method, base + ep.path, ep.body, timeout=10)
    return status, len(raw)


def table(results: dict[str, dict[str, Result]], names: list[str]) -> str:
    ours, prism = results.get("envoice-mock", {}), results.get("prism", {})
    head = (
        f"{'endpoint':<20} {'ours rps':>9} {'p50 ms':>7} {'p99 ms':>7} {'err':>5}"
        f" | {'prism rps':>9} {'p50 ms':>7} {'p99 ms':>7} {'err':>5}"
        f" | {'rps x':>6} {'p99 x':>6} | target"
    )
    out = [head, "-" * len(head)]
    for name in names:
        o, p = ours.get(name), prism.get(name)
        row = f"{name:<20} "
        row += (
            f"{o.rps:>9.0f} {fmt(o.p50_ms, '7.2f')} {fmt(o.p99_ms, '7.2f')} {o.non_2xx + o.socket_errors:>5}"
            if o
            else f"{'-':>9} {'-':>7} {'-':>7} {'-':>5}"
        )
        row += " | "
        row += (
            f"{p.rps:>9.0f} {fmt(p.p50_ms, '7.2f')} {fmt(p.p99_ms, '7.2f')} {p.non_2xx + p.socket_errors:>5}"
            if p
            else f"{'-':>9} {'-':>7} {'-':>7} {'-':>5}"
        )
        rps_x = o.rps / p.rps if o and p and p.rps else None
        p99_x = p.p99_ms / o.p99_ms if o and p and o.p99_ms and p.p99_ms else None
        row += f" | {fmt(rps_x, '6.2f'):>6} {fmt(p99_x, '6.2f'):>6} | "
        verdict = []
        if o:
            verdict.append("p99 ok" if o.p99_ms is not None and o.p99_ms < TARGET_P99_MS else "p99 FAIL")
        if rps_x is not None:
            verdict.append("rps ok" if rps_x >= TARGET_RPS_RATIO else "rps FAIL")
        row += ", ".join(verdict)
        out.append(row)
    out.append(
        "rps x = our rps / Prism rps (target >= 3);  p99 x = Prism p99 / our p99 (higher is better);"
        f"  p99 target < {TARGET_P99_MS:.0f} ms;  err = non-2xx + socket errors"
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10, help="seconds of load per endpoint (10)")
    ap.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (32)")
    ap.add_argument("--warmup", type=float, default=1, help="seconds of unmeasured load first (1; 0 = none)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (1: leaves a core to the server)")
    ap.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--no-prism", action="store_true", help="measure envoice-mock only")
    ap.add_argument("--no-install", action="store_true", help="do not npm-install Prism when it is absent")
    ap.add_argument(
        "--prism-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for `prism mock` (repeatable), e.g. --prism-arg=-v --prism-arg=warn",
    )
    ap.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="OpenAPI file Prism serves")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    gen = args.generator
    if gen == "auto":
        gen = "wrk" if shutil.which("wrk") else "python"
    elif gen == "wrk" and not shutil.which("wrk"):
        ap.error("wrk is not on PATH (apt-get install wrk)")
    print(f"load generator: {gen}" + ("" if gen == "wrk" else " (built-in asyncio, raw HTTP/1.1 streams)"))

    logdir = Path(tempfile.mkdtemp(prefix="envoice-bench-"))
    procs: dict[str, subprocess.Popen] = {}
    bases: dict[str, str] = {}
    info: dict = {
        "generator": gen,
        "duration_s": args.duration,
        "connections": args.connections,
        "warmup_s": args.warmup,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if gen == "wrk":
        info["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
        info["wrk_threads"] = args.threads
    results: dict[str, dict[str, Result]] = {}
    try:
        port = free_port()
        log = logdir / "envoice-mock.log"
        cmd = [*our_command(), "serve", "--host", HOST, "--port", str(port), "--log-level", "warning"]
        procs["envoice-mock"] = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
        bases["envoice-mock"] = f"http://{HOST}:{port}"
        wait_ready(bases["envoice-mock"] + "/_mock/health", procs["envoice-mock"], 30, "envoice-mock", log)
        print(f"envoice-mock ready on port {port}")

        if not args.no_prism:
            prism = find_prism(install=not args.no_install)
            if prism and not args.spec.exists():
                print(f"{args.spec} not found: skipping Prism")
                prism = None
            if prism:
                port = free_port()
                plog = logdir / "prism.log"
                cmd = [prism, "mock", str(args.spec), "-p", str(port), "-h", HOST, *args.prism_arg]
                info["prism_command"] = cmd
                procs["prism"] = subprocess.Popen(cmd, stdout=plog.open("w"), stderr=subprocess.STDOUT)
                bases["prism"] = f"http://{HOST}:{port}"
                wait_ready(bases["prism"] + "/api/invoice/all", procs["prism"], 60, "prism", plog)
                info["prism"] = subprocess.run(
                    [prism, "--version"], capture_output=True, text=True
                ).stdout.strip()
                print(f"prism {info['prism']} ready on port {port}")
            elif prism is None and not args.no_install:
                pass  # the reason was printed

        eps = endpoints(bases["envoice-mock"])
        info["endpoints"] = [asdict(e) for e in eps]
        rss_before = rss_mib(procs["envoice-mock"].pid)
        run_tag = str(int(time.time()))
        for ep in eps:
            for server, base in bases.items():
                status, size = check(base, ep)
                if not 200 <= status < 300:
                    raise RuntimeError(f"{server} answered {status} to {ep.method} {ep.path}")
                port = int(base.rsplit(":", 1)[1])
                tag = f"{run_tag}-{server[:1]}"

                def load(secs: float, tag: str, base=base, port=port, ep=ep) -> Result:
                    if gen == "wrk":
                        return run_wrk(base, ep, secs, args.connections, args.threads, tag)
                    return run_python(port, ep, secs, args.connections, tag)

                if args.warmup > 0:
                    load(args.warmup, tag + "w")
                res = load(args.duration, tag)
                res.server = server
                res.extra["check_status"], res.extra["check_bytes"] = status, size
                results.setdefault(server, {})[ep.name] = res
                print(
                    f"  {server:<12} {ep.name:<20} {res.rps:8.0f} req/s  p50 {fmt(res.p50_ms, '.2f')} ms"
                    f"  p99 {fmt(res.p99_ms, '.2f')} ms  non-2xx {res.non_2xx}  errors {res.socket_errors}"
                    f"  ~{fmt(res.bytes_per_response, '.0f')} B/response",
                    flush=True,
                )
        info["envoice_mock_rss_mib"] = {"before": rss_before, "after": rss_mib(procs["envoice-mock"].pid)}
        for server, proc in procs.items():
            if proc.poll() is not None:
                print(f"WARNING: {server} exited during the run ({proc.returncode})")
        status, _ = http("GET", bases["envoice-mock"] + "/_mock/health")
        info["envoice_mock_health_after"] = status
    finally:
        for proc in procs.values():
            stop(proc)

    ours_log = tail(logdir / "envoice-mock.log", 40)
    if any(w in ours_log.lower() for w in ("error", "exception", "traceback", "warning")):
        print("envoice-mock logged problems (last lines):\n" + ours_log)
    info["envoice_mock_log_tail"] = ours_log

    print()
    print(
        f"{args.connections} connections, {args.duration:g}s per endpoint, generator {gen},"
        f" {os.cpu_count()} CPUs"
    )
    print(table(results, [e.name for e in eps]))
    rss = info["envoice_mock_rss_mib"]
    if rss["before"] is not None and rss["after"] is not None:
        print(f"envoice-mock RSS: {rss['before']:.0f} MiB before the load, {rss['after']:.0f} MiB after")

    if args.json:
        ratios = {}
        for name in [e.name for e in eps]:
            o, p = results.get("envoice-mock", {}).get(name), results.get("prism", {}).get(name)
            if o and p:
                ratios[name] = {
                    "rps_ratio": o.rps / p.rps if p.rps else None,
                    "p50_ratio": p.p50_ms / o.p50_ms if o.p50_ms else None,
                    "p99_ratio": p.p99_ms / o.p99_ms if o.p99_ms else None,
                }
        out = {
            "info": info,
            "results": {s: {n: asdict(r) for n, r in rs.items()} for s, rs in results.items()},
            "ratios": ratios,
            "targets": {"rps_ratio_min": TARGET_RPS_RATIO, "p99_ms_max": TARGET_P99_MS},
        }
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
