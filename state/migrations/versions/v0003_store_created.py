"""The store records when it was created (``store_info``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

A new file writes its creation time itself; a file older than this revision never recorded
it, so its ``created_at`` is NULL, shown as "unknown" (the file's ctime is no substitute: it
changes with every write).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from state.columns import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    info = op.create_table(
        "store_info",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=True),
        sa.CheckConstraint("id = 1", name="ck_single_row"),
    )
    assert info is not None
    op.bulk_insert(info, [{"id": 1, "created_at": None}])


def downgrade() -> None:
    raise NotImplementedError("restore the copy the upgrade made beside the store")
