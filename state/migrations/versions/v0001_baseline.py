"""Baseline: the store as the pre-Alembic ``schema_version`` 1 defined it.

Revision ID: 0001
Revises:
Create Date: 2026-12-07

Runs only on a file made before Alembic, at its version 1 or 2 (a new file is built from the
metadata and stamped at the head); 0002 then finds a version 2 file's columns already there.
Such a file already has these tables, so each step adds only what is missing: a
store written before a table or an index existed gets it here, in its current shape, and a
complete one is left as it was. ``schema_version`` then carries ``PRE_ALEMBIC_GUARD``, so an
older cmsync refuses the file from now on.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import update
from sqlmodel import SQLModel

from state.migrations import now
from state.schema import PRE_ALEMBIC_GUARD, install_triggers
from state.tables import ALL_TABLES, SchemaVersionRow, table_of

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# The tables of schema version 1, frozen here: a table added later arrives in its own revision.
BASELINE_TABLES = (
    "schema_version",
    "cursor",
    "account_link",
    "pending_match",
    "quarantine",
    "imported_deal",
    "account_state",
    "stage_total",
    "applied_signal",
    "outbox",
    "merged_key",
    "last_written",
    "job_run",
    "command",
    "audit",
    "heartbeat",
    "api_budget",
)

# Indexes of a table a later revision rebuilds, on columns the version 1 table does not have:
# that revision makes them (0007: ``applied_signal`` found by hash).
LATER_INDEXES = frozenset({"ix_applied_signal_hash"})


def upgrade() -> None:
    conn = op.get_bind()
    tables = [t for t in ALL_TABLES if t.name in BASELINE_TABLES]
    SQLModel.metadata.create_all(conn, tables=tables, checkfirst=True)
    for table in tables:
        for index in table.indexes:
            if index.name not in LATER_INDEXES:
                index.create(conn, checkfirst=True)
    install_triggers(conn)
    version = table_of(SchemaVersionRow)
    conn.execute(update(version).values(version=PRE_ALEMBIC_GUARD, updated_at=now()))


def downgrade() -> None:
    raise NotImplementedError("restore the copy the upgrade made beside the store")
