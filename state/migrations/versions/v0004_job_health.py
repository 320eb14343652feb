"""Each scheduled job's health, kept with the heartbeat (``job_health``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

A new table, empty: the daemon writes one row per job at its next beat. Until then (a store
the daemon has not run on since) ``cmsync status`` and the dashboard show no health.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from state.columns import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "job_health",
        sa.Column("job", sa.String, primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_success_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.String, nullable=True),
        sa.Column("last_error_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("restore the copy the upgrade made beside the store")
