"""The header's liveness after a clock step: a killed daemon's beat dated in the future is stale.

The dashboard judges the beat as ``cmsync status`` does (``state.liveness``): by its monotonic
age on the same boot, else by wall time, where a beat from the future is never fresh.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from state import Store
from tests.tui.storefill import NOW
from tui import Dashboard
from tui.widgets import DaemonBar


async def test_a_killed_daemon_whose_last_beat_is_ahead_of_the_clock_is_stale(
    db_path: Path, make_app: Callable[..., Dashboard]
) -> None:
    ahead = NOW + timedelta(hours=1)  # it beat, died, and the clock was stepped back an hour
    with Store.open(db_path, clock=lambda: ahead) as store, store.transaction() as tx:
        tx.daemon.beat(4242, ahead - timedelta(hours=2), "sandbox")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.refresh_now().wait()
        await pilot.pause()
        header = app.query_one(DaemonBar).shown
    assert " stale " in header and "beat in the future" in header, header
