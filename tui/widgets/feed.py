"""The live feed of effects: what cmsync wrote, to which record, and why, newest first.

Read from the audit trail (one row per write the dispatcher made). New entries are added at
the top by key and the oldest drop off past the limit, so a busy feed does not redraw the
rows the operator is reading.
"""

from __future__ import annotations

from rich.text import Text

from state import AuditEntry, System
from tui.format import clip, fields_summary
from tui.view import View
from tui.widgets.keyed_table import Column, KeyedTable, Row

__all__ = ["EffectsFeed", "feed_row"]

_SYSTEMS = {System.SALESFORCE: "SF", System.CHARTMOGUL: "CM"}
_ACTION_STYLES = {"create": "green", "upsert": "cyan", "update": "", "delete": "red"}


def feed_row(entry: AuditEntry) -> Row:
    """One write: when, the record, the action, the fields and why, in words (the audit's
    reason; its keys stay in the store and in ``cmsync status --json``)."""
    return (
        str(entry.id),
        (
            f"{entry.at:%H:%M:%S}",
            clip(f"{_SYSTEMS[entry.system]} {entry.object} {entry.record_id}", 32),
            Text(entry.action, _ACTION_STYLES.get(entry.action, "")),
            fields_summary(entry.fields, 44),
            clip(entry.reason, 36),
        ),
    )


class EffectsFeed(KeyedTable):
    COLUMNS = (
        Column("id", "#", 7),
        Column("at", "at", 8),
        Column("record", "record", 32),
        Column("action", "action", 6),
        Column("fields", "fields", 44),
        Column("why", "why", 36),
    )

    def __init__(self) -> None:
        super().__init__(title="Live feed: recent writes", id="feed")

    def show(self, view: View) -> None:
        self.sync([feed_row(entry) for entry in view.data.feed])
