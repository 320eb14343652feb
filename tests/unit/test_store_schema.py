"""The store's schema revisions (Alembic): a new file, a pre-Alembic file, an older revision,
a failing revision, a newer file, and what a reader says about each."""

from __future__ import annotations

import gc
import hashlib
import logging
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from state import (
    ReadOnlyStore,
    SchemaTooNewError,
    SchemaTooOldError,
    SignalRef,
    Store,
    StoreError,
    head_revision,
)
from state.schema import PRE_ALEMBIC_GUARD, script_directory
from state.signalhash import signal_hash

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
LATER = datetime(2025, 3, 8, 7, 0, tzinfo=UTC)
STAMP = "20250308T070000Z"  # LATER as a backup's name gives it
V1, V2 = "schema-v1", "schema-v2"  # pre-Alembic files, as messages and copies name them


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one(path: Path, sql: str) -> object:
    with sqlite3.connect(path) as conn:
        row = conn.execute(sql).fetchone()
    return None if row is None else row[0]


def _catalogue(path: Path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, coalesce(sql, '') FROM sqlite_master").fetchall()
    return set(rows)


def _shape(path: Path) -> dict[str, object]:
    """Each table's columns (name, type, not null, default, key), and every index and trigger:
    the schema as SQLite uses it (an added column changes a table's CREATE text, not this)."""
    with sqlite3.connect(path) as conn:
        master = conn.execute("SELECT type, name, coalesce(sql, '') FROM sqlite_master").fetchall()
        shape: dict[str, object] = {
            name: conn.execute(f'PRAGMA table_info("{name}")').fetchall()
            for kind, name, _ in master
            if kind == "table"
        }
    shape.update({name: sql for kind, name, sql in master if kind in ("index", "trigger")})
    return shape


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A current store with a cursor in it, closed again."""
    db = tmp_path / "cmsync.db"
    with Store.open(db, clock=lambda: NOW) as store, store.transaction() as tx:
        tx.cursors.set("feed", '"v1"')
    return db


# ``applied_signal`` as every revision before 0007 made it (keyed by the text pair).
APPLIED_SIGNAL_0006 = (
    "CREATE TABLE applied_signal (customer_uuid VARCHAR NOT NULL, signal_key VARCHAR NOT NULL, "
    "applied_at VARCHAR(32) NOT NULL, PRIMARY KEY (customer_uuid, signal_key)) WITHOUT ROWID"
)


def _applied_signal_as_before_0007(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE applied_signal")
    conn.execute(APPLIED_SIGNAL_0006)


def _make_pre_alembic(path: Path, version: int = 2, *, without_stage_total: bool = False) -> None:
    """Turn ``path`` into what the hand-rolled ``schema_version`` counter left at ``version``:
    its tables, no Alembic table, no ``store_info`` (0003), no ``job_health`` (0004) and no
    ``alert_sent`` (0005), no ``audit.keys`` (0006), ``applied_signal`` keyed by its pair (0007);
    version 1 without the heartbeat columns its step 2 added (now revision 0002)."""
    with sqlite3.connect(path) as conn:
        _applied_signal_as_before_0007(conn)
        conn.execute("DROP TABLE alembic_version")
        conn.execute("DROP TABLE store_info")
        conn.execute("DROP TABLE job_health")
        conn.execute("DROP TABLE alert_sent")
        conn.execute("ALTER TABLE audit DROP COLUMN keys")
        conn.execute("ALTER TABLE outbox DROP COLUMN merged_keys")
        conn.execute("UPDATE schema_version SET version = ?", (version,))
        if version == 1:
            conn.execute("ALTER TABLE heartbeat DROP COLUMN beat_monotonic")
            conn.execute("ALTER TABLE heartbeat DROP COLUMN boot_id")
        if without_stage_total:  # a store written before the dashboard's totals existed
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
                conn.execute(f"DROP TRIGGER {name}")
            conn.execute("DROP TABLE stage_total")


def _make_at_0002(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        _applied_signal_as_before_0007(conn)
        conn.execute("DROP TABLE store_info")
        conn.execute("DROP TABLE job_health")
        conn.execute("DROP TABLE alert_sent")
        conn.execute("ALTER TABLE audit DROP COLUMN keys")
        conn.execute("ALTER TABLE outbox DROP COLUMN merged_keys")
        conn.execute("UPDATE alembic_version SET version_num = '0002'")


def test_the_revisions_form_one_chain_ending_at_the_head() -> None:
    script = script_directory()
    assert script.get_heads() == [head_revision()] == ["0007"]
    chain = [r.revision for r in script.walk_revisions()]
    assert chain == ["0007", "0006", "0005", "0004", "0003", "0002", "0001"]


def test_a_new_store_is_stamped_at_the_head_and_records_when_it_was_created(path: Path) -> None:
    assert _one(path, "SELECT version_num FROM alembic_version") == head_revision()
    assert _one(path, "SELECT version FROM schema_version") == PRE_ALEMBIC_GUARD
    with Store.open(path) as store:
        assert store.prepared is not None and not store.prepared.migrated
        assert store.backup_path is None
    with ReadOnlyStore.open(path) as reader:
        assert reader.revision == head_revision()
        assert reader.created_at() == NOW
    assert not list(path.parent.glob("*.bak-*"))  # nothing to copy: new, then current


PRE_ALEMBIC_DUMP = Path(__file__).parent / "data" / "store_schema_v2.sql"


def test_a_store_written_before_alembic_opens_with_its_data(tmp_path: Path) -> None:
    """The file as the pre-Alembic cmsync wrote it (not rebuilt from today's tables)."""
    path = tmp_path / "cmsync.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(PRE_ALEMBIC_DUMP.read_text())
    new = tmp_path / "new.db"
    Store.open(new).close()
    with Store.open(path, clock=lambda: LATER) as store, store.transaction() as tx:
        assert store.prepared is not None and store.prepared.found == V2
        assert tx.cursors.get("activities") == '{"stamp": "2026-11-20T07:59:00+00:00"}'
        assert [(s.lifecycle_state, s.accounts) for s in tx.queries.stage_summary()] == [
            ("active", 1),
            ("trial", 1),
        ]
    assert store.backup_path == path.with_name(f"cmsync.db.bak-{V2}-{STAMP}")
    assert _shape(path) == _shape(new)


def test_a_pre_alembic_store_is_copied_then_stamped_without_change(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _make_pre_alembic(path)
    before = _catalogue(path)
    caplog.set_level(logging.WARNING, logger="state.store")
    with Store.open(path, clock=lambda: LATER) as store, store.transaction() as tx:
        assert tx.cursors.get("feed") == '"v1"'  # the data came along
    copy = path.with_name(f"cmsync.db.bak-{V2}-{STAMP}")
    assert store.backup_path == copy
    assert [r.getMessage() for r in caplog.records] == [
        f"store {path} migrated from revision {V2} to {head_revision()}; the file as it "
        f"was is kept at {copy}"
    ]
    # The copy is the file as it was (old mechanism, version 2), private like the store.
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert _one(copy, "SELECT version FROM schema_version") == 2
    assert _one(copy, "SELECT value FROM cursor") == '"v1"'
    # Stamped: the tables it had are exactly as they were; 0003 added store_info, 0004
    # job_health, 0005 alert_sent, 0006 a column to audit and outbox (which rewrites their
    # CREATE text), 0007 rebuilt applied_signal with its hash index.
    after = _catalogue(path)
    added = {r[1] for r in after - before}
    new_tables = {"alembic_version", "store_info", "job_health", "alert_sent"}
    changed = {"audit", "outbox", "applied_signal", "ix_applied_signal_hash"}
    assert new_tables | changed <= added
    assert added <= new_tables | changed | {
        "sqlite_autoindex_alembic_version_1",
        "sqlite_autoindex_job_health_1",
        "sqlite_autoindex_alert_sent_1",
    }
    assert {r for r in before if r[1] not in changed} <= after
    assert _one(path, "SELECT version_num FROM alembic_version") == head_revision()
    assert _one(path, "SELECT version FROM schema_version") == PRE_ALEMBIC_GUARD
    with ReadOnlyStore.open(path) as reader:
        assert reader.created_at() is None  # never recorded: shown as unknown


def test_a_migrated_store_has_exactly_the_schema_of_a_new_one(path: Path, tmp_path: Path) -> None:
    """The revisions and ``state/tables.py`` describe one schema: a store brought forward
    revision by revision ends with the tables, indexes and triggers a new store is made with."""
    new = tmp_path / "new.db"
    Store.open(new).close()
    _make_pre_alembic(path, 1)
    assert _shape(path) != _shape(new)
    Store.open(path, clock=lambda: LATER).close()
    assert _shape(path) == _shape(new)


def test_a_pre_alembic_store_without_applied_signals_gets_todays_table(
    path: Path, tmp_path: Path
) -> None:
    """The baseline makes a missing table in today's shape; 0007 then has nothing to rebuild."""
    new = tmp_path / "new.db"
    Store.open(new).close()
    _make_pre_alembic(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE applied_signal")
    with Store.open(path, clock=lambda: LATER) as store, store.transaction() as tx:
        assert tx.signals.mark([SignalRef("cus_1", "s1")]) == 1
    assert _shape(path) == _shape(new)


def test_a_reader_on_an_older_store_says_what_to_run_and_the_writer_adds_what_it_lacks(
    path: Path,
) -> None:
    _make_pre_alembic(path, 1, without_stage_total=True)
    with pytest.raises(SchemaTooOldError) as refused:
        ReadOnlyStore.open(path)
    assert str(refused.value) == (
        f"the store {path} is at revision {V1}, this cmsync needs {head_revision()}: start "
        "`cmsync run` or run `cmsync migrate` once (it backs the file up first), then try again"
    )
    with Store.open(path, clock=lambda: LATER):
        pass
    with ReadOnlyStore.open(path) as reader, reader.snapshot() as q:
        q.stage_summary()  # "no such table: stage_total" before the migration
    triggers = _catalogue(path)
    assert {n for t, n, _ in triggers if t == "trigger"} >= {"tr_stage_total_insert"}


def test_an_older_revision_runs_only_the_revisions_after_it(path: Path) -> None:
    _make_at_0002(path)
    with pytest.raises(SchemaTooOldError, match="at revision 0002, this cmsync needs 0007"):
        ReadOnlyStore.open(path)
    with Store.open(path, clock=lambda: LATER) as store:
        assert store.prepared is not None
        assert (store.prepared.found, store.prepared.head) == ("0002", "0007")
    assert store.backup_path == path.with_name(f"cmsync.db.bak-0002-{STAMP}")
    assert _one(store.backup_path, "SELECT version_num FROM alembic_version") == "0002"
    assert _one(path, "SELECT version_num FROM alembic_version") == "0007"
    assert _one(path, "SELECT count(*) FROM store_info WHERE created_at IS NULL") == 1
    assert _one(path, "SELECT count(*) FROM job_health") == 0  # until the daemon's next beat
    assert _one(path, "SELECT count(*) FROM alert_sent") == 0  # no alert sent yet


def _applied_rows(path: Path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT customer_uuid, signal_key, applied_at FROM applied_signal")
        return set(rows)


def test_0007_carries_every_applied_signal_into_the_hashed_table(path: Path) -> None:
    """A store at 0006 with 25,000 applied signals (more than one page of the copy): after the
    upgrade the same pairs with the same stamps, each with its hash, each still applied."""
    pairs = [SignalRef(f"cus_{n % 50:03d}", f"mrr|cus_{n % 50:03d}|k{n}") for n in range(25_000)]
    with Store.open(path, clock=lambda: NOW) as store, store.transaction() as tx:
        tx.signals.mark(pairs)
    before = _applied_rows(path)
    with sqlite3.connect(path) as conn:
        _applied_signal_as_before_0007(conn)
        conn.executemany("INSERT INTO applied_signal VALUES (?, ?, ?)", sorted(before))
        conn.execute("UPDATE alembic_version SET version_num = '0006'")

    with Store.open(path, clock=lambda: LATER) as store:
        assert store.prepared is not None and store.prepared.found == "0006"
        with store.transaction() as tx:
            assert tx.signals.applied(pairs) == set(pairs)
            assert tx.signals.mark(pairs[:100]) == 0  # a replay stays a replay
            assert not tx.signals.has(SignalRef("cus_000", "mrr|cus_000|k1"))  # 1 % 50 = 1
            assert tx.signals.carry("cus_001", "cus_new") == 500
    assert len(before) == 25_000
    assert _applied_rows(path) - {r for r in _applied_rows(path) if r[0] == "cus_new"} == before
    with sqlite3.connect(path) as conn:
        hashes = conn.execute("SELECT customer_uuid, signal_key, signal_hash FROM applied_signal")
        assert all(h == signal_hash(c, k) for c, k, h in hashes)


def test_a_failing_revision_leaves_the_file_as_it_was(path: Path) -> None:
    _make_at_0002(path)
    with sqlite3.connect(path) as conn:  # 0003's CREATE TABLE will fail half-way
        conn.execute("CREATE TABLE store_info (stray INTEGER)")
    with pytest.raises(OperationalError, match="already exists"):
        Store.open(path, clock=lambda: LATER)
    assert _one(path, "SELECT version_num FROM alembic_version") == "0002"
    assert _one(path, "SELECT version FROM schema_version") == PRE_ALEMBIC_GUARD
    assert _one(path, "SELECT sql FROM sqlite_master WHERE name = 'store_info'") == (
        "CREATE TABLE store_info (stray INTEGER)"
    )


def test_no_migration_without_its_copy(path: Path) -> None:
    _make_pre_alembic(path)
    taken = path.with_name(f"cmsync.db.bak-{V2}-{STAMP}")
    taken.write_text("someone else's file")
    with pytest.raises(StoreError, match=r"not migrated from revision schema-v2: cannot write"):
        Store.open(path, clock=lambda: LATER)
    assert taken.read_text() == "someone else's file"
    assert _one(path, "SELECT version FROM schema_version") == 2  # still the old file
    assert _one(path, "SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'") == 0


# "000" is a prefix of the shipped revisions: Alembic's lookup would resolve it to one of them.
@pytest.mark.parametrize("revision", ["0008", "000"])
def test_a_store_from_a_newer_cmsync_is_refused_by_writer_and_reader(
    path: Path, revision: str
) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    before = _sha(path)
    with pytest.raises(SchemaTooNewError) as refused:
        Store.open(path)
    assert str(refused.value) == (
        f"{path} is at store revision {revision}, which this cmsync does not know (its newest is "
        f"{head_revision()}): a newer cmsync wrote it; upgrade cmsync (or point it at another "
        "database); the file was not changed"
    )
    with pytest.raises(SchemaTooNewError):
        ReadOnlyStore.open(path)
    assert _sha(path) == before
    assert not list(path.parent.glob("*.bak-*"))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a disk that fills up (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        gc.collect()  # connections left to the collector (``_one``) hold files open
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def test_on_a_full_disk_the_store_is_not_migrated_and_no_partial_copy_is_left(
    small_disk: Path, tmp_path: Path
) -> None:
    made = tmp_path / "made.db"
    with Store.open(made, clock=lambda: NOW) as store, store.transaction() as tx:
        for n in range(6):  # about 600 kB
            tx.cursors.set(f"feed{n}", "x" * 100_000)
    _make_pre_alembic(made)
    path = small_disk / "cmsync.db"
    with closing(sqlite3.connect(made)) as source, closing(sqlite3.connect(path)) as target:
        source.backup(target)  # the file with what its WAL still holds
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * (free - 256 * 1024))  # room for less than a copy
    with pytest.raises(StoreError, match=r"cannot write its copy .* full"):
        Store.open(path, clock=lambda: LATER)
    assert not list(small_disk.glob("*.bak-*"))  # the partial copy gave its room back
    assert _one(path, "SELECT version FROM schema_version") == 2  # still the old file
    assert _one(path, "SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'") == 0
    assert _one(path, "SELECT count(*) FROM cursor") == 6
