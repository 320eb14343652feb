"""ChartMogul's failures as cmsync errors, and the parser for its several error body shapes.

ChartMogul answers errors in at least four JSON shapes and, for 5xx, in plain text (see the
reference notes): ``{"code", "message", "param"}``, ``{"error": "..."}``,
``{"errors": {field: message}}`` and ``{field: [messages], "error_details": [...]}``.
``api_message`` reduces any of them to one readable line so every error carries the API's own
words.
"""

from __future__ import annotations

import json
from typing import Any

from cmsync.errors import AuthError, PermanentError, RetriableError, SyncError

__all__ = [
    "AmbiguousWriteError",
    "ChartMogulAuthError",
    "ChartMogulClientError",
    "ChartMogulError",
    "ChartMogulNotFoundError",
    "ChartMogulRetriableError",
    "already_exists",
    "api_message",
]


class ChartMogulError(SyncError):
    """Any failure talking to ChartMogul; ``status`` is None when no answer came."""

    def __init__(
        self, message: str, *, status: int | None = None, method: str = "", path: str = ""
    ):
        where = f"{method} {path}".strip()
        super().__init__(f"ChartMogul {where}: {message}" if where else f"ChartMogul: {message}")
        self.status = status
        self.api_message = message
        self.method = method
        self.path = path


class ChartMogulRetriableError(ChartMogulError, RetriableError):
    """429, 5xx, a timeout or a dropped connection."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
    ) -> None:
        ChartMogulError.__init__(self, message, status=status, method=method, path=path)
        self.retry_after = retry_after


class AmbiguousWriteError(ChartMogulRetriableError):
    """A create whose outcome is unknown (timed out, dropped, 5xx after sending).

    ChartMogul has no idempotency keys, so such a request is never blindly repeated: the caller
    looks the object up by its external id first.
    """


class ChartMogulAuthError(ChartMogulError, AuthError):
    """401 or 403: the API key is wrong, revoked or read-only."""


class ChartMogulClientError(ChartMogulError, PermanentError):
    """Any other 4xx: the request is wrong as sent; ``api_message`` says why."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        body: Any = None,
    ) -> None:
        super().__init__(message, status=status, method=method, path=path)
        self.body = body


class ChartMogulNotFoundError(ChartMogulClientError):
    """404: no such object."""


def already_exists(exc: ChartMogulClientError) -> bool:
    """A create refused because its external id is taken: an earlier attempt made it."""
    return "already exists" in exc.api_message or "already been taken" in exc.api_message


def _flatten(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(_flatten(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in value.items())
    return str(value)


def api_message(status: int, text: str) -> tuple[str, Any]:
    """The API's own message from any of ChartMogul's error shapes, and the decoded body."""
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        return (text.strip() or f"HTTP {status}")[:500], text
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            param = body.get("param")
            suffix = f" (param {param})" if param else ""
            return body["message"] + suffix, body
        if isinstance(body.get("error"), str):
            return body["error"], body
        if body.get("errors"):
            return _flatten(body["errors"]), body
        details = body.get("error_details")
        if isinstance(details, list) and details:
            return _flatten([d.get("message", d) for d in details if isinstance(d, dict)]), body
        fields = {k: v for k, v in body.items() if k != "error_details"}
        if fields:
            return _flatten(fields), body
    return f"HTTP {status}", body
