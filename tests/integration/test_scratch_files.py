"""The org's snapshot and reconciliation's copy of what Salesforce holds are private temporary
SQLite files, removed when their connection closes: a pass closes them itself, not whenever
the garbage collector comes by (and in the daemon, a snapshot a newer ``load_context``
replaced is closed once no step may still read it).

Against a seeded sandbox over real sockets. Every SQLite connection made meanwhile is seen
through Python's audit events (``sqlite3.connect/handle``) and kept, so one a pass leaves open
stays open for the test to find.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cmsync.chartmogul import connect
from cmsync.pipeline.once import run_once
from cmsync.pipeline.org import OrgSnapshot
from cmsync.pipeline.sync_pass import SyncPass
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.serve import LoopThread
from state import Store
from tests.support.drive import start_world
from tests.support.invariants import World

_made: list[list[sqlite3.Connection]] = []  # the connections of the watch under way, if any


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "sqlite3.connect/handle" and _made and isinstance(args[0], sqlite3.Connection):
        _made[-1].append(args[0])


sys.addaudithook(_audit)  # for good (audit hooks cannot be removed); idle outside ``made``


@contextmanager
def made() -> Iterator[list[sqlite3.Connection]]:
    """The SQLite connections made inside the block (kept alive: none is closed by its end)."""
    _made.append([])
    try:
        yield _made[-1]
    finally:
        _made.pop()


def open_scratch(connections: list[sqlite3.Connection]) -> list[sqlite3.Connection]:
    """Those still open on a private temporary database (the file name SQLite reports is "")."""
    found = []
    for conn in connections:
        try:
            files = [row[2] for row in conn.execute("PRAGMA database_list")]
        except sqlite3.ProgrammingError:  # closed
            continue
        if files[0] == "":
            found.append(conn)
    return found


def closed(org: OrgSnapshot) -> bool:
    try:
        org.target("001000000000001AAA")
    except sqlite3.ProgrammingError:
        return True
    return False


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path_factory.mktemp("scratch"), seed=4, accounts=8) as w:
        yield w


async def test_a_pass_leaves_no_scratch_database_open(world: World) -> None:
    with made() as connections:
        report = await run_once(world.settings)
    assert report.step("reconcile") is not None and report.ok, report.summary()
    assert len(connections) >= 3  # the store, the org snapshot, reconciliation's copy
    assert open_scratch(connections) == []


async def test_a_replaced_snapshot_is_closed_once_no_step_reads_it(
    world: World, tmp_path: Path
) -> None:
    store = Store.open(tmp_path / "cmsync.db")
    try:
        async with connect(world.settings.chartmogul) as chartmogul:
            gateway = SalesforceGateway(world.settings.salesforce)
            sync = SyncPass(world.settings, store, chartmogul, gateway, lambda: datetime.now(UTC))
            try:
                assert (await sync.run_step("load_context")).ok
                assert sync.context is not None
                first = sync.context.org
                with sync.holding():  # another job's step, still reading the first snapshot
                    assert (await sync.run_step("load_context")).ok
                    assert not closed(first)
                assert closed(first)
                assert sync.context is not None
                second = sync.context.org
                assert second is not first and not closed(second)
            finally:
                await sync.close()
                await gateway.close()
        assert closed(second)
    finally:
        store.close()
