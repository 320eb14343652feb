"""A ``DataTable`` updated by row key: the base of every table on the dashboard.

``sync(rows)`` makes the table hold exactly ``rows``, in their order, by the cheapest route:
rows that left are removed, new ones added, and in the rows that stayed only the cells whose
value changed are updated (``update_cell``). Nothing is rebuilt, so the operator's scroll
position survives a refresh.

The selection is a record's key, not a row position: an action must never land on a row the
operator did not choose. The key is taken whenever the cursor moves outside ``sync`` (a key
press, a click, ``move_cursor``); ``sync`` moves the cursor to that key wherever its row now
is. When the chosen record leaves the table the cursor stays where it was, on a neighbour,
but ``selected_key`` is None and ``gone_key`` names the record until the operator chooses
again (moving the cursor, or enter or a click on the row under it).

The first column holds the row key itself; that is what re-sorting after an insertion goes by
(``DataTable.sort`` hands its key function cell values, never row keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

__all__ = ["Cell", "Column", "KeyedTable", "Row"]

Cell = str | Text
Row = tuple[str, Sequence[Cell]]  # (key, cells after the key column)


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int | None = None  # None: as wide as the content when first added


class KeyedTable(DataTable[Cell]):
    """A row-cursor table whose rows are replaced by ``sync``, not rebuilt."""

    COLUMNS: Sequence[Column] = ()

    def __init__(self, *, title: str = "", id: str | None = None, cursor: bool = False) -> None:
        super().__init__(
            id=id, classes="panel", cursor_type="row", zebra_stripes=True, show_cursor=cursor
        )
        self.border_title = title
        self._chosen: str | None = None  # the key of the row the operator chose
        self._gone = False  # that row left the table at a refresh
        self._syncing = False  # cursor moves made by ``sync`` are not the operator's

    def on_mount(self) -> None:
        for column in self.COLUMNS:
            self.add_column(column.label, width=column.width, key=column.key)

    @property
    def keys(self) -> list[str]:
        """Row keys in display order."""
        return [str(row.key.value) for row in self.ordered_rows]

    def selected_key(self) -> str | None:
        """The chosen row's key; None if there is none or it left the table."""
        return None if self._gone else self._chosen

    @property
    def gone_key(self) -> str | None:
        """The key the operator chose, if its row has left the table since."""
        return self._chosen if self._gone else None

    def _key_under_cursor(self) -> str | None:
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return None if row_key.value is None else str(row_key.value)

    def _choose_cursor_row(self) -> None:
        key = self._key_under_cursor()
        if key is not None:
            self._chosen = key
            self._mark_gone(False)
            self.chosen()

    def _mark_gone(self, gone: bool) -> None:
        self._gone = gone
        self.set_class(gone, "-gone")  # the cursor then stands on a row nobody chose: dimmed

    def chosen(self) -> None:
        """Called when the operator chooses a row (subclasses redraw what depends on it)."""

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        if not self._syncing:
            self._choose_cursor_row()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # Enter, or a click on the row under the cursor: choose it, even where the cursor
        # did not move (it already stood there when the chosen row left).
        if not self._syncing:
            self._choose_cursor_row()

    def sync(self, rows: Sequence[Row]) -> None:
        """Hold exactly ``rows`` in this order, touching only what changed."""
        self._syncing = True
        try:
            self._sync(rows)
        finally:
            self._syncing = False

    def _sync(self, rows: Sequence[Row]) -> None:
        wanted = dict(rows)
        selected = self._chosen  # gone rows too: a record that comes back is chosen again
        present = set(self.keys)
        for gone in present - wanted.keys():
            self.remove_row(gone)
        column_keys = [column.key for column in self.COLUMNS]
        for key, cells in wanted.items():
            values = (key, *cells)
            if key in present:
                current = self.get_row(key)
                for column, old, new in zip(column_keys, current, values, strict=True):
                    if old != new:
                        self.update_cell(key, column, new)
            else:
                self.add_row(*values, key=key)
        order = {key: index for index, key in enumerate(wanted)}
        if self.keys != list(wanted):
            self.sort(column_keys[0], key=lambda value: order[str(value)])
        if selected is not None and selected in order:
            self.move_cursor(row=self.get_row_index(selected), animate=False, scroll=False)
            self._mark_gone(False)
        elif selected is not None:
            self._mark_gone(True)
        else:  # nothing chosen yet: the row the cursor shows is
            self._choose_cursor_row()
