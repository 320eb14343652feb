"""Sync lag per cursor: how far behind each source feed cmsync's reading position is.

Cursor values are opaque to the store; by convention the incremental pollers store a
``Watermark`` (JSON with the newest ``stamp`` read), so "behind" is now minus that stamp: how
old the newest ChartMogul activity or Salesforce record cmsync has taken in is. Cursors of
another form (a paging position) show only when they last moved.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from rich.text import Text

from state import CursorValue
from tui.format import ago, span
from tui.view import View
from tui.widgets.keyed_table import Cell, Column, KeyedTable, Row

__all__ = ["LagPanel", "cursor_stamp"]


def cursor_stamp(cursor: CursorValue) -> datetime | None:
    """The newest source stamp a watermark cursor has read, if the cursor is one."""
    try:
        raw = json.loads(cursor.value)
    except ValueError:
        return None
    value = raw.get("stamp") if isinstance(raw, dict) else None
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _behind(cursor: CursorValue, view: View) -> Cell:
    stamp = cursor_stamp(cursor)
    if stamp is None:
        return "—"
    lag = view.now - stamp
    style = "green" if lag.total_seconds() < 300 else "yellow" if lag.days < 1 else "bold red"
    return Text(span(lag), style)


class LagPanel(KeyedTable):
    COLUMNS = (
        Column("cursor", "cursor", 22),
        Column("behind", "behind", 8),
        Column("moved", "moved", 11),
    )

    def __init__(self) -> None:
        super().__init__(title="Sync lag", id="lag")

    def show(self, view: View) -> None:
        rows: list[Row] = [
            (cursor.name, (_behind(cursor, view), ago(cursor.updated_at, view.now)))
            for cursor in view.data.cursors
        ]
        self.sync(rows)
