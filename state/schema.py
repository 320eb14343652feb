"""The store's schema version and how an older file is brought forward.

Choice: SQLModel metadata plus numbered migration steps, not alembic. The store is one SQLite
file owned by one daemon; its migrations run inside the daemon at start-up, in the same
``BEGIN IMMEDIATE`` transaction that reads the version (SQLite DDL is transactional, so a failed
step leaves the file exactly as it was). Alembic would add a second configuration, a scripts
directory to ship, and batch-mode rewrites, to solve a multi-database, multi-branch problem
this project does not have.

Theory of operation (``prepare``, run by the writer on every open):

1. Read ``schema_version``. No such table: an empty file becomes a store (``create_all`` and
   version = ``SCHEMA_VERSION``); a file with other tables is refused (not ours).
2. A version newer than this code knows is refused with ``SchemaTooNewError``; nothing changes.
3. An older version: ``create_all`` first, which adds the tables that did not exist then (in
   their current shape), then each step ``found + 1 .. SCHEMA_VERSION`` in order, then any
   index the metadata declares that the file lacks, then the new version number.

Because new tables arrive in their current shape before the steps run, a step must be a no-op
on a table that already has the current shape: use ``add_column`` (which checks first) rather
than a bare ``ALTER TABLE``. Steps are for what ``create_all`` cannot do: columns on existing
tables, backfills, table rebuilds (SQLite cannot alter a constraint).

Version 2 added the heartbeat's monotonic reading and boot id (``state.liveness``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, insert, select, update
from sqlmodel import SQLModel

from state.errors import NotAStoreError, SchemaTooNewError, StoreError
from state.tables import ALL_TABLES, STAGE_TOTAL_TRIGGERS, SchemaVersionRow, StageTotalRow, table_of

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "VERSION_TABLE",
    "Migration",
    "add_column",
    "has_column",
    "install_triggers",
    "prepare",
    "read_version",
]

SCHEMA_VERSION = 2

_VERSION = table_of(SchemaVersionRow)
VERSION_TABLE = _VERSION.name


@dataclass(frozen=True)
class Migration:
    """Step ``version``: brings a file at ``version - 1`` to ``version``."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _heartbeat_clock(conn: Connection) -> None:
    # Nullable: a beat written by an older daemon has neither, and is judged by wall time.
    add_column(conn, "heartbeat", "beat_monotonic", "FLOAT")
    add_column(conn, "heartbeat", "boot_id", "VARCHAR")


# version -> step.
MIGRATIONS: Mapping[int, Migration] = {
    2: Migration(2, "the heartbeat's monotonic reading and boot id", _heartbeat_clock),
}


def read_version(conn: Connection) -> int | None:
    """The file's schema version, or None if it has no version table."""
    exists = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_VERSION.name,)
    ).first()
    if exists is None:
        return None
    version = conn.execute(select(_VERSION.c.version)).scalar_one_or_none()
    return None if version is None else int(version)


def has_column(conn: Connection, table: str, column: str) -> bool:
    rows = conn.exec_driver_sql(f'PRAGMA table_info("{table}")').all()
    return any(row.name == column for row in rows)


def add_column(conn: Connection, table: str, column: str, ddl: str) -> None:
    """``ALTER TABLE table ADD COLUMN column ddl``, unless the column is already there."""
    if not has_column(conn, table, column):
        conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {ddl}')


def install_triggers(conn: Connection) -> bool:
    """Make sure the ``stage_total`` triggers exist; False if they all did already.

    Otherwise (a new file, or a store made before them) the table is (re)built from
    ``account_state`` in this same transaction and the triggers created: one ``GROUP BY``
    once, where the dashboard used to run it on every refresh.
    """
    have = {
        row.name
        for row in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    }
    if have >= STAGE_TOTAL_TRIGGERS.keys():
        return False
    totals = table_of(StageTotalRow)
    totals.create(conn, checkfirst=True)
    for name, body in STAGE_TOTAL_TRIGGERS.items():
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE TRIGGER {name} {body}")
    conn.exec_driver_sql("DELETE FROM stage_total")
    conn.exec_driver_sql(
        "INSERT INTO stage_total (lifecycle_state, accounts, mrr_cents) "
        "SELECT lifecycle_state, count(*), sum(mrr_cents) FROM account_state "
        "GROUP BY lifecycle_state"
    )
    return True


def prepare(
    conn: Connection,
    path: Path,
    now: datetime,
    *,
    version: int = SCHEMA_VERSION,
    migrations: Mapping[int, Migration] = MIGRATIONS,
) -> int:
    """Create or migrate the schema inside the caller's write transaction; the old version.

    Returns the version found (0 for a new file). ``version`` and ``migrations`` exist so the
    migration path can be tested with steps this release does not have.
    """
    found = read_version(conn)
    if found is None:
        others = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).all()
        if others:
            names = ", ".join(sorted(row.name for row in others)[:5])
            raise NotAStoreError(path, f"holds tables ({names}) but is not a cmsync store")
        SQLModel.metadata.create_all(conn, tables=list(ALL_TABLES))
        install_triggers(conn)
        conn.execute(insert(_VERSION).values(id=1, version=version, updated_at=now))
        return 0
    if found > version:
        raise SchemaTooNewError(path, found, version)
    if found == version:
        # Until the first release the v1 tables may still grow: a table added since this
        # file was made is created (one look at the catalogue on every open, nothing more).
        have = {
            row.name
            for row in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        missing_tables = [t for t in ALL_TABLES if t.name not in have]
        if missing_tables:
            SQLModel.metadata.create_all(conn, tables=missing_tables)
        install_triggers(conn)
        return found
    missing = [v for v in range(found + 1, version + 1) if v not in migrations]
    if missing:
        raise StoreError(f"no migration step for schema version(s) {missing}; cannot upgrade")
    SQLModel.metadata.create_all(conn, tables=list(ALL_TABLES))
    for step in range(found + 1, version + 1):
        migrations[step].apply(conn)
    for table in ALL_TABLES:
        for index in table.indexes:
            index.create(conn, checkfirst=True)
    install_triggers(conn)
    conn.execute(update(_VERSION).values(version=version, updated_at=now))
    return found
