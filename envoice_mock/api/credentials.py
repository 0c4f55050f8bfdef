"""The credentials a request names, read from its raw ASGI headers as every layer must read them:
a repeated header means its first value (as Starlette's `Headers.get` and the hot path read it),
so seeding, authentication and the journal always agree on whose call it is."""

from __future__ import annotations

from collections.abc import Iterable

KEY_HEADER = b"x-auth-key"
SECRET_HEADER = b"x-auth-secret"


def credentials(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """The first x-auth-key and x-auth-secret values (None where absent), header names in any case."""
    key = secret = None
    for name, value in headers:
        lname = name.lower()
        if lname == KEY_HEADER:
            if key is None:
                key = value.decode("latin-1")
        elif lname == SECRET_HEADER and secret is None:
            secret = value.decode("latin-1")
    return key, secret
