"""``cmsync once``: open everything, run one sync pass, close everything.

It takes the store's single-process lock, requeues outbox rows a killed process left in
flight (safe: every Salesforce write is an update or an upsert on an External ID), reads the
API budget, and runs ``SyncPass``.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from cmsync.chartmogul import connect
from cmsync.config import Settings
from cmsync.errors import FatalError
from cmsync.lock import exclusive
from cmsync.pipeline.sync_pass import PassReport, StepResult, SyncPass
from cmsync.progress import SILENT, ProgressSink
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.storeio import in_store
from state import Store, StoreUnwritableError
from state.serverclock import ServerClock

__all__ = ["run_once"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def run_once(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = _utc_now,
    dry_run: bool = False,
    on_step: Callable[[StepResult], None] | None = None,
    progress: ProgressSink = SILENT,
) -> PassReport:
    """One full pass against the configured services; the report says what happened.
    ``on_step`` is told of each step as it ends (``SyncPass.run``), ``progress`` of each
    step's start, work and end (``cmsync.progress``).

    A dry run works on a copy of the store in a temporary directory (the pollers record
    their progress as usual, in the copy), writes nothing to either service, and ends with a
    ``preview`` step instead of the dispatch; the copy is thrown away.
    """
    if dry_run:
        with tempfile.TemporaryDirectory(prefix="cmsync-dry-run-") as scratch:
            copy = Path(scratch) / "dry-run.db"
            if settings.store.path.exists():
                _copy_store(settings.store.path, copy)
            store = Store.open(copy)
            try:
                return await _pass(
                    settings, store, clock, dry_run=True, on_step=on_step, progress=progress
                )
            finally:
                store.close()
    with exclusive(settings.store.path):
        try:
            store = Store.open(settings.store.path)
            try:
                await in_store(store, lambda tx: tx.outbox.requeue_in_flight())
                return await _pass(
                    settings, store, clock, dry_run=False, on_step=on_step, progress=progress
                )
            finally:
                store.close()
        except StoreUnwritableError as exc:  # one line and exit 2, as `cmsync run` says it
            raise FatalError(f"{exc}: make room or make it writable, then run again") from None


def _copy_store(source: Path, target: Path) -> None:
    """A consistent copy of a live store (SQLite's online backup: a running daemon is fine)."""
    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


async def _pass(
    settings: Settings,
    store: Store,
    clock: Callable[[], datetime],
    *,
    dry_run: bool,
    on_step: Callable[[StepResult], None] | None,
    progress: ProgressSink,
) -> PassReport:
    # Each service's clock, measured from its answers against the pass's own local clock.
    async with connect(settings.chartmogul, server_clock=ServerClock(clock)) as chartmogul:
        gateway = SalesforceGateway(
            settings.salesforce,
            budget=ApiBudget(settings.sync.api_budget_share),
            server_clock=ServerClock(clock),
        )
        try:
            sync = SyncPass(
                settings, store, chartmogul, gateway, clock, dry_run=dry_run, progress=progress
            )
            return await sync.run(on_step)
        finally:
            await gateway.close()
