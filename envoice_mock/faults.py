"""The API's fault envelope: `{"IsFaulted": true, "ErrorMessages": [IErrorInfo...]}`."""

from __future__ import annotations

from typing import Any

GROUPS = {
    400: "Validation",
    401: "Authentication",
    403: "Authorization",
    404: "NotFound",
    405: "Request",
    409: "Conflict",
    413: "Request",
    415: "Request",
    500: "Server",
}


class ApiFault(Exception):
    """An error to answer with the fault envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        errors: list[tuple[str, str, str | None]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.errors = errors or [(code, message, field)]


def phrase(message: str, field: str | None) -> tuple[str, str]:
    """(FaultMessage, UserVisibleMessage) for an error about `field`.

    The fault message names the field first: `Id: there is no invoice 123.` for a sentence
    (written capitalised), `Items: must be a list` for a predicate (written lower-case). The
    visible message reads on its own: `There is no invoice 123.`, `Items must be a list`.
    """
    if not field or message.lower().startswith(field.lower()):
        return message, message
    if message[:1].islower():
        return f"{field}: {message}", f"{field} {message}"
    lowered = message[0].lower() + message[1:] if message[1:2].islower() else message
    return f"{field}: {lowered}", message


def error_info(code: str, message: str, status: int, field: str | None = None) -> dict[str, Any]:
    """One IErrorInfo item."""
    fault_message, visible = phrase(message, field)
    return {
        "Code": code,
        "FaultMessage": fault_message,
        "Group": GROUPS.get(status, "Request"),
        "UserVisibleMessage": visible if status != 500 else "Something went wrong on our side.",
    }


def fault_body(fault: ApiFault) -> dict[str, Any]:
    """The envelope for a fault."""
    return {
        "IsFaulted": True,
        "ErrorMessages": [error_info(code, msg, fault.status, fld) for code, msg, fld in fault.errors],
    }
