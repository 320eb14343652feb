"""Alembic's environment for the store: always online, on the connection the store hands over.

``state.schema.prepare`` passes its connection, already inside ``BEGIN IMMEDIATE``, as
``config.attributes["connection"]``; Alembic sees the transaction as external and runs every
revision inside it, so the whole upgrade commits or rolls back as one (SQLite's DDL is
transactional; ``transactional_ddl`` says so, as Alembic's SQLite dialect assumes it is not).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import state.tables  # noqa: F401  (registers the store's tables on the metadata)

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "the store's migrations run on the store's own connection: open it with "
        "`cmsync migrate` or start `cmsync run`"
    )
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    transactional_ddl=True,
    render_as_batch=True,  # SQLite alters most constraints only by rebuilding the table
)
with context.begin_transaction():
    context.run_migrations()
