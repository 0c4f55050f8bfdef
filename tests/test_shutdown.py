"""A real server process: prompt stop on SIGTERM/SIGINT under load, and request deadlines."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from .helpers import AUTH, RawReceiver, ServerProcess, eventually, raw_request

HOOKS = 10
DELIVERY_TIMEOUT = 2.0


def all_activity_ids(client: httpx.Client) -> set[int]:
    """Every activity id of the account, page after page."""
    ids: set[int] = set()
    since = 0
    while True:
        page = client.get("/_mock/activities", params={"since": since, "limit": 1000}).json()
        if not page:
            return ids
        ids.update(a["Id"] for a in page)
        since = page[-1]["Id"]


@pytest.mark.parametrize(
    ("sig", "activities"), [(signal.SIGTERM, 1000), (signal.SIGINT, 200)], ids=["SIGTERM", "SIGINT"]
)
def test_a_signal_stops_the_server_promptly_under_load_and_what_is_owed_is_delivered_after_restart(
    tmp_path: Path, sig: signal.Signals, activities: int
) -> None:
    args = (
        "--state-file",
        str(tmp_path / "state.sqlite"),
        "--delivery-timeout",
        f"{DELIVERY_TIMEOUT:g}s",
        "--retry-schedule",
        "0.2,60",
        "--probe-interval",
        "0.5s",
    )
    with RawReceiver.running("hang") as receiver:
        server = ServerProcess(*args)
        try:
            for i in range(HOOKS):
                server.client.post("/_mock/webhooks", json={"Url": f"{receiver.url}/{i}"}).raise_for_status()
            invoice = server.client.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"]
            for _ in range(activities):
                server.client.post(f"/_mock/invoice/{invoice}/view").raise_for_status()
            eventually(lambda: receiver.requests >= HOOKS, what="every webhook to have an attempt hanging")

            def busy() -> None:  # a client waiting on deliveries that will never finish
                with contextlib.suppress(httpx.HTTPError):
                    httpx.post(f"{server.url}/_mock/deliveries/idle", headers=AUTH, timeout=60)

            waiter = threading.Thread(target=busy, daemon=True)
            waiter.start()
            started = time.monotonic()
            server.proc.send_signal(sig)
            server.proc.wait(timeout=DELIVERY_TIMEOUT + 10)
            stopped_in = time.monotonic() - started
        finally:
            server.stop()
        assert stopped_in < DELIVERY_TIMEOUT + 3, f"took {stopped_in:.1f}s to stop"
        receiver.mode = "ok"  # the receivers recover while the mock is down
        server = ServerProcess(*args)
        try:
            owed = all_activity_ids(server.client)

            got: dict[str, set[int]] = {}
            seen = 0

            def delivered_everywhere() -> bool:
                nonlocal seen
                answered = receiver.answered[seen:]
                seen += len(answered)
                for path, body in answered:
                    got.setdefault(path, set()).add(json.loads(body)["Activity"]["Id"])
                return len(got) == HOOKS and all(ids >= owed_since for ids in got.values())

            owed_since = set(sorted(owed)[-activities:])  # the views, all after the registrations
            eventually(delivered_everywhere, timeout=60, what="every owed activity on every webhook")
        finally:
            server.stop()


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes this connection within `timeout` (reading whatever it says first)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:  # reset: closed too
        return True
    return True


def test_connections_that_never_finish_a_request_are_closed() -> None:
    server = ServerProcess("--request-timeout", "0.5s")
    try:
        parts = urlsplit(server.url)
        address = (parts.hostname or "127.0.0.1", parts.port or 80)
        partial = [
            b"",  # opens and says nothing
            b"GET /_mock/health HTTP/1.1\r\nHost: x\r\n",  # a head that never ends
            b"POST /_mock/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",  # a body that never ends
        ]
        socks = []
        for i in range(60):
            sock = socket.create_connection(address)
            sock.sendall(partial[i % 3])
            socks.append(sock)
        try:
            assert all(closed_by_server(s, timeout=10) for s in socks)
        finally:
            for s in socks:
                s.close()
        # A client that keeps its requests coming is served throughout.
        assert server.client.get("/_mock/health").status_code == 200
    finally:
        server.stop()


def answers_on(sock: socket.socket, count: int, timeout: float) -> list[int]:
    """The statuses of the next `count` answers on a socket (fewer if it closes first)."""
    sock.settimeout(timeout)
    got = b""
    with contextlib.suppress(OSError):
        while got.count(b"HTTP/1.1 ") < count or not got.endswith((b"}", b"]")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    return [int(part[:3]) for part in got.split(b"HTTP/1.1 ")[1:]]


def test_a_pipelined_request_that_takes_longer_than_the_request_timeout_is_answered() -> None:
    # The request deadline is for receiving a request; once it is all here, the application may
    # take its time, even when it waited behind another in a pipeline.
    with RawReceiver.running("hang") as receiver:
        server = ServerProcess("--request-timeout", "0.5s", "--delivery-timeout", "1.5s")
        try:
            server.client.post("/_mock/webhooks", json={"Url": receiver.url}).raise_for_status()
            invoice = server.client.get("/api/invoice/all", params={"pageSize": 1}).json()["Result"][0]["Id"]
            parts = urlsplit(server.url)
            with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80)) as sock:
                sock.sendall(  # the viewing's webhook hangs; settle waits for that attempt
                    raw_request("POST", f"/_mock/invoice/{invoice}/view")
                    + raw_request("POST", "/_mock/deliveries/settle", b"{}")
                )
                started = time.monotonic()
                assert answers_on(sock, 2, timeout=10) == [200, 200]
                assert time.monotonic() - started > 1.0  # the hung receiver held the second one
        finally:
            server.stop()


def test_a_connection_kept_busy_longer_than_the_timeouts_stays_open_and_an_idle_one_closes() -> None:
    server = ServerProcess("--request-timeout", "0.5s")
    try:
        parts = urlsplit(server.url)
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80)) as sock:
            started = time.monotonic()
            served = 0
            while time.monotonic() - started < 1.5 and served < 100_000:  # three request timeouts
                sock.sendall(raw_request("GET", "/api/general/currencies"))
                assert answers_on(sock, 1, timeout=5) == [200]
                served += 1
            assert closed_by_server(sock, timeout=5)  # idle now: closed by the deadline
            assert time.monotonic() - started < 1.5 + 5
    finally:
        server.stop()
