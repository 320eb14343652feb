"""The unit of work handed out by ``Store.transaction()``: one attribute per area of the store.

``tx.outbox.enqueue(...)``, ``tx.cursors.set(...)``, ``tx.accounts.put_many(...)``: each area
is a small object in its own module, all sharing the transaction's connection and its single
``now`` (taken from the store's injected clock when the transaction began). Nothing done
through ``tx`` is visible to other connections until the ``with`` block ends without an
exception.

``tx.savepoint()`` marks a point inside the unit to roll back to: the pipeline applies one
record in it, and a record that fails is undone alone (and quarantined) while the rest of the
page commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection

from state.accounts import AccountStates, AppliedSignals, Links, PendingMatches
from state.bookkeeping import Cursors, DaemonStatus, LastWritten
from state.deals import ImportedDeals
from state.journal import Audit, Commands, JobRuns
from state.outbox import Outbox
from state.quarantine import Quarantine
from state.queries import Queries

__all__ = ["Transaction"]


class Transaction:
    """Typed access to every table inside one ``BEGIN IMMEDIATE`` ... ``COMMIT``."""

    __slots__ = (
        "_conn",
        "accounts",
        "audit",
        "commands",
        "cursors",
        "daemon",
        "deals",
        "jobs",
        "last_written",
        "links",
        "now",
        "outbox",
        "pending_matches",
        "quarantine",
        "queries",
        "signals",
    )

    def __init__(self, conn: Connection, now: datetime) -> None:
        self._conn = conn
        self.now = now
        self.cursors = Cursors(conn, now)
        self.links = Links(conn, now)
        self.pending_matches = PendingMatches(conn, now)
        self.quarantine = Quarantine(conn, now)
        self.deals = ImportedDeals(conn, now)
        self.accounts = AccountStates(conn, now)
        self.signals = AppliedSignals(conn, now)
        self.outbox = Outbox(conn, now)
        self.last_written = LastWritten(conn, now)
        self.jobs = JobRuns(conn, now)
        self.commands = Commands(conn, now)
        self.audit = Audit(conn, now)
        self.daemon = DaemonStatus(conn, now)
        self.queries = Queries(conn)  # the dashboard's read-side queries, inside this unit

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """What the block writes is kept if it ends, undone (alone) if it raises.

        The exception is re-raised: the caller decides what the failure means. The revisions
        the block read or wrote are forgotten on the way out, so a state put after the undo
        is checked against the store again (``AccountStates.put_many``), and so are the
        signals known not to be applied (``AppliedSignals.forget_absent``).
        """
        nested = self._conn.begin_nested()
        try:
            yield
        except BaseException:
            nested.rollback()
            self.accounts.forget_revisions()
            self.signals.forget_absent()
            raise
        nested.commit()
