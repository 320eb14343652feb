"""The unit of work handed out by ``Store.transaction()``: one attribute per area of the store.

``tx.outbox.enqueue(...)``, ``tx.cursors.set(...)``, ``tx.accounts.put_many(...)``: each area
is a small object in its own module, all sharing the transaction's connection and its single
``now`` (taken from the store's injected clock when the transaction began). Nothing done
through ``tx`` is visible to other connections until the ``with`` block ends without an
exception.
"""

from __future__ import annotations

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
