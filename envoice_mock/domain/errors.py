"""The refusals of the domain (each carries a fault code and an HTTP status) and how they name things."""

from __future__ import annotations

# How an error names a row of a table, when the table's name is not the word a user expects.
KIND_LABELS = {"worktype": "work type", "paymentlink": "payment link", "category": "invoice category"}
# How an error names a thing of a reference list.
REFERENCE_LABELS = {
    "currencies": "currency",
    "countries": "country",
    "uilanguages": "UI language",
    "gateways": "payment gateway",
    "dateformats": "date format",
}


class StoreError(Exception):
    """A request the store refuses; carries the fault code and HTTP status to report."""

    status = 400
    code = "BadRequest"

    def __init__(self, message: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class NotFound(StoreError):
    """No such object in this account."""

    status = 404
    code = "NotFound"


class AccountLimit(StoreError):
    """--any-key may not create more accounts."""

    status = 429
    code = "AccountLimit"


def label(kind: str) -> str:
    """How a message names a row of `kind` (`work type`, `invoice`)."""
    return KIND_LABELS.get(kind, kind)


def article(noun: str) -> str:
    """`an order`, `a payment link`."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
