"""A store that cannot take a write is recognised in one place, with SQLite's own reason.

The faults are real ones: SQLite's SQLITE_FULL from ``PRAGMA max_page_count`` ("database or
disk is full", https://sqlite.org/pragma.html#pragma_max_page_count), SQLITE_READONLY from a
read-only connection and SQLITE_IOERR from a file the kernel refuses to write (result codes:
https://sqlite.org/rescode.html).
"""

from __future__ import annotations

import errno
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from state import Store, StoreError, StoreUnwritableError
from state.errors import unwritable_reason
from state.store import probe_write
from tests.support.diskfaults import immutable, store_files


def _full(path: Path) -> sqlite3.OperationalError:
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("CREATE TABLE t (x BLOB)")
        pages = raw.execute("PRAGMA page_count").fetchone()[0]
        raw.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(sqlite3.OperationalError) as caught:
            raw.execute("INSERT INTO t VALUES (randomblob(100000))")
    return caught.value


def test_sqlite_full_readonly_and_os_errors_are_unwritable(tmp_path: Path) -> None:
    full = _full(tmp_path / "full.db")
    assert unwritable_reason(full) == "database or disk is full (SQLITE_FULL)"
    uri = (tmp_path / "full.db").absolute().as_uri() + "?mode=ro"
    ro = sqlite3.connect(uri, uri=True, isolation_level=None)
    with closing(ro), pytest.raises(sqlite3.OperationalError) as caught:
        ro.execute("CREATE TABLE u (x)")
    assert unwritable_reason(caught.value) == (
        "attempt to write a readonly database (SQLITE_READONLY)"
    )
    denied = PermissionError(errno.EACCES, "Permission denied", "/var/lib/cmsync/cmsync.db")
    assert unwritable_reason(denied) == "Permission denied: /var/lib/cmsync/cmsync.db"
    assert unwritable_reason(OSError(errno.ENOSPC, "No space left on device")) is not None
    # Not a store that refuses writes: a bug, a busy lock, another OS error.
    mem = sqlite3.connect(":memory:")
    with closing(mem), pytest.raises(sqlite3.OperationalError) as syntax:
        mem.execute("SELEC 1")
    assert unwritable_reason(syntax.value) is None
    assert unwritable_reason(OSError(errno.ECONNREFUSED, "refused")) is None
    assert unwritable_reason(ValueError("x")) is None


def test_a_refused_write_is_classified_and_the_store_recovers_in_place(tmp_path: Path) -> None:
    path = tmp_path / "cmsync.db"
    with Store.open(path) as store:
        with store.transaction() as tx:
            tx.cursors.set("feed", '"before"')
        files = store_files(path)
        with (
            immutable(files),
            pytest.raises(StoreUnwritableError) as caught,
            store.transaction() as tx,
        ):
            tx.cursors.set("feed", '"lost"')
        assert caught.value.path == path and "disk I/O error" in caught.value.reason
        assert isinstance(caught.value, StoreError)
        # The same connection takes writes again once the file does: no reopen, no restart.
        with store.transaction() as tx:
            tx.cursors.set("feed", '"after"')
        with store.transaction() as tx:
            assert tx.cursors.get("feed") == '"after"'


def test_a_store_that_is_read_only_at_start_is_refused_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "cmsync.db"
    Store.open(path).close()
    with immutable(store_files(path)):
        try:
            store = Store.open(path)
        except StoreUnwritableError as exc:
            refused: StoreUnwritableError = exc
        else:  # opening wrote nothing (the schema is current): the first write says it
            with store, pytest.raises(StoreUnwritableError) as caught, store.transaction() as tx:
                tx.cursors.set("feed", '"x"')
            refused = caught.value
    assert str(refused).startswith(f"{path}: the store cannot be written: ")
    assert "readonly" in refused.reason or "I/O" in refused.reason


def test_the_doctor_probe_keeps_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cmsync.db"
    probe_write(path)  # not there yet: its directory takes a new file
    assert list(tmp_path.iterdir()) == []
    Store.open(path).close()
    probe_write(path)
    with closing(sqlite3.connect(path)) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    assert "cmsync_write_probe" not in tables
    with immutable(store_files(path)), pytest.raises(StoreUnwritableError) as caught:
        probe_write(path)
    assert "readonly" in caught.value.reason
