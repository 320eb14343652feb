"""Salesforce failures as cmsync errors, and which record-level error codes are transient.

simple-salesforce raises one exception class per HTTP status and carries the decoded body,
``[{"message", "errorCode", "fields"}]``; ``from_simple_salesforce`` turns each into a cmsync
error class that says what to do. Record-level results inside a collection call carry
``statusCode`` values; ``TRANSIENT_CODES`` are the ones worth retrying.
"""

from __future__ import annotations

from typing import Any

from cmsync.errors import AuthError, PermanentError, RetriableError, SyncError

__all__ = [
    "TRANSIENT_CODES",
    "BudgetExhaustedError",
    "SalesforceAuthError",
    "SalesforceError",
    "SalesforcePermanentError",
    "SalesforceRetriableError",
    "SessionExpiredError",
    "error_summary",
]

# Record or request error codes that a later retry may get past.
TRANSIENT_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "SERVER_UNAVAILABLE",
        "REQUEST_RUNNING_TOO_LONG",
        "QUERY_TIMEOUT",
        "UNKNOWN_EXCEPTION",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    }
)


class SalesforceError(SyncError):
    """Any failure talking to Salesforce."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(f"Salesforce: {message}")
        self.status = status
        self.code = code
        self.api_message = message


class SalesforceRetriableError(SalesforceError, RetriableError):
    """5xx, a timeout, a dropped connection, a locked row."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        SalesforceError.__init__(self, message, status=status, code=code)
        self.retry_after = retry_after


class BudgetExhaustedError(SalesforceRetriableError):
    """The org's daily API allocation (or cmsync's share of it) is spent: wait, do not retry."""


class SessionExpiredError(SalesforceError, AuthError):
    """The access token is no longer valid (renewed once by the gateway before this surfaces)."""


class SalesforceAuthError(SalesforceError, AuthError):
    """Login refused, or the integration user lacks access."""


class SalesforcePermanentError(SalesforceError, PermanentError):
    """The request is wrong as sent: malformed query, unknown field, validation failure."""


def error_summary(body: Any) -> tuple[str, str | None]:
    """(message, first error code) from a Salesforce error body of any shape."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        code = first.get("errorCode") or first.get("statusCode")
        messages = "; ".join(str(e.get("message", e)) for e in body if isinstance(e, dict))
        return messages or str(code), str(code) if code else None
    if isinstance(body, dict):
        if "error" in body:  # OAuth: {"error": ..., "error_description": ...}
            return str(body.get("error_description") or body["error"]), str(body["error"])
        return str(body.get("message", body)), body.get("errorCode")
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")[:500], None
    return str(body)[:500], None
