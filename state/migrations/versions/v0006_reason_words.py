"""Reasons in words, keys beside them: ``audit.keys`` and ``outbox.merged_keys``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

An audit row's ``reason`` said why in signal keys (``mrr|<customer>|...``); it now says it in
words (``state.words``) and the keys move to a column of their own, so ``cmsync status
--json`` can still name the signal a write came from. Rows written before keep their reason
as it was, and an empty ``keys``. An outbox row into which later effects are merged keeps
their keys too (``merged_keys``; its own stays its idempotency key), for that audit entry.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    empty = sa.text("''")
    op.add_column("audit", sa.Column("keys", sa.String, nullable=False, server_default=empty))
    op.add_column(
        "outbox", sa.Column("merged_keys", sa.String, nullable=False, server_default=empty)
    )


def downgrade() -> None:
    raise NotImplementedError("restore the copy the upgrade made beside the store")
