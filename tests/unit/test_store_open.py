"""Opening the store: file mode, the read-only view, busy and foreign files (schema revisions
and migrations: ``test_store_schema``)."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from state import (
    NotAStoreError,
    Store,
    StoreBusyError,
)

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A store file with a cursor in it, closed again."""
    db = tmp_path / "cmsync.db"
    with Store.open(db) as store, store.transaction() as tx:
        tx.cursors.set("feed", '"v1"')
    return db


def test_the_file_and_its_wal_companions_are_private(tmp_path: Path) -> None:
    db = tmp_path / "cmsync.db"
    with Store.open(db) as store:
        with store.transaction() as tx:
            tx.cursors.set("feed", "1")
        files = sorted(tmp_path.iterdir())
        assert [f.name for f in files] == ["cmsync.db", "cmsync.db-shm", "cmsync.db-wal"]
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    empty = tmp_path / "made-by-someone.db"
    empty.touch(mode=0o644)
    Store.open(empty).close()
    assert _mode(empty) == 0o600  # an empty file we turn into a store becomes private too


def test_the_writer_uses_wal_and_the_documented_pragmas(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    with Store.open(path) as store:
        raw = store._raw  # reaching in on purpose: these are per-connection settings
        assert raw.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert raw.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert raw.isolation_level is None  # the store issues BEGIN IMMEDIATE itself


def test_missing_and_foreign_files_are_refused_untouched(tmp_path: Path) -> None:
    with pytest.raises(NotAStoreError, match="does not exist"):
        Store.open(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()
    with pytest.raises(NotAStoreError, match="does not exist"):
        Store.open_readonly(tmp_path / "absent.db")

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all " * 100)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    before = {p: _sha(p) for p in (junk, foreign)}
    for victim, message in ((junk, "not a SQLite database"), (foreign, "not a cmsync store")):
        with pytest.raises(NotAStoreError, match=message):
            Store.open(victim)
        with pytest.raises(NotAStoreError, match=message):
            Store.open_readonly(victim)
    assert {p: _sha(p) for p in (junk, foreign)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.db", "junk.db"]


def test_the_reader_sees_only_committed_data_and_cannot_write(path: Path) -> None:
    with Store.open(path) as store, Store.open_readonly(path) as reader:
        with store.transaction() as tx:
            tx.cursors.set("feed", '"v2"')
            with reader.snapshot() as q:  # the writer's unit is not committed yet
                assert [c.value for c in q.cursors()] == ['"v1"']
        with reader.snapshot() as q:
            assert [c.value for c in q.cursors()] == ['"v2"']
            # Reaching into the snapshot's connection on purpose: the view has no write API,
            # and this proves the connection underneath refuses writes too.
            with pytest.raises(OperationalError, match=r"readonly|read-only"):
                q._conn.exec_driver_sql("DELETE FROM cursor")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM cursor").fetchone()[0] == 1


def _set_cursor_then_fail(store: Store) -> None:
    with store.transaction() as tx:
        tx.cursors.set("feed", '"rolled back"')
        raise RuntimeError


def test_data_version_changes_only_when_another_connection_commits(path: Path) -> None:
    with Store.open(path) as store, Store.open_readonly(path) as reader:
        first = reader.data_version()
        with reader.snapshot() as q:
            q.cursors()
        assert reader.data_version() == first  # its own reads change nothing

        with pytest.raises(RuntimeError):
            _set_cursor_then_fail(store)
        assert reader.data_version() == first  # a rolled-back unit is not a change

        with store.transaction() as tx:
            tx.cursors.set("feed", '"v2"')
        second = reader.data_version()
        assert second != first
        assert reader.data_version() == second


def test_a_second_writer_waits_for_the_lock_then_says_busy(path: Path) -> None:
    with Store.open(path) as daemon, Store.open(path, busy_timeout=0.2) as dashboard:
        with daemon.transaction() as tx:
            tx.cursors.set("feed", '"held"')
            with pytest.raises(StoreBusyError, match="write lock"), dashboard.transaction():
                pass
        with dashboard.transaction() as tx:  # once the daemon's unit is over, it gets through
            assert tx.cursors.get("feed") == '"held"'


def test_the_store_can_be_handed_to_the_writer_thread(path: Path) -> None:
    with Store.open(path) as store, ThreadPoolExecutor(max_workers=1) as writer:

        def advance() -> str | None:
            with store.transaction() as tx:
                tx.cursors.set("feed", '"from the writer thread"')
                return tx.cursors.get("feed")

        assert writer.submit(advance).result() == '"from the writer thread"'
        store.maintain()
        assert path.with_name(path.name + "-wal").stat().st_size == 0  # folded into the file
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM cursor").fetchone()[0] == '"from the writer thread"'
