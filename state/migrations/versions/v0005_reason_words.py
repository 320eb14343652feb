"""The audit trail keeps each write's keys beside its reason in words (``audit.keys``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

An audit row's ``reason`` said why in signal keys (``mrr|<customer>|...``); it now says it in
words (``state.words``) and the keys move to a column of their own, so ``cmsync status
--json`` can still name the signal a write came from. Rows written before keep their reason
as it was, and an empty ``keys``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "audit", sa.Column("keys", sa.String, nullable=False, server_default=sa.text("''"))
    )


def downgrade() -> None:
    raise NotImplementedError("restore the copy the upgrade made beside the store")
