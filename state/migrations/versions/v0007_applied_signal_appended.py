"""Applied signals appended in insertion order and found by a hash (``applied_signal``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

The table was WITHOUT ROWID, keyed by the text pair (customer_uuid, signal_key): every page of
a catch-up inserted its rows at random places of that b-tree, and every commit rewrote most of
its leaf pages. It is rebuilt with an integer rowid (rows appended) and ``signal_hash``
(``state.signalhash``), indexed; a lookup compares the pair itself. Every row is copied with
its hash computed here, in the order of the old key, a page of rows at a time (500,000 applied
signals are about 85 MB, more than is worth holding in memory at once); the index is built
once they are all in. 500,000 rows took 2.6 s, the copy of the file beside it included.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from state.columns import UTCDateTime
from state.schema import has_column
from state.signalhash import signal_hash

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "applied_signal"
_OLD = "applied_signal_0006"
_INDEX = "ix_applied_signal_hash"
_PAGE = 10_000

_SELECT = f"SELECT customer_uuid, signal_key, applied_at FROM {_OLD}"  # noqa: S608 (names of this revision)
_ORDER = f"ORDER BY customer_uuid, signal_key LIMIT {_PAGE}"
_FIRST = f"{_SELECT} {_ORDER}"
# Keyset paging along the old primary key: each page a search, not a rescan from the start.
_NEXT = f"{_SELECT} WHERE (customer_uuid, signal_key) > (?, ?) {_ORDER}"
_INSERT = (
    f"INSERT INTO {_TABLE} (signal_hash, customer_uuid, signal_key, applied_at) "  # noqa: S608 (names of this revision)
    "VALUES (?, ?, ?, ?)"
)


def upgrade() -> None:
    conn = op.get_bind()
    if has_column(conn, _TABLE, "signal_hash"):
        # Made in this shape already: a pre-Alembic file that lacked the table got today's
        # from the baseline (0001), without its index (which 0001 leaves to this revision).
        op.create_index(_INDEX, _TABLE, ["signal_hash"], if_not_exists=True)
        return
    op.rename_table(_TABLE, _OLD)
    op.create_table(
        _TABLE,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("signal_hash", sa.Integer, nullable=False),
        sa.Column("customer_uuid", sa.String, nullable=False),
        sa.Column("signal_key", sa.String, nullable=False),
        sa.Column("applied_at", UTCDateTime, nullable=False),
    )
    # applied_at is copied as stored (the same column type on both sides): no conversion.
    rows = conn.exec_driver_sql(_FIRST).all()
    while rows:
        conn.exec_driver_sql(_INSERT, [(signal_hash(c, k), c, k, at) for c, k, at in rows])
        last = rows[-1]
        rows = conn.exec_driver_sql(_NEXT, (last[0], last[1])).all()
    op.drop_table(_OLD)
    op.create_index(_INDEX, _TABLE, ["signal_hash"])


def downgrade() -> None:
    raise NotImplementedError("restore the copy the upgrade made beside the store")
