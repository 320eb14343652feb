"""The store's schema revision and how an older file is brought forward: Alembic.

Choice: Alembic, the migration library of SQLAlchemy, on which the store is built. Its revisions
are one file per change with an explicit parent, recorded in the file's ``alembic_version``
table, so any reader can tell how old a store is, a store from a newer cmsync (a revision this
code has never heard of) is recognised as such, and a change made on one branch of the code
arrives as one reviewable file instead of an edit inside a common function. The scripts ship
inside the package (``state/migrations``) and are configured in code: no ``alembic.ini`` is
read at run time. What it costs: one more dependency, a scripts directory shipped as package
data, and no escape from SQLite's limits (a constraint still changes only by rebuilding the
table, Alembic's batch mode). The earlier hand-rolled ``schema_version`` counter, which did
the same with a function per version and no way to name a newer file's schema, is kept only
as a guard (see ``PRE_ALEMBIC_GUARD``).

Theory of operation (``prepare``, run by the writer on every open, inside its ``BEGIN
IMMEDIATE`` transaction; SQLite DDL is transactional, so a failed revision leaves the file as
it was):

1. ``inspect``: an empty file is new; a file with ``alembic_version`` is at that revision; a
   file with only ``schema_version`` (version 1 or 2) was made before Alembic; anything else
   is refused (not ours).
2. A revision unknown to this code is refused with ``SchemaTooNewError``; nothing changes.
3. A new file is built from the metadata as it is now and stamped at the head revision (the
   Alembic cookbook's "Building an Up to Date Database from Scratch"): the revisions are for
   files that exist, not for replaying history on an empty one. Its ``store_info`` row records
   when it was created.
4. An older file (an older revision, or a pre-Alembic one) is first copied (``backup``, the
   caller's), then upgraded through each revision in order (``command.upgrade`` on the
   caller's connection: ``state/migrations/env.py``). A pre-Alembic file is upgraded from the
   start: the baseline revision (0001) adds only what such a file lacks (a table or index made
   after it), which for a complete one is nothing, and moves the guard; 0002 was the old
   counter's step 2, which a version 2 file already has (its ``add_column`` sees the columns).
5. At the head: nothing is done, one read of ``alembic_version``.

Writing a revision: one file per change in ``state/migrations/versions``, its
``down_revision`` the previous head; ``add_column`` for a column (SQLite's ``ALTER TABLE ...
ADD COLUMN``), a table rebuild for a constraint; add the same change to ``state/tables.py``,
which builds new files.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, delete, func, insert, select
from sqlmodel import SQLModel

from state.errors import NotAStoreError, SchemaTooNewError
from state.tables import (
    ALL_TABLES,
    STAGE_TOTAL_TRIGGERS,
    AccountStateRow,
    SchemaVersionRow,
    StageTotalRow,
    StoreInfoRow,
    table_of,
)

__all__ = [
    "LEGACY",
    "LEGACY_VERSIONS",
    "PRE_ALEMBIC_GUARD",
    "REVISION_TABLE",
    "SCRIPT_LOCATION",
    "VERSION_TABLE",
    "Found",
    "Prepared",
    "add_column",
    "has_column",
    "head_revision",
    "inspect",
    "install_triggers",
    "is_known",
    "prepare",
    "read_created_at",
    "script_directory",
]

SCRIPT_LOCATION = "state:migrations"  # package resource: works from a wheel or a checkout
REVISION_TABLE = "alembic_version"
LEGACY = "schema-v{}"  # how a pre-Alembic file's version is named in messages and backups
LEGACY_VERSIONS = (1, 2)  # what the hand-rolled counter reached before Alembic replaced it

_VERSION = table_of(SchemaVersionRow)
VERSION_TABLE = _VERSION.name
# A cmsync from before Alembic reads ``schema_version`` and refuses any version above the one
# it knows ("written by a newer cmsync: upgrade cmsync"). Every store made or migrated by
# this code carries this there, far above what that counter reached, so such a binary,
# started by a rollback, refuses the file instead of writing to a schema it does not know.
PRE_ALEMBIC_GUARD = 1000


@dataclass(frozen=True)
class Found:
    """What a file holds before it is opened: new, pre-Alembic, or at a revision."""

    new: bool = False
    revision: str | None = None  # the alembic revision, None when there is none
    legacy_version: int | None = None  # a pre-Alembic file's schema_version

    @property
    def label(self) -> str:
        if self.new:
            return "new"
        if self.revision is not None:
            return self.revision
        return LEGACY.format(self.legacy_version)

    @property
    def known(self) -> bool:
        """A revision this code ships, or a pre-Alembic version it can bring forward."""
        if self.revision is not None:
            return is_known(self.revision)
        return self.new or self.legacy_version in LEGACY_VERSIONS


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` did: from which revision (``"new"``, ``LEGACY``, a revision) to which."""

    found: str
    head: str
    migrated: bool  # an existing file was upgraded (and backed up first)


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


@functools.cache
def script_directory() -> ScriptDirectory:
    """The shipped revisions, read once per process (they do not change while it runs)."""
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None, "state/migrations/versions holds no revision"
    return head


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(r.revision for r in script_directory().walk_revisions())


def is_known(revision: str) -> bool:
    """Exactly one of the shipped revisions (Alembic's own lookup would accept a prefix)."""
    return revision in _known()


def _tables(conn: Connection) -> set[str]:
    rows = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").all()
    return {row.name for row in rows if not row.name.startswith("sqlite_")}


def inspect(conn: Connection, path: Path) -> Found:
    """Which kind of file this is; ``NotAStoreError`` for a database cmsync did not make."""
    tables = _tables(conn)
    if not tables:
        return Found(new=True)
    if REVISION_TABLE in tables:
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        if revision is not None:
            return Found(revision=str(revision))
    if VERSION_TABLE in tables:
        version = conn.execute(select(_VERSION.c.version)).scalar_one_or_none()
        if version is not None:
            return Found(legacy_version=int(version))
    names = ", ".join(sorted(tables)[:5])
    raise NotAStoreError(path, f"holds tables ({names}) but is not a cmsync store")


def read_created_at(conn: Connection) -> datetime | None:
    """When the store was created; None when that was not recorded (or not yet migrated)."""
    if table_of(StoreInfoRow).name not in _tables(conn):
        return None
    info = table_of(StoreInfoRow)
    value = conn.execute(select(info.c.created_at)).scalar_one_or_none()
    assert value is None or isinstance(value, datetime)
    return value


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
    states = table_of(AccountStateRow)
    conn.execute(delete(totals))
    conn.execute(
        insert(totals).from_select(
            [totals.c.lifecycle_state, totals.c.accounts, totals.c.mrr_cents],
            select(states.c.lifecycle_state, func.count(), func.sum(states.c.mrr_cents)).group_by(
                states.c.lifecycle_state
            ),
        )
    )
    return True


def _create(conn: Connection, now: datetime) -> None:
    SQLModel.metadata.create_all(conn, tables=list(ALL_TABLES))
    install_triggers(conn)
    conn.execute(insert(_VERSION).values(id=1, version=PRE_ALEMBIC_GUARD, updated_at=now))
    conn.execute(insert(table_of(StoreInfoRow)).values(id=1, created_at=now))
    MigrationContext.configure(conn).stamp(script_directory(), "head")


def prepare(
    conn: Connection,
    path: Path,
    now: datetime,
    *,
    backup: Callable[[str], None],
) -> Prepared:
    """Create or migrate the schema inside the caller's write transaction.

    ``backup(label)`` is called before an existing file is changed, with the revision it is
    at (``LEGACY`` for a pre-Alembic file).
    """
    found = inspect(conn, path)
    head = head_revision()
    if found.new:
        _create(conn, now)
        return Prepared("new", head, migrated=False)
    if not found.known:
        raise SchemaTooNewError(path, found.label, head)
    if found.revision == head:
        return Prepared(head, head, migrated=False)
    backup(found.label)
    config = _config()
    config.attributes["connection"] = conn
    config.attributes["now"] = now
    command.upgrade(config, "head")
    return Prepared(found.label, head, migrated=True)
