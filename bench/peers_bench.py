#!/usr/bin/env python3
"""Every kind of call against Prism and WireMock in one run, plus growth, 256 connections,
1,000 --any-key accounts and start-up time (issue 12).

    .venv/bin/python bench/peers_bench.py [--duration 5] [--connections 32] [--json out.json]

Phases (each bounded in time; only 127.0.0.1 is a target; load from `wrk`):

1. calls: for each operation, envoice-mock, Prism (`prism mock <reference> -v error`) and
   WireMock (the standalone jar of the npm package `wiremock`, `--no-request-journal`, one
   static stub per path answering the body our server gave for that call) each get a check
   request, `--warmup` s of unmeasured load, then `--duration` s at `--connections`;
   WireMock gets `--wiremock-warmup` s of warm-up over every call first (the JIT);
2. growth: a fresh mock under a mixed load (1 `invoice/new` in 3 requests, the rest
   `invoice/all` page 1 and `invoice/details`) in slices of `--slice` s until the account holds
   `--grow-to` invoices (or `--grow-timeout` s); first vs last slice's requests/s;
3. many connections: a fresh mock, 256 connections of reads and writes mixed, p99/max/errors;
4. accounts: `accounts_bench.run` on a fresh `--any-key` mock: another account's read latency
   alone, then while `--accounts` new accounts are created;
5. start-up: process start to the first 200 from `/_mock/health`, for every mock started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from accounts_bench import reads_alone
from accounts_bench import run as accounts_run
from accounts_bench import start_server as start_any_key
from api_bench import DEFAULT_SPEC, PRISM_CACHE, find_prism
from benchlib import (
    HOST,
    fmt,
    free_port,
    http,
    new_invoice_body,
    our_command,
    percentile,
    stop,
    wait_ready,
    wrk_cycle,
)

TARGET_RATIO = 5.0  # at least 5x Prism's requests/s
TARGET_P99_MS = 10.0  # at 32 connections
GBP, GB, ENGLISH = 170, 235, 1

Cycle = list[tuple[str, str, "str | None"]]


def body(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"))


def operations(base: str) -> list[tuple[str, str, Cycle]]:
    """(name, label, request cycle) for every measured call, ids read from our server."""
    _, raw = http("GET", base + "/api/invoice/all?pageSize=40")
    inv = [i["Id"] for i in json.loads(raw)["Result"]]
    spread = inv[4:36]  # updates go round 32 invoices: each one's view carries its whole audit log
    _, raw = http("GET", base + "/api/client/all")
    client_id = json.loads(raw)[0]["Id"]
    _, raw = http("GET", base + "/api/worktype/all")
    worktype_id = json.loads(raw)[0]["Id"]
    new_invoice = body(new_invoice_body(client_id, worktype_id, "B-@@N@@"))
    new_client = body(
        {
            "Name": "Bench @@N@@",
            "Email": "bench@example.test",
            "ClientCurrencyId": GBP,
            "ClientCountryId": GB,
            "UiLanguageId": ENGLISH,
        }
    )
    page = "/api/invoice/all?page=1&pageSize=20"
    return [
        ("GET invoice/details", "cached", [("GET", f"/api/invoice/details?id={inv[0]}", None)]),
        ("GET general/currencies", "cached", [("GET", "/api/general/currencies", None)]),
        ("GET invoice/all page", "cached", [("GET", page, None)]),
        ("POST invoice/new", "write", [("POST", "/api/invoice/new", new_invoice)]),
        (
            "POST invoice/update",
            "write",
            [("POST", "/api/invoice/update", body({"Id": i, "Notes": "n-@@N@@"})) for i in spread],
        ),
        ("POST client/new", "write", [("POST", "/api/client/new", new_client)]),
        (
            "POST invoice/changestatus",
            "write",
            [
                ("POST", "/api/invoice/changestatus", body({"Id": inv[2], "Status": "Paid"})),
                ("POST", "/api/invoice/changestatus", body({"Id": inv[2], "Status": "Unpaid"})),
            ],
        ),
        (
            "update + details",
            "uncached",
            [
                r
                for i in spread
                for r in (
                    ("POST", "/api/invoice/update", body({"Id": i, "Notes": "d-@@N@@"})),
                    ("GET", f"/api/invoice/details?id={i}", None),
                )
            ],
        ),
        (
            "new + all page",
            "uncached",
            [("POST", "/api/invoice/new", new_invoice), ("GET", page, None)],
        ),
    ]


# --------------------------------------------------------------------------------------------
# Servers


def start_ours(*extra: str) -> tuple[subprocess.Popen, str, float]:
    """A fresh mock; answers the process, its URL and the seconds from start to a healthy answer."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="envoice-peers-", suffix=".log")[1])
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*our_command(), "serve", "--host", HOST, "--port", str(port), "--log-level", "warning", *extra],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://{HOST}:{port}"
    wait_ready(base + "/_mock/health", proc, 30, "envoice-mock", log)
    return proc, base, time.perf_counter() - started


def start_prism(spec: Path) -> tuple[subprocess.Popen, str, str] | None:
    prism = find_prism(install=True)
    if prism is None or not spec.exists():
        return None
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="prism-", suffix=".log")[1])
    cmd = [prism, "mock", str(spec), "-p", str(port), "-h", HOST, "-v", "error"]
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://{HOST}:{port}"
    wait_ready(base + "/api/general/currencies", proc, 60, "prism", log)
    version = subprocess.run([prism, "--version"], capture_output=True, text=True).stdout.strip()
    return proc, base, version


def find_wiremock() -> Path | None:
    """The standalone jar from the npm package `wiremock` (installed into the bench cache)."""
    build = PRISM_CACHE / "node_modules" / "wiremock" / "build"
    if not build.exists():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PRISM_CACHE), "wiremock"],
            capture_output=True,
        )
    jars = sorted(build.glob("wiremock-standalone-*.jar")) if build.exists() else []
    return jars[-1] if jars else None


def start_wiremock(
    stubs: dict[tuple[str, str], tuple[int, bytes]],
) -> tuple[subprocess.Popen, str, str] | None:
    """WireMock with one static stub per (method, path) answering our captured body."""
    jar = find_wiremock()
    if jar is None:
        print("WireMock jar not found: skipping WireMock")
        return None
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="wiremock-", suffix=".log")[1])
    root = Path(tempfile.mkdtemp(prefix="wiremock-root-"))
    (root / "mappings").mkdir()
    for n, ((method, path), (status, raw)) in enumerate(stubs.items()):
        mapping = {
            "request": {"method": method, "urlPath": path},
            "response": {
                "status": status,
                "body": raw.decode(),
                "headers": {"Content-Type": "application/json; charset=utf-8"},
            },
        }
        (root / "mappings" / f"{n}.json").write_text(json.dumps(mapping))
    cmd = [
        "java", "-jar", str(jar), "--port", str(port), "--bind-address", HOST, "--root-dir", str(root),
        "--no-request-journal", "--disable-banner", "--async-response-enabled", "false",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://{HOST}:{port}"
    wait_ready(base + "/__admin/health", proc, 60, "wiremock", log)
    return proc, base, jar.stem.rsplit("-", 1)[-1]


def capture(base: str, cycle: Cycle) -> dict[tuple[str, str], tuple[int, bytes]]:
    """Our answer to each request of a cycle (a unique token in it), keyed by method and path."""
    out = {}
    for method, path, raw in cycle:
        token = f"cap-{time.monotonic_ns()}"
        data = json.loads(raw.replace("@@N@@", token)) if raw else None
        status, answer = http(method, base + path.replace("@@N@@", token), data, timeout=10)
        out[(method, path.split("?")[0])] = (status, answer)
    return out


# --------------------------------------------------------------------------------------------
# Phases


def phase_calls(args, ours: str, peers: dict[str, str]) -> list[dict]:
    ops = operations(ours)
    stubs: dict = {}
    for _, _, cycle in ops:
        stubs.update({k: v for k, v in capture(ours, cycle).items() if k not in stubs})
    bad = {k: s for k, (s, _) in stubs.items() if not 200 <= s < 300}
    if bad:
        raise RuntimeError(f"our server refused a benchmark request: {bad}")
    if not args.no_wiremock:
        wm = start_wiremock(stubs)
        if wm is not None:
            peers["wiremock"] = wm[1]
            PROCS.append(wm[0])
            print(f"wiremock {wm[2]} ready; warming up {args.wiremock_warmup:g}s", flush=True)
            every = [r for _, _, c in ops for r in c]
            wrk_cycle(wm[1], every, args.wiremock_warmup, args.connections, "w")
    rows = []
    for name, label, cycle in ops:
        row: dict = {"name": name, "label": label}
        for server, base in {"ours": ours, **peers}.items():
            if args.warmup > 0:
                wrk_cycle(base, cycle, args.warmup, args.connections, f"{server[0]}w{name[:3]}")
            res = wrk_cycle(base, cycle, args.duration, args.connections, f"{server[0]}{time.time_ns()}")
            row[server] = res
            print(
                f"  {server:<9} {name:<26} {res['rps']:8.0f} req/s  p50 {res['p50_ms']:.2f}"
                f"  p99 {res['p99_ms']:.2f}  max {res['max_ms']:.1f} ms  errors {res['errors']}",
                flush=True,
            )
        rows.append(row)
    return rows


def invoice_count(base: str) -> int:
    _, raw = http("GET", base + "/api/invoice/all?pageSize=1", timeout=30)
    return int(json.loads(raw)["TotalCount"])


def phase_growth(args, base: str) -> dict:
    ops = {name: cycle for name, _, cycle in operations(base)}
    new, page = ops["new + all page"]
    details = ops["GET invoice/details"][0]
    cycle = [new, page, details]
    slices = []
    deadline = time.monotonic() + args.grow_timeout
    count = invoice_count(base)
    while count < args.grow_to and time.monotonic() < deadline:
        res = wrk_cycle(base, cycle, args.slice, args.connections, f"g{time.time_ns()}")
        count = invoice_count(base)
        res["invoices"] = count
        slices.append(res)
        print(
            f"  growth: {count:>6} invoices  {res['rps']:7.0f} req/s  p99 {res['p99_ms']:.2f} ms"
            f"  errors {res['errors']}",
            flush=True,
        )
    # The median slice of the first three and of the last three: one slice is noisy on a shared machine.
    first = sorted(slices[:3], key=lambda r: r["rps"])[len(slices[:3]) // 2]
    last = sorted(slices[-3:], key=lambda r: r["rps"])[len(slices[-3:]) // 2]
    last = {**last, "invoices": slices[-1]["invoices"]}
    return {"slices": slices, "kept": last["rps"] / first["rps"], "first": first, "last": last}


def phase_many(args, base: str) -> dict:
    ops = {name: cycle for name, _, cycle in operations(base)}
    cycle = [ops["GET invoice/details"][0], ops["new + all page"][0], ops["new + all page"][1]]
    wrk_cycle(base, cycle, 1, args.many, "mw")
    res = wrk_cycle(base, cycle, args.duration, args.many, f"m{time.time_ns()}")
    print(f"  {args.many} connections: {res}", flush=True)
    return res


def phase_accounts(args) -> dict:
    started = time.perf_counter()
    proc, url = start_any_key([])
    PROCS.append(proc)
    startup = time.perf_counter() - started
    try:
        alone = sorted(reads_alone(url, 3.0))
        during = asyncio.run(accounts_run(url, args.accounts, 50, args.accounts_timeout))
    finally:
        stop(proc)
    out = {
        "alone_median_ms": round(statistics.median(alone), 2),
        "alone_p99_ms": round(percentile(alone, 99) or 0.0, 2),
        **during,
        "startup_any_key_s": round(startup, 3),
    }
    out["p99_factor"] = round(out["read_p99_ms"] / out["alone_p99_ms"], 2) if out["alone_p99_ms"] else None
    print(f"  accounts: {out}", flush=True)
    return out


# --------------------------------------------------------------------------------------------


def table(rows: list[dict], peers: list[str]) -> str:
    head = f"{'call':<26} {'kind':<8} {'ours rps':>8} {'p99 ms':>7} {'err':>4}"
    for p in peers:
        head += f" | {p + ' rps':>13} {'p99':>7} {'x':>6}"
    head += " | target"
    out = [head, "-" * len(head)]
    for row in rows:
        o = row["ours"]
        line = f"{row['name']:<26} {row['label']:<8} {o['rps']:>8.0f} {o['p99_ms']:>7.2f} {o['errors']:>4}"
        verdict = ["p99 ok" if o["p99_ms"] <= TARGET_P99_MS else "p99 FAIL"]
        for p in peers:
            r = row.get(p)
            x = o["rps"] / r["rps"] if r and r["rps"] else None
            line += f" | {r['rps'] if r else 0:>13.0f} {r['p99_ms'] if r else 0:>7.2f} {fmt(x, '6.2f')}"
            if p == "prism" and x is not None:
                verdict.append("5x ok" if x >= TARGET_RATIO else "5x FAIL")
        out.append(line + " | " + ", ".join(verdict))
    out.append(
        "x = our rps / theirs; target: >= 5x Prism, our p99 <= 10 ms; 'uncached' rows alternate a write"
        " and a read of what it changed (rps counts both)"
    )
    return "\n".join(out)


PROCS: list[subprocess.Popen] = []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--wiremock-warmup", type=float, default=15)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--many", type=int, default=256, help="connections of the many-connections phase")
    ap.add_argument("--grow-to", type=int, default=50_000)
    ap.add_argument("--grow-timeout", type=float, default=180)
    ap.add_argument("--slice", type=float, default=3)
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--accounts-timeout", type=float, default=180)
    ap.add_argument("--phases", default="calls,growth,many,accounts", help="comma list")
    ap.add_argument("--no-prism", action="store_true")
    ap.add_argument("--no-wiremock", action="store_true")
    ap.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    phases = set(args.phases.split(","))
    report: dict = {"cpus": os.cpu_count(), "startup_s": []}
    try:
        if "calls" in phases:
            proc, ours, up = start_ours()
            PROCS.append(proc)
            report["startup_s"].append(round(up, 3))
            peers: dict[str, str] = {}
            if not args.no_prism:
                pr = start_prism(args.spec)
                if pr is not None:
                    PROCS.append(pr[0])
                    peers["prism"] = pr[1]
                    report["prism"] = pr[2]
                    print(f"prism {pr[2]} ready (-v error)", flush=True)
            report["calls"] = phase_calls(args, ours, peers)
            for p in PROCS:
                stop(p)
            print()
            print(table(report["calls"], list(peers)))
        for name, fn in (("growth", phase_growth), ("many", phase_many)):
            if name in phases:
                proc, base, up = start_ours()
                PROCS.append(proc)
                report["startup_s"].append(round(up, 3))
                try:
                    report[name] = fn(args, base)
                finally:
                    stop(proc)
        if "accounts" in phases:
            report["accounts"] = phase_accounts(args)
    finally:
        for p in PROCS:
            stop(p)
    print()
    if "growth" in report:
        g = report["growth"]
        print(
            f"growth to {g['last']['invoices']} invoices: {g['first']['rps']:.0f} -> {g['last']['rps']:.0f} req/s"
            f" ({g['kept']:.0%} kept; target >= 80%); p99 {g['first']['p99_ms']:.2f} -> {g['last']['p99_ms']:.2f} ms"
        )
    if "many" in report:
        m = report["many"]
        print(
            f"{args.many} connections: {m['rps']:.0f} req/s, p99 {m['p99_ms']:.2f} ms, max {m['max_ms']:.1f} ms,"
            f" errors {m['errors']} (target p99 <= 50 ms, max < 1 s, no errors)"
        )
    if "accounts" in report:
        a = report["accounts"]
        print(
            f"{a['accounts']} --any-key accounts in {a['create_seconds']} s; other account p99"
            f" {a['alone_p99_ms']} ms alone -> {a['read_p99_ms']} ms during ({a['p99_factor']}x; target < 2x)"
        )
    print(f"start-up to healthy /_mock/health: {report['startup_s']} s (target < 1 s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
