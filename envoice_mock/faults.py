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


def error_info(code: str, message: str, status: int, field: str | None = None) -> dict[str, Any]:
    """One IErrorInfo item."""
    visible = (
        (f"{field} {message}" if field and not message.startswith(field) else message)
        if status != 500
        else "Something went wrong on our side."
    )
    return {
        "Code": code,
        "FaultMessage": f"{field}: {message}" if field and not message.startswith(field) else message,
        "Group": GROUPS.get(status, "Request"),
        "UserVisibleMessage": visible,
    }


def fault_body(fault: ApiFault) -> dict[str, Any]:
    """The envelope for a fault."""
    return {
        "IsFaulted": True,
        "ErrorMessages": [error_info(code, msg, fault.status, fld) for code, msg, fld in fault.errors],
    }
