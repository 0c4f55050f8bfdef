"""Cursor paging of the control plane's logs: `?since=<cursor>&limit=<n>`, a `Link` to the next page."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from envoice_mock.faults import ApiFault

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


def cursor(request: Request, name: str = "since", what: str = "an id") -> int:
    """A non-negative integer cursor from the query (0 when absent)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return 0
    if not re.fullmatch(r"[0-9]{1,18}", raw):
        raise ApiFault(400, "InvalidValue", f"{name} must be {what} (digits 0-9)", field=name)
    return int(raw)


def limit_of(request: Request) -> int:
    """The page size: `limit`, 1 to MAX_LIMIT, DEFAULT_LIMIT when absent."""
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiFault(
            400, "InvalidValue", f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit"
        )
    return int(raw)


def link_next(request: Request, response: Response, since: int, limit: int) -> Response:
    """Add `Link: <...?since=N&limit=L>; rel="next"` (other query parameters kept)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("since", "limit")]
    params += [("since", str(since)), ("limit", str(limit))]
    response.headers["Link"] = f'<{request.url.path}?{urlencode(params)}>; rel="next"'
    return response
