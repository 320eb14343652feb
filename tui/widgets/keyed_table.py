"""A ``DataTable`` updated by row key: the base of every table on the dashboard.

``sync(rows)`` makes the table hold exactly ``rows``, in their order, by the cheapest route:
rows that left are removed, new ones added, and in the rows that stayed only the cells whose
value changed are updated (``update_cell``). Nothing is rebuilt, so the operator's scroll
position survives a refresh, and the selected row stays selected by key even when rows are
added above it: an action must never land on a row the operator did not choose.

The first column holds the row key itself; that is what re-sorting after an insertion goes by
(``DataTable.sort`` hands its key function cell values, never row keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
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

    def on_mount(self) -> None:
        for column in self.COLUMNS:
            self.add_column(column.label, width=column.width, key=column.key)

    @property
    def keys(self) -> list[str]:
        """Row keys in display order."""
        return [str(row.key.value) for row in self.ordered_rows]

    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return None if row_key.value is None else str(row_key.value)

    def sync(self, rows: Sequence[Row]) -> None:
        """Hold exactly ``rows`` in this order, touching only what changed."""
        wanted = dict(rows)
        selected = self.selected_key()
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
