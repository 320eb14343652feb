"""The dashboard shows a store its daemon cannot write: the note beside the store, read on
every poll (nothing is committed meanwhile, so the store's data version stands still)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from state import Store
from state.storehealth import StoreHealthNote, clear_note, write_note
from tests.tui.storefill import NOW
from tui import Dashboard, DataSource
from tui.widgets import DaemonBar

FULL = "database or disk is full (SQLITE_FULL)"


async def test_the_header_says_store_unwritable_with_the_reason(
    daemon: Store, db_path: Path
) -> None:
    later = NOW + timedelta(minutes=5)  # the beats stopped with the writes
    source = DataSource(db_path, clock=lambda: later)
    app = Dashboard(source, target_label="sandbox", clock=lambda: later, refresh_every=None)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert " stale " in app.query_one(DaemonBar).shown
        reads = source.reads
        note = StoreHealthNote(FULL, later - timedelta(minutes=4), later - timedelta(seconds=20), 1)
        assert write_note(db_path, note)
        data = await app.refresh_now().wait()
        assert data.store_note == note and source.reads == reads  # no re-read of the store
        await pilot.pause()
        header = app.query_one(DaemonBar).shown
        assert f" store unwritable: {FULL} " in header and "since 4m" in header
        clear_note(db_path)
        assert source.poll().store_note is None
    source.close()
