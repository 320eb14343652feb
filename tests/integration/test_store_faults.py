"""A store that cannot take a write, met by the real daemon against the sandbox.

The fault is the kernel's: the store and its WAL made immutable (``tests.support.diskfaults``),
which even root cannot write, so SQLite fails the daemon's writes with a genuine ``disk I/O
error`` on the connection it already holds, and opens a store that is immutable at start
read-only ("attempt to write a readonly database"). Result codes: https://sqlite.org/rescode.html.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cmsync.config import Settings, load_settings
from cmsync.daemon import Daemon
from cmsync.sandbox.faults import FaultProfile
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from cmsync.status import collect
from state import OutboxItem, Store, System
from tests.support.diskfaults import clear_immutable, immutable, set_immutable, store_files
from tests.support.processes import run_cmsync
from tests.support.waiting import until

SLOW = 1.0  # seconds every Salesforce call takes while the fault comes on
SLOW_SALESFORCE = FaultProfile("slow-sf", slow=1.0, slow_seconds=SLOW)


@pytest.fixture(scope="module")
def sandbox(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    directory = tmp_path_factory.mktemp("store-faults")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=6, seed=17))
    )
    try:
        yield running
    finally:
        gc.collect()
        sandbox_loop.call(running.stop())


def _fast(settings: Settings, store: Path) -> Settings:
    schedule = settings.schedule.model_copy(
        update={
            "customers": 3.0, "chartmogul_poll": 2.0, "salesforce_poll": 2.0, "dispatch": 1.0,
            "late_activities": 3.0, "commands": 0.5, "jitter": 0.0,
        }
    )  # fmt: skip
    return settings.model_copy(
        update={"schedule": schedule, "store": settings.store.model_copy(update={"path": store})}
    )


def _row(path: Path, key: str) -> str | None:
    uri = path.absolute().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as raw:
        found = raw.execute("SELECT status FROM outbox WHERE target_key = ?", (key,)).fetchone()
    return None if found is None else str(found[0])


def _status(path: Path) -> dict[str, Any]:
    return collect(path, datetime.now(UTC))


def _alert(account: str, key: str) -> OutboxItem:
    """A churn-risk Task, as the pipeline queues one (upserted on its sync key)."""
    payload = {"Subject": "Churn risk: store faults", "Status": "Not Started", "WhatId": account}
    return OutboxItem(
        f"store-faults|task|{key}", "upsert", System.SALESFORCE, "Task", key, payload,
        f"churn:{key}", key_field="CM_Sync_Key__c",
    )  # fmt: skip


async def test_an_unwritable_store_is_one_state_and_the_rows_it_held_are_sent_after_it(
    sandbox: RunningSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    path = tmp_path / "cmsync.db"
    daemon = Daemon(_fast(load_settings(sandbox.config_file), path), target_label="sandbox")
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    files: list[Path] = []
    try:
        await until(lambda: path.exists() and _status(path)["jobs"] != {}, 30, "the daemon")
        scenario = json.loads((sandbox.options.directory / "scenario.json").read_text())
        account = next(iter(scenario["accounts"].values()))["id"]
        key = "churn|store-faults"
        with Store.open(path, create=False) as writer, writer.transaction() as tx:
            tx.outbox.enqueue([_alert(account, key)])
        # Salesforce answers slowly: the store fails between the claim and the settlement.
        sandbox.ctx.faults.set_profile(SLOW_SALESFORCE)
        await until(lambda: _row(path, key) == "in_flight", 30, "the alert in flight")
        files = store_files(path)
        set_immutable(files)
        faulty = len(caplog.records)
        await asyncio.sleep(SLOW + 0.5)  # the call in flight answered; its settlement refused
        await until(lambda: daemon.store_health.refused >= 6, 30, "jobs meeting the fault")
        status = _status(path)
        assert status["daemon"]["state"] == "store unwritable"
        assert "disk I/O error" in status["store_health"]["reason"]
        assert _row(path, key) == "in_flight"  # held: its settlement was refused
        during = caplog.records[faulty:]
        said = [r.getMessage() for r in during if r.name == "cmsync.health"]
        assert len(said) == 1 and said[0].startswith("store unwritable: disk I/O error")
        assert not [r for r in during if r.exc_info], "no traceback per run"
    finally:
        clear_immutable(files)
        sandbox.ctx.faults.set_profile("none")
    try:
        recovered = len(caplog.records)
        # No restart: the next dispatch hands the row back and sends it.
        await until(lambda: _row(path, key) == "done", 30, "the alert sent")
        await until(lambda: _status(path)["daemon"]["state"] == "running", 15, "a heartbeat")
        assert _status(path)["store_health"] is None
        after = [r.getMessage() for r in caplog.records[recovered:]]
        assert any(m.startswith("store writable again") for m in after)
        # The rows its dispatch held (the alert and the Account updates claimed with it).
        [held] = [m for m in after if m.startswith("handed back ")]
        assert int(held.split()[2]) >= 1 and "held in flight since the store refused" in held
        tasks = sandbox.salesforce.store.external_match("Task", "CM_Sync_Key__c", key)
        assert len(tasks) == 1 and tasks[0].get("WhatId") == account
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)


@pytest.mark.parametrize(("command", "then"), [("run", "start again"), ("once", "run again")])
def test_a_store_read_only_at_start_stops_in_one_line(
    sandbox: RunningSandbox, command: str, then: str
) -> None:
    config = sandbox.config_file
    path = load_settings(config).store.path
    Store.open(path).close()
    with immutable(store_files(path)):
        done = run_cmsync(command, config=config, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line == (
        f"error: {path}: the store cannot be written: attempt to write a readonly database "
        f"(SQLITE_READONLY): make room or make it writable, then {then}"
    )
