"""How long an invoice PDF takes, and what pulling PDFs does to the API's latency.

    .venv/bin/python bench/pdf_bench.py [--seconds 6] [--pullers 2]

Starts envoice-mock on a free loopback port, then: PDFs fetched one after another (median and
max), then the API's `invoice/status` latency while `--pullers` threads fetch PDFs non-stop.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchlib import HOST, free_port, http, our_command, percentile, stop, wait_ready

INVOICE = 89400042  # a seeded unpaid invoice of the sandbox account (default seed)


def main() -> None:
    """Run both measurements and print one line each."""
    parser = argparse.ArgumentParser(description="PDF rendering cost and its effect on API latency")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--pullers", type=int, default=2)
    opts = parser.parse_args()
    port = free_port()
    base = f"http://{HOST}:{port}"
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    cmd = [*our_command(), "serve", "--port", str(port), "--clock-start", "2024-03-01T12:00:00Z"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"{base}/_mock/health", proc, 30, "envoice-mock", log)
        link = json.loads(http("GET", f"{base}/api/invoice/pdf?id={INVOICE}")[1])["Link"]
        alone = []
        for _ in range(20):
            started = time.perf_counter()
            urllib.request.urlopen(link, timeout=10).read()
            alone.append(time.perf_counter() - started)
        alone.sort()
        print(
            f"PDF alone: median {(percentile(alone, 50) or 0) * 1e3:.0f} ms, max {alone[-1] * 1e3:.0f} ms (20 fetches)"
        )
        deadline = time.monotonic() + opts.seconds

        def pull() -> None:
            while time.monotonic() < deadline:
                urllib.request.urlopen(link, timeout=10).read()

        pullers = [threading.Thread(target=pull) for _ in range(opts.pullers)]
        for t in pullers:
            t.start()
        latencies = []
        while time.monotonic() < deadline:
            started = time.perf_counter()
            http("GET", f"{base}/api/invoice/status?id={INVOICE}")
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)
        for t in pullers:
            t.join()
        latencies.sort()
        p50, p99 = percentile(latencies, 50) or 0, percentile(latencies, 99) or 0
        print(
            f"API invoice/status while {opts.pullers} clients pull PDFs: n={len(latencies)} "
            f"p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms"
        )
    finally:
        stop(proc)
        log.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
