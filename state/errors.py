"""What can go wrong in the store, each saying what to do about it.

``StoreError`` is the base. Schema errors are fatal at start-up (wrong file or wrong version);
the others mean a caller broke a rule of the store and the transaction was rolled back, which
for the pipeline means "replay the page": nothing half-written was committed.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "LinkConflictError",
    "NotAStoreError",
    "OutboxTransitionError",
    "SchemaTooNewError",
    "SchemaTooOldError",
    "StaleStateError",
    "StoreBusyError",
    "StoreError",
    "StoreUnwritableError",
    "unwritable_reason",
]


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class NotAStoreError(StoreError):
    """The file is missing, not SQLite, or a SQLite file that cmsync did not create."""

    def __init__(self, path: Path, why: str) -> None:
        self.path = path
        super().__init__(f"{path}: {why}")


class SchemaTooNewError(StoreError):
    """The file is at a revision this cmsync does not know: a newer cmsync wrote it."""

    def __init__(self, path: Path, found: str, known: str) -> None:
        self.path, self.found, self.known = path, found, known
        super().__init__(
            f"{path} is at store revision {found}, which this cmsync does not know (its newest "
            f"is {known}): a newer cmsync wrote it; upgrade cmsync (or point it at another "
            "database); the file was not changed"
        )


class SchemaTooOldError(StoreError):
    """A read-only opener found an older revision, which only a writer may migrate."""

    def __init__(self, path: Path, found: str, known: str) -> None:
        self.path, self.found, self.known = path, found, known
        super().__init__(
            f"the store {path} is at revision {found}, this cmsync needs {known}: start "
            "`cmsync run` or run `cmsync migrate` once (it backs the file up first), then try "
            "again"
        )


class StoreBusyError(StoreError):
    """Another connection held the write lock for longer than the busy timeout."""


class StoreUnwritableError(StoreError):
    """The store cannot be written: its disk is full, it is read-only, or the disk fails.

    Nothing of the unit of work was committed, and nothing a caller does fixes it: an
    operator must make room or make the file writable. ``reason`` says which, in SQLite's
    words (or the OS's), for the one line the daemon logs and ``cmsync status`` shows.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: the store cannot be written: {reason}")


# SQLite's result codes for a store that cannot take a write (https://sqlite.org/rescode.html):
# SQLITE_FULL "database or disk is full", SQLITE_READONLY "attempt to write a readonly
# database" (and its extended codes), SQLITE_IOERR a disk I/O error (and its extended codes),
# SQLITE_CANTOPEN the journal or WAL file could not be created.
_UNWRITABLE_CODES = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")
_UNWRITABLE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EIO, errno.EDQUOT, errno.EFBIG)


def unwritable_reason(exc: BaseException) -> str | None:
    """Why ``exc`` means the store cannot be written (None: it means something else).

    Looks through SQLAlchemy's wrapper (``orig``) and the chain of causes, so the one place
    that classifies (``Store``'s unit of work) sees the driver's own error.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = getattr(current, "sqlite_errorname", "")
        if isinstance(name, str) and name.startswith(_UNWRITABLE_CODES):
            return f"{current} ({name})"
        if isinstance(current, PermissionError | IsADirectoryError):
            return f"{current.strerror or current}: {current.filename or ''}".rstrip(": ")
        if isinstance(current, OSError) and current.errno in _UNWRITABLE_ERRNOS:
            return f"{current.strerror or current}"
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None


class StaleStateError(StoreError):
    """Account states were written from a revision someone else has since replaced."""

    def __init__(self, customer_uuids: Iterable[str]) -> None:
        self.customer_uuids = tuple(sorted(customer_uuids))
        shown = ", ".join(self.customer_uuids[:5])
        more = f" and {len(self.customer_uuids) - 5} more" if len(self.customer_uuids) > 5 else ""
        super().__init__(
            f"account state changed since it was read for {shown}{more}: "
            "re-read the states and apply the signals again (the transaction was rolled back)"
        )


class LinkConflictError(StoreError):
    """A link would tie a customer or an Account to a second partner."""


class OutboxTransitionError(StoreError):
    """An outbox row was moved from a status that does not allow it (e.g. done -> dead)."""

    def __init__(self, action: str, ids: Iterable[int], expected: str) -> None:
        self.ids = tuple(sorted(ids))
        super().__init__(
            f"cannot {action} outbox rows {list(self.ids)[:10]}: they are not {expected} "
            "(the transaction was rolled back)"
        )
