"""The store's history against the sandbox, through cmsync's real code paths: a store restored
from before cmsync's writes is named by `cmsync doctor`, `cmsync status` says when the store
was created, and `cmsync migrate` brings a pre-Alembic store forward while a reader on it is
told what to run."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cmsync.admin.doctor import Severity, diagnose
from cmsync.admin.store_history import AREA
from cmsync.cli import app
from cmsync.lock import exclusive
from cmsync.pipeline.once import run_once
from cmsync.pipeline.streams.activities import CURSOR as ACTIVITIES_CURSOR
from cmsync.sandbox.runner import SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from cmsync.status import collect, render
from state import Store, head_revision
from tests.support.invariants import World, sync_env
from tests.support.processes import cmsync_env, run_cmsync, start_daemon, wait_for


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("store-history")
    running = sandbox_loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=6)))
    try:
        yield World.of(running)
    finally:
        sandbox_loop.call(running.stop())


async def test_the_doctor_warns_of_a_store_older_than_cmsyncs_writes(
    world: World, tmp_path: Path
) -> None:
    clock = world.sandbox.ctx.clock.now
    # The backup an operator would restore: a store from two hours before cmsync's writes.
    backup = tmp_path / "restored.db"
    Store.open(backup, clock=lambda: clock() - timedelta(hours=2)).close()
    report = await run_once(world.settings, clock=clock)
    assert report.ok, report.summary()

    live = await diagnose(world.settings)
    [current] = live.about(str(world.store_path))
    assert (current.severity, current.area) == (Severity.OK, AREA)
    assert current.message.startswith("knows cmsync's writes up to ")

    restored = await diagnose(World.of(world.sandbox, CMSYNC_STORE__PATH=str(backup)).settings)
    [stale] = restored.about(str(backup))
    assert (stale.severity, stale.area) == (Severity.WARNING, AREA)
    assert "Salesforce holds a cmsync write newer than the store knows: Account 001" in (
        stale.message
    )
    assert "was it restored from an older backup?" in stale.message
    assert stale.fix is not None and "put that one back" in stale.fix
    assert restored.exit_code == 0  # a warning: cmsync still runs


def test_status_says_when_the_store_was_created(world: World, tmp_path: Path) -> None:
    made = world.sandbox.ctx.clock.now()
    path = tmp_path / "cmsync.db"
    Store.open(path, clock=lambda: made).close()
    status = collect(path, made)
    assert status["store"] == {"revision": head_revision(), "created_at": made.isoformat()}
    assert f"store     created {made.isoformat()}, schema revision {head_revision()}" in render(
        status
    )


# ``applied_signal`` as the revisions before 0007 made it: keyed by its text pair.
_APPLIED_SIGNAL_0006 = (
    "CREATE TABLE applied_signal (customer_uuid VARCHAR NOT NULL, signal_key VARCHAR NOT NULL, "
    "applied_at VARCHAR(32) NOT NULL, PRIMARY KEY (customer_uuid, signal_key)) WITHOUT ROWID"
)


def _applied_signal_as_before_0007(conn: sqlite3.Connection) -> None:
    """The table in its old shape, holding the same rows."""
    rows = conn.execute(
        "SELECT customer_uuid, signal_key, applied_at FROM applied_signal"
    ).fetchall()
    conn.execute("DROP TABLE applied_signal")
    conn.execute(_APPLIED_SIGNAL_0006)
    conn.executemany("INSERT INTO applied_signal VALUES (?, ?, ?)", rows)


def _pre_alembic(path: Path) -> None:
    """A store as the hand-rolled ``schema_version`` counter left it (at 2, its last)."""
    Store.open(path).close()
    with sqlite3.connect(path) as conn:
        _applied_signal_as_before_0007(conn)
        conn.execute("DROP TABLE alembic_version")
        conn.execute("DROP TABLE store_info")
        conn.execute("DROP TABLE job_health")
        conn.execute("DROP TABLE alert_sent")
        conn.execute("ALTER TABLE audit DROP COLUMN keys")
        conn.execute("ALTER TABLE outbox DROP COLUMN merged_keys")
        conn.execute("UPDATE schema_version SET version = 2")


def test_the_daemon_migrates_an_old_store_at_its_start_with_a_copy_and_a_log_line(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "cmsync.db"
    _pre_alembic(path)
    env = cmsync_env(**sync_env(), CMSYNC_STORE__PATH=str(path))
    config = world.sandbox.config_file
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log, "--log-json", env=env)

    try:  # the store is opened (and migrated) first thing, before the first refresh
        wait_for(lambda: "state.store" in log.read_text(), 30, "the daemon's migration")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    [copy] = tmp_path.glob("cmsync.db.bak-schema-v2-*")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    migrated = [line for line in lines if line["logger"] == "state.store"]
    assert [(line["level"], line["msg"]) for line in migrated] == [
        (
            "warning",
            f"store {path} migrated from revision schema-v2 to {head_revision()}; the file as "
            f"it was is kept at {copy}",
        )
    ]
    status = json.loads(run_cmsync("status", "--json", config=config, env=env).stdout)
    assert status["store"] == {"revision": head_revision(), "created_at": None}


def test_migrate_brings_an_old_store_forward_and_readers_say_to_run_it(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "old.db"
    _pre_alembic(path)
    runner = CliRunner()
    env = {"CMSYNC_STORE__PATH": str(path)}
    config = ["--config", str(world.sandbox.config_file)]

    for reader in ("status", "tui"):  # the dashboard says it before it starts
        refused = runner.invoke(app, [reader, *config], env=env)
        assert refused.exit_code == 2, (reader, refused.output)
        assert "is at revision schema-v2, this cmsync needs" in refused.output
        assert "run `cmsync migrate` once" in refused.output

    with exclusive(path):  # a daemon (perhaps the old binary) still runs on it
        beside = runner.invoke(app, ["migrate", *config], env=env)
    assert beside.exit_code == 2 and "another cmsync process" in beside.output
    assert not list(tmp_path.glob("old.db.bak-*"))

    migrated = runner.invoke(app, ["migrate", *config], env=env)
    assert migrated.exit_code == 0, migrated.output
    assert f"migrated from revision schema-v2 to {head_revision()}" in migrated.output
    assert len(list(tmp_path.glob("old.db.bak-schema-v2-*"))) == 1

    again = runner.invoke(app, ["migrate", *config], env=env)
    assert f"already at revision {head_revision()}, nothing to do" in again.output
    shown = runner.invoke(app, ["status", *config], env=env)
    assert shown.exit_code == 2, shown.output  # no daemon has run on it: down
    assert "store     created unknown (made before cmsync recorded it)" in shown.output


def test_a_store_from_a_newer_cmsync_stops_once_and_status_unchanged(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "newer.db"
    Store.open(path).close()
    with sqlite3.connect(path) as conn:  # a revision a later cmsync added
        conn.execute("UPDATE alembic_version SET version_num = 'a1b2c3d4e5f6'")
    before = path.read_bytes()
    runner = CliRunner()
    env = {"CMSYNC_STORE__PATH": str(path)}
    config = ["--config", str(world.sandbox.config_file)]
    for command in (["once"], ["status"], ["migrate"]):
        result = runner.invoke(app, [*command, *config], env=env)
        assert result.exit_code == 2, (command, result.output)
        assert "is at store revision a1b2c3d4e5f6, which this cmsync does not know" in (
            result.output
        )
        assert "upgrade cmsync" in result.output
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("newer.db.bak-*"))


def _applied_count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        count = conn.execute("SELECT count(*) FROM applied_signal").fetchone()[0]
    assert isinstance(count, int)
    return count


async def test_signals_applied_before_0007_are_still_replays_after_it(
    world: World, tmp_path: Path
) -> None:
    """A pass, then its store turned back into revision 0006 (applied signals keyed by their
    pair) and its feed cursor forgotten: the next pass migrates the store at its start,
    reads the whole feed again, and finds every movement applied: no write, no new key."""
    path = tmp_path / "cmsync.db"
    settings = World.of(world.sandbox, CMSYNC_STORE__PATH=str(path)).settings
    clock = world.sandbox.ctx.clock.now
    first = await run_once(settings, clock=clock)
    assert first.ok, first.summary()
    applied = _applied_count(path)
    assert applied > 0
    with sqlite3.connect(path) as conn:
        _applied_signal_as_before_0007(conn)
        conn.execute("UPDATE alembic_version SET version_num = '0006'")
        conn.execute("DELETE FROM cursor WHERE name = ?", (ACTIVITIES_CURSOR,))

    before = world.write_calls()
    again = await run_once(settings, clock=clock)
    assert again.ok, again.summary()
    assert world.write_calls() == before
    assert _applied_count(path) == applied
    assert _migrated(path) == ("0007", 1)  # at 0007 now, with the copy of the file at 0006


def _migrated(path: Path) -> tuple[str, int]:
    """The store's revision, and how many copies of it at 0006 were kept beside it."""
    with sqlite3.connect(path) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return revision, len(list(path.parent.glob(f"{path.name}.bak-0006-*")))
