"""The store's history against the sandbox, through cmsync's real code paths: a store restored
from before cmsync's writes is named by `cmsync doctor`, `cmsync status` says when the store
was created, and `cmsync migrate` brings a pre-Alembic store forward while a reader on it is
told what to run."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cmsync.admin.doctor import Severity, diagnose
from cmsync.admin.store_checks import AREA
from cmsync.cli import app
from cmsync.pipeline.once import run_once
from cmsync.sandbox.runner import SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from cmsync.status import collect, render
from state import Store, head_revision
from tests.support.invariants import World


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


def test_migrate_brings_an_old_store_forward_and_readers_say_to_run_it(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "old.db"
    Store.open(path).close()
    with sqlite3.connect(path) as conn:  # as the pre-Alembic mechanism left it
        conn.execute("DROP TABLE alembic_version")
        conn.execute("DROP TABLE store_info")
        conn.execute("UPDATE schema_version SET version = 1")
    runner = CliRunner()
    env = {"CMSYNC_STORE__PATH": str(path)}
    config = ["--config", str(world.sandbox.config_file)]

    refused = runner.invoke(app, ["status", *config], env=env)
    assert refused.exit_code == 2
    assert "is at revision schema-v1, this cmsync needs" in refused.output
    assert "run `cmsync migrate` once" in refused.output

    migrated = runner.invoke(app, ["migrate", *config], env=env)
    assert migrated.exit_code == 0, migrated.output
    assert f"migrated from revision schema-v1 to {head_revision()}" in migrated.output
    assert len(list(tmp_path.glob("old.db.bak-schema-v1-*"))) == 1

    again = runner.invoke(app, ["migrate", *config], env=env)
    assert f"already at revision {head_revision()}, nothing to do" in again.output
    shown = runner.invoke(app, ["status", *config], env=env)
    assert shown.exit_code == 0, shown.output
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
