"""Binding the listening socket before a server starts, with one-line reasons when it cannot."""

from __future__ import annotations

import errno
import socket

from envoice_mock.config import SettingsError


def bind_listener(host: str, port: int, backlog: int = 2048, what: str = "--port") -> socket.socket:
    """A listening TCP socket on host:port (port 0 picks a free one), or a SettingsError saying why not.

    Connections made before the server's loop starts wait in the backlog instead of being refused.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise SettingsError(
            f"cannot listen on host {host!r}: {reason} (use an address of this machine such as 127.0.0.1 or 0.0.0.0)"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise SettingsError(_bind_failure(host, port, exc, what)) from None
    return sock


def _bind_failure(host: str, port: int, exc: OSError, what: str) -> str:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: the address is already in use by another program "
            f"(use {what} 0 for a free port, or another {what})"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on {where}: {host} is not an address of this machine (try 127.0.0.1 or 0.0.0.0)"
        )
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied (ports below 1024 need privileges; use {what} 8080 or 0)"
    return f"cannot listen on {where}: {exc.strerror or exc}"
