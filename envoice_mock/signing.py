"""Webhook signatures: ours (documented in the README) and the Standard Webhooks headers.

Ours: `Signature = hex(HMAC-SHA256(key=secret, msg=UTF-8(Timestamp + "." + canonical(Activity))))`
where canonical is JSON with sorted keys, separators (",", ":") and non-ASCII kept as is.
The timestamp is always passed in, so tests and scenario replays are deterministic.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


def canonical(activity: dict[str, Any]) -> str:
    """The canonical JSON text of an Activity."""
    return json.dumps(activity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(secret: str, timestamp: str, activity: dict[str, Any]) -> str:
    """Our signature of an activity at a timestamp, as lower-case hex."""
    message = f"{timestamp}.{canonical(activity)}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: str) -> bool:
    """True when a delivered body's Signature matches its Timestamp and Activity (constant-time)."""
    try:
        payload = json.loads(body)
        signature = payload["Signature"]
        expected = sign(secret, payload["Timestamp"], payload["Activity"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    return isinstance(signature, str) and hmac.compare_digest(signature.encode(), expected.encode())


def whsec(secret: str) -> str:
    """The Standard Webhooks form of a signing secret: `whsec_` + base64 of its bytes."""
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value: `v1,<base64 HMAC-SHA256 of id.timestamp.body>`."""
    key = base64.b64decode(whsec(secret).removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
