"""The alerts the daemon has sent and not yet seen clear (``alert_sent``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

A new table, empty: an alert is sent at most once per condition, and a restarted daemon reads
here what it already said, so it neither repeats an alert nor misses a recovery.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from state.columns import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alert_sent",
        sa.Column("condition", sa.String, primary_key=True),
        sa.Column("mark", sa.Integer, nullable=False),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("restore the copy the upgrade made beside the store")
