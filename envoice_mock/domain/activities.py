"""The activity log: what an Activity holds, its message, and who hears of it.

Every state change that the real service audits becomes an Activity, appended to the
account's log and to the document's, and handed to the listeners (the webhook engine, the
event stream, retention) once the unit of work that made it has committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict, cast

from envoice_mock.domain.accounts import Account

# The fields an activity names its document by: (id field, number field) per document kind.
DOCUMENT_ID_FIELDS = {
    "invoice": ("InvoiceId", "InvoiceNumber"),
    "estimation": ("EstimationId", "EstimationNumber"),
    "order": ("OrderId", "OrderNumber"),
}


class Activity(TypedDict, total=False):
    """One entry of the activity log, as served (field order is the served order)."""

    Id: int
    Type: str
    Message: str
    Link: str
    InvoiceId: int
    InvoiceNumber: str | None
    EstimationId: int
    EstimationNumber: str | None
    OrderId: int
    OrderNumber: str | None
    CreatedOn: str
    UserId: int


ActivityListener = Callable[[Account, dict[str, Any]], None]


class ActivityLog:
    """Builds activities from the message templates of activities.yaml and fans them out."""

    def __init__(self, messages: dict[str, Any]) -> None:
        self.messages = messages
        self.listeners: list[ActivityListener] = []
        self.quiet = False  # seeding writes history: nobody hears of it

    def build(
        self,
        account: Account,
        kind: str,
        row: dict[str, Any],
        activity_type: str,
        link: str,
        extra: dict[str, Any],
    ) -> Activity:
        """A new activity about a document (its id drawn now; CreatedOn filled in by the caller)."""
        id_field, number_field = DOCUMENT_ID_FIELDS[kind]
        activity: dict[str, Any] = {
            "Id": account.next_id("activity"),
            "Type": activity_type,
            "Message": self.message(account, kind, row, activity_type, extra),
            "Link": link,
            id_field: row["Id"],
            number_field: row.get("Number"),
        }
        return cast(Activity, activity)

    def append(self, account: Account, kind: str, row: dict[str, Any], activity: Activity) -> dict[str, Any]:
        """Add the activity to the account's log and the document's; the stored (JSON) form."""
        entry = cast(dict[str, Any], activity)
        account.activities.append(entry)
        account.version += 1
        account.doc_activities.setdefault((kind, row["Id"]), []).append(entry)
        return entry

    def tell(self, account: Account, activity: dict[str, Any]) -> None:
        """Hand an activity to every listener, in the order they registered."""
        for listener in self.listeners:
            listener(account, activity)

    def message(
        self, account: Account, kind: str, row: dict[str, Any], activity_type: str, extra: dict[str, Any]
    ) -> str:
        """The activity's Message, from its template (the payment or default one when it has none)."""
        client = account.table("client").get(row.get("ClientId", 0)) or {}
        template = (self.messages.get("messages") or {}).get(activity_type)
        if template is None:
            key = "payment" if activity_type.startswith("NewPaymentWith") else "default"
            template = self.messages.get(key) or "{kind} {number}: {type}"
        values = {
            "number": row.get("Number") or row.get("Name") or row["Id"],
            "client": client.get("Name")
            or (row.get("OrderBillingDetails") or {}).get("Name")
            or "The client",
            "status": extra.get("status") or row.get("Status"),
            "gateway": extra.get("gateway") or activity_type.removeprefix("NewPaymentWith"),
            "kind": kind.capitalize(),
            "type": activity_type,
        }
        return str(template.format(**values))
