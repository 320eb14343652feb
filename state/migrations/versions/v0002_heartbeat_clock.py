"""The heartbeat's monotonic reading and boot id (``state.liveness``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

Was step 2 of the pre-Alembic ``schema_version`` counter; a file already at that version has
the columns, and ``add_column`` leaves them as they are.
"""

from __future__ import annotations

from alembic import op

from state.schema import add_column

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    conn = op.get_bind()
    # Nullable: a beat written by an older daemon has neither, and is judged by wall time.
    add_column(conn, "heartbeat", "beat_monotonic", "FLOAT")
    add_column(conn, "heartbeat", "boot_id", "VARCHAR")


def downgrade() -> None:
    raise NotImplementedError("restore the copy the upgrade made beside the store")
