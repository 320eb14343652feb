"""Opening the store, and the unit of work that commits all or nothing.

Theory of operation. The daemon owns one ``Store``: one SQLite connection in WAL mode, used by
one thread at a time (the daemon's writer thread). The driver's own transaction handling is
switched off (``isolation_level=None``: pysqlite would otherwise defer ``BEGIN`` until the
first write and break savepoints), and every ``transaction()`` starts with ``BEGIN IMMEDIATE``,
taking the write lock up front so a unit of work never fails half-way on a read-to-write lock
upgrade. Whatever runs inside the ``with`` block commits together at its end, or is rolled back
entirely if the block raises; a process killed mid-block leaves only the uncommitted tail of
the WAL, which SQLite ignores on the next open. That is how the pipeline commits "new account
states + new outbox rows + advanced cursor" as one.

The dashboard opens a ``ReadOnlyStore`` (``mode=ro`` URI, ``query_only``): each ``snapshot()``
is one short read transaction (long ones would starve WAL checkpoints), and ``data_version()``
tells it whether anyone committed since it last looked, so it can skip re-reading. WAL lets it
read while the daemon writes. It writes dashboard commands through a ``Store`` of its own; a
busy timeout makes that wait for the daemon's short transactions instead of failing.

The writer brings an older file to the current schema revision on open (``schema.prepare``):
first a copy of the file as it was, ``<store>.bak-<revision>-<UTC time>`` beside it (SQLite's
online backup API, inside the write transaction, so the copy is exactly what is migrated),
then the Alembic revisions in that same transaction, then one log line naming both revisions
and the copy. A reader never migrates: it says what to run instead.

The file is created with mode 0600 (it holds customer data), and its ``-wal`` and ``-shm``
companions under a 0o077 umask (SQLite also gives them the database file's mode). The umask
is process-wide: it is narrowed only while the file and its companions are created.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

from state.errors import (
    NotAStoreError,
    SchemaTooNewError,
    SchemaTooOldError,
    StoreBusyError,
    StoreError,
    StoreUnwritableError,
    unwritable_reason,
)
from state.queries import Queries
from state.schema import (
    REVISION_TABLE,
    VERSION_TABLE,
    Prepared,
    head_revision,
    inspect,
    prepare,
    read_created_at,
)
from state.transaction import Transaction

__all__ = ["Clock", "ReadOnlyStore", "Store", "probe_write"]

Clock = Callable[[], datetime]

CACHE_KIB = 8 * 1024  # the writer's page cache (see ``_connect_writer``)
CHECKPOINT_PAGES = 10_000  # WAL pages between automatic checkpoints

_log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _engine(raw: sqlite3.Connection, begin: str) -> Engine:
    """An engine over exactly this DBAPI connection, issuing ``begin`` itself.

    Each unit of work checks out its own SQLAlchemy ``Connection`` (the same DBAPI connection
    underneath) and closes it at the end, so a ``tx`` used after its block fails loudly
    instead of silently opening a new transaction that would hold the write lock.
    """
    engine = create_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def _not_a_database(exc: sqlite3.DatabaseError) -> bool:
    return getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB"


def _connect_writer(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """The writer's connection, in WAL mode; a foreign file is refused before it is touched."""
    raw = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        tables = {
            row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if tables and not tables & {VERSION_TABLE, REVISION_TABLE}:
            shown = ", ".join(sorted(tables)[:5])
            raise NotAStoreError(path, f"holds tables ({shown}) but is not a cmsync store")
        if not tables:
            # A new store. Before its first table is the only time auto_vacuum can be chosen
            # (it lets purges give space back); an empty file made for us becomes private too.
            raw.execute("PRAGMA auto_vacuum = INCREMENTAL")
            os.chmod(path, 0o600)
        mode = raw.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"{path}: SQLite refused WAL mode (got {mode!r}); is it on NFS?")
        raw.execute("PRAGMA synchronous = NORMAL")
        raw.execute("PRAGMA foreign_keys = ON")
        # Measured on a 100,000-activity catch-up (``make bench``): SQLite's default 2 MiB page
        # cache misses on every page of the outbox and state indexes, and a checkpoint every
        # 1,000 WAL pages rewrites the same hot pages over and over; a bigger cache and 10,000
        # pages (a WAL of up to ~40 MB on disk) took a tenth off the pipeline's time. The cache
        # is 8 MiB rather than the 32 first tried: the memory target counts every MiB.
        raw.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        raw.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
        raw.execute("SELECT count(*) FROM sqlite_master").fetchone()  # -wal and -shm exist now
    except sqlite3.DatabaseError as exc:
        raw.close()
        if _not_a_database(exc):
            raise NotAStoreError(path, "is not a SQLite database") from None
        if (reason := unwritable_reason(exc)) is not None:
            raise StoreUnwritableError(path, reason) from exc
        raise StoreError(f"{path}: cannot open the store: {exc}") from exc
    except BaseException:
        raw.close()
        raise
    return raw


def probe_write(path: Path | str, *, busy_timeout: float = 5.0) -> None:
    """Raise ``StoreUnwritableError`` if the store at ``path`` cannot take a write.

    For ``cmsync doctor``: nothing is kept and nothing is migrated (``Store.open`` would
    migrate). A table is created in a transaction that is rolled back, so SQLite must take the
    write lock and change a page, which a read-only file or directory refuses at once; a file
    not there yet is probed by creating and removing a file beside it. ``StoreBusyError`` if
    a writer held the lock past ``busy_timeout`` seconds. A full disk may still pass: the
    caller checks the free space as well.
    """
    path = Path(path)
    try:
        if not path.exists():
            probe = path.with_name(f".{path.name}.probe-{os.getpid()}")
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            probe.unlink()
            return
        raw = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("CREATE TABLE cmsync_write_probe (x INTEGER)")
            raw.execute("ROLLBACK")
        finally:
            raw.close()
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise StoreBusyError(f"{path}: another connection held the write lock") from exc
        if _not_a_database(exc):
            raise NotAStoreError(path, "is not a SQLite database") from None
        if (reason := unwritable_reason(exc)) is None:
            raise StoreError(f"{path}: cannot open the store: {exc}") from exc
        raise StoreUnwritableError(path, reason) from exc
    except OSError as exc:
        raise StoreUnwritableError(path, unwritable_reason(exc) or str(exc)) from exc


def _busy(exc: OperationalError) -> bool:
    return "locked" in str(exc.orig) or "busy" in str(exc.orig)


class Store:
    """The daemon's read-write store. Use ``transaction()`` for every read and write."""

    def __init__(self, path: Path, raw: sqlite3.Connection, clock: Clock) -> None:
        self.path = path
        self.prepared: Prepared | None = None  # what the open found and did to the schema
        self.backup_path: Path | None = None  # the copy made before a migration, if any
        self._raw = raw
        self._engine = _engine(raw, "BEGIN IMMEDIATE")
        self._clock = clock
        self._lock = threading.RLock()
        self._in_transaction = False

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        create: bool = True,
        clock: Clock | None = None,
        busy_timeout: float = 10.0,
    ) -> Store:
        """Open (creating if allowed) and migrate the store at ``path``.

        Raises ``NotAStoreError`` for a missing file with ``create=False`` or a foreign file,
        ``SchemaTooNewError`` for a file at a revision this code does not know (nothing is
        changed), ``StoreError`` when the copy before a migration fails, ``StoreBusyError``
        if another writer held the lock past ``busy_timeout`` seconds. ``clock``
        (timezone-aware UTC) stamps every row; tests inject one.
        """
        path = Path(path)
        old_umask = os.umask(0o077)
        try:
            if not path.exists():
                if not create:
                    raise NotAStoreError(path, "does not exist")
                with contextlib.suppress(FileExistsError):  # created meanwhile: open theirs
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            raw = _connect_writer(path, busy_timeout)
        except OSError as exc:
            if (reason := unwritable_reason(exc)) is None:
                raise
            raise StoreUnwritableError(path, reason) from exc
        finally:
            # Restored before the migration, which may wait up to busy_timeout for the lock.
            os.umask(old_umask)
        store = cls(path, raw, clock or _utc_now)
        try:
            with store._unit() as (conn, now):
                store.prepared = prepare(conn, path, now, backup=store._backup_as(now))
            if store.prepared.migrated:
                _log.warning(
                    "store %s migrated from revision %s to %s; the file as it was is kept at %s",
                    path, store.prepared.found, store.prepared.head, store.backup_path,
                )  # fmt: skip
            # Re-assert WAL: a migration that rebuilt the file must not leave it in
            # rollback-journal mode (a documented pitfall of migration tools).
            store._raw.execute("PRAGMA journal_mode = WAL")
        except BaseException:
            store.close()
            raise
        return store

    def _backup_as(self, now: datetime) -> Callable[[str], None]:
        def backup(label: str) -> None:
            stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            target = self.path.with_name(f"{self.path.name}.bak-{label}-{stamp}")
            made = False
            try:
                # Private like the store (it is a copy of the same customer data).
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                made = True
                # From a second connection: SQLite refuses to back up through the one that
                # holds the write transaction (SQLITE_LOCKED). In WAL mode it reads the last
                # commit, which is what will be migrated, as no one else can write meanwhile.
                source, copy = sqlite3.connect(self.path), sqlite3.connect(target)
                try:
                    source.backup(copy)
                finally:
                    copy.close()
                    source.close()
            except (OSError, sqlite3.Error) as exc:
                if made:  # a partial copy (a full disk) would only take the room it lacked
                    target.unlink(missing_ok=True)
                raise StoreError(
                    f"{self.path}: not migrated from revision {label}: cannot write its copy "
                    f"{target} first: {exc}; free space beside the store and start again"
                ) from exc
            self.backup_path = target

        return backup

    @staticmethod
    def open_readonly(path: Path | str, *, busy_timeout: float = 5.0) -> ReadOnlyStore:
        """The dashboard's view: see ``ReadOnlyStore.open``."""
        return ReadOnlyStore.open(path, busy_timeout=busy_timeout)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One unit of work: committed at the end of the block, rolled back if it raises."""
        with self._unit() as (conn, now):
            yield Transaction(conn, now)

    @contextmanager
    def _unit(self) -> Iterator[tuple[Connection, datetime]]:
        with self._lock:
            if self._in_transaction:
                raise StoreError("transactions do not nest: finish the open one first")
            self._in_transaction = True
            try:
                now = self._clock()
                if now.tzinfo is None:
                    raise ValueError("the store's clock must return timezone-aware datetimes")
                with self._engine.connect() as conn:
                    try:
                        begun = conn.begin()
                    except OperationalError as exc:
                        if _busy(exc):
                            raise StoreBusyError(
                                f"{self.path}: another connection held the write lock for "
                                "longer than the busy timeout"
                            ) from exc
                        raise
                    with begun:
                        yield conn, now
            except StoreError:
                raise
            except Exception as exc:
                # The one place a store that cannot take a write is recognised (a full disk,
                # a read-only file, an I/O error, at BEGIN, in a statement or at COMMIT): the
                # daemon treats it as a health state, not as a failure of the work.
                if (reason := unwritable_reason(exc)) is None:
                    raise
                raise StoreUnwritableError(self.path, reason) from exc
            finally:
                self._in_transaction = False

    def maintain(self) -> None:
        """Give purged pages back and fold the WAL into the file (run now and then)."""
        with self._lock:
            if self._in_transaction:
                raise StoreError("maintain() cannot run inside a transaction")
            self._raw.execute("PRAGMA incremental_vacuum")
            self._raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close the connection (idempotent). A transaction in progress is rolled back."""
        with self._lock:
            self._engine.dispose()
            self._raw.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ReadOnlyStore:
    """The dashboard's connection: short snapshots, no writes, cheap change detection."""

    def __init__(self, path: Path, raw: sqlite3.Connection) -> None:
        self.path = path
        self.revision = ""  # the store's schema revision (checked to be this code's head)
        self._raw = raw
        self._engine = _engine(raw, "BEGIN")
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout: float = 5.0) -> ReadOnlyStore:
        """Open ``path`` read-only; refuses a missing file and any other schema revision."""
        path = Path(path)
        if not path.is_file():
            raise NotAStoreError(path, "does not exist")
        uri = path.absolute().as_uri() + "?mode=ro"
        raw = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        raw.execute("PRAGMA query_only = ON")
        store = cls(path, raw)
        try:
            store._check_version()
        except BaseException:
            store.close()
            raise
        return store

    def _check_version(self) -> None:
        try:
            with self._engine.connect() as conn, conn.begin():
                found = inspect(conn, self.path)
        except DBAPIError as exc:
            if isinstance(exc.orig, sqlite3.DatabaseError) and _not_a_database(exc.orig):
                raise NotAStoreError(self.path, "is not a SQLite database") from None
            raise StoreError(f"{self.path}: cannot read the store: {exc.orig}") from exc
        head = head_revision()
        if found.new:
            raise NotAStoreError(self.path, "is not a cmsync store (no schema revision)")
        if not found.known:
            raise SchemaTooNewError(self.path, found.label, head)
        if found.revision != head:
            raise SchemaTooOldError(self.path, found.label, head)
        self.revision = head

    def created_at(self) -> datetime | None:
        """When the store was created; None for one made before cmsync recorded it."""
        with self._lock, self._engine.connect() as conn, conn.begin():
            return read_created_at(conn)

    @contextmanager
    def snapshot(self) -> Iterator[Queries]:
        """A consistent view for the block; keep blocks short (they hold back checkpoints)."""
        with self._lock, self._engine.connect() as conn, conn.begin():
            yield Queries(conn)

    def data_version(self) -> int:
        """Changes whenever another connection commits; equal values mean nothing changed."""
        with self._lock:
            value = self._raw.execute("PRAGMA data_version").fetchone()[0]
        assert isinstance(value, int)
        return value

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._engine.dispose()
            self._raw.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
