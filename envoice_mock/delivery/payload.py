"""The body and headers of one delivery: the activity as the webhook carries it, signed twice
(the Envoice `Signature` over the body's Timestamp and Activity, and Standard Webhooks headers).

Pure functions of their arguments: the send times are passed in, nothing here reads a clock.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from envoice_mock.clock import parse_iso, webhook_timestamp
from envoice_mock.delivery.records import Activity
from envoice_mock.signing import sign, standard_signature


def activity_payload(
    activity: Activity, activity_types: tuple[str, ...], fields: tuple[str, ...]
) -> dict[str, Any]:
    """The Activity object as the webhook body carries it: `fields` (activities.yaml
    `webhook_fields`) in order, Type as the enum's index."""
    out: dict[str, Any] = {}
    for name in fields:
        value = activity.get(name)
        if name == "Type":
            value = activity_types.index(value) if value in activity_types else value
        elif name == "CreatedOn" and value:
            value = webhook_timestamp(parse_iso(value))
        elif name in ("InvoiceId", "OrderId") and value is None:
            value = 0
        out[name] = value
    return out


def signed_request(
    *,
    secret: str,
    msg_id: str,
    activity: dict[str, Any],
    sent_at: datetime,
    unix: int,
    delivery_id: str,
    attempt: int,
    corrupt: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """The signed body and headers of one attempt.

    `sent_at` is the mock's clock (the body's Timestamp); `unix` is the real send time in whole
    seconds, for the Standard Webhooks timestamp, so receivers that check its freshness (as the
    standardwebhooks library does, within 5 minutes) accept deliveries even from a virtual clock.
    `corrupt` reverses both signatures (chaos)."""
    timestamp = webhook_timestamp(sent_at)
    signature = sign(secret, timestamp, activity)
    if corrupt:
        signature = signature[::-1]
    body = json.dumps(
        {"Signature": signature, "Timestamp": timestamp, "Activity": activity},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    std = standard_signature(secret, msg_id, unix, body)
    if corrupt:
        std = "v1," + std[3:][::-1]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "envoice-mock-webhooks/1",
        "X-Envoice-Signature": signature,
        "X-Envoice-Delivery": delivery_id,
        "X-Envoice-Attempt": str(attempt),
        "webhook-id": msg_id,
        "webhook-timestamp": str(unix),
        "webhook-signature": std,
    }
    return body, headers
