"""The dashboard's layout, guarded by an SVG snapshot (pytest-textual-snapshot).

Fixed data (``storefill``) and a fixed clock make the picture stable. Textual and Rich are
pinned in the dev extra because the SVG embeds version-sensitive output; after a deliberate
upgrade or layout change, regenerate with ``pytest tests/tui --snapshot-update`` and review
the diff.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from state import Store
from tui import Dashboard


async def _refreshed(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, Dashboard)
    await app.refresh_now().wait()
    await pilot.pause()


def test_dashboard_layout(
    daemon: Store, make_app: Callable[..., Dashboard], snap_compare: Callable[..., Any]
) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=_refreshed)
