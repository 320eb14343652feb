"""Errors classified by what the caller should do about them.

Every failure that crosses a client boundary becomes one of these (each external system has its
own subclasses that add the system's status and message). The category, not the system, tells
the pipeline what to do:

- ``RetriableError``: try again later, after ``retry_after`` seconds when the server said so.
- ``AuthError``: the credentials or session are refused; stop that source and say so.
- ``PermanentError``: this request can never succeed as sent (validation, missing field,
  deleted record); dead-letter it with the reason, do not retry.
- ``SkippableRecordError``: one record from a source is malformed; quarantine it and go on.
- ``FatalError``: misconfiguration or a broken invariant; stop the daemon loudly.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "AuthFailingError",
    "FatalError",
    "PermanentError",
    "RetriableError",
    "SkippableRecordError",
    "SyncError",
]


class SyncError(Exception):
    """Base of every error cmsync raises on purpose."""


class RetriableError(SyncError):
    """A transient failure: the same request may succeed later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(SyncError):
    """Credentials or session refused: stop talking to that system until fixed."""


class PermanentError(SyncError):
    """The request is wrong as sent and will fail the same way every time."""


class SkippableRecordError(SyncError):
    """One record is unusable; the rest of its page is fine."""


class FatalError(SyncError):
    """Misconfiguration or a broken invariant: nothing sensible can continue."""


class AuthFailingError(AuthError):
    """A call not attempted: the system refused cmsync's credentials and its gate waits
    ``retry_in`` seconds before the next attempt (``cmsync.authgate``)."""

    def __init__(self, message: str, *, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = retry_in
