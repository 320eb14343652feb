"""What can go wrong in the store, each saying what to do about it.

``StoreError`` is the base. Schema errors are fatal at start-up (wrong file or wrong version);
the others mean a caller broke a rule of the store and the transaction was rolled back, which
for the pipeline means "replay the page": nothing half-written was committed.
"""

from __future__ import annotations

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
