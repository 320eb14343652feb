"""``KeyedTable.sync`` changes only what differs, and the selection is a record's key."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult

from tui.widgets.keyed_table import Cell, Column, KeyedTable


class CountingTable(KeyedTable):
    COLUMNS = (Column("key", "key", 6), Column("value", "value", 8))

    def __init__(self) -> None:
        super().__init__(title="t", cursor=True)
        self.calls: list[tuple[str, Any]] = []

    def add_row(self, *cells: Cell, key: str | None = None, **options: Any) -> Any:
        self.calls.append(("add", key))
        return super().add_row(*cells, key=key, **options)

    def remove_row(self, row_key: Any) -> None:
        self.calls.append(("remove", row_key))
        super().remove_row(row_key)

    def update_cell(self, row_key: Any, column_key: Any, value: Cell, **options: Any) -> None:
        self.calls.append(("update", (row_key, column_key, value)))
        super().update_cell(row_key, column_key, value, **options)

    def clear(self, columns: bool = False) -> Any:
        self.calls.append(("clear", columns))
        return super().clear(columns)


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CountingTable()


async def test_sync_touches_only_the_rows_and_cells_that_changed() -> None:
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(CountingTable)
        table.sync([("a", ("1",)), ("b", ("2",)), ("c", ("3",))])
        table.move_cursor(row=1)  # the operator selects "b"
        table.calls.clear()

        table.sync([("new", ("0",)), ("a", ("1",)), ("b", ("20",))])  # "c" left, "new" on top
        await pilot.pause()
        assert table.calls == [
            ("remove", "c"),
            ("add", "new"),
            ("update", ("b", "value", "20")),
        ]
        assert table.keys == ["new", "a", "b"]
        assert table.selected_key() == "b"  # not whatever row moved into its place

        table.calls.clear()
        table.sync([("new", ("0",)), ("a", ("1",)), ("b", ("20",))])
        assert table.calls == []  # nothing changed, nothing touched


async def test_a_chosen_row_that_leaves_is_gone_until_the_operator_chooses_again() -> None:
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(CountingTable)
        table.sync([("a", ("1",)), ("b", ("2",)), ("c", ("3",))])
        assert table.selected_key() == "a"  # what the cursor shows is what is chosen
        table.move_cursor(row=1)
        table.sync([("a", ("1",)), ("c", ("3",))])  # "b" left; "c" moved up under the cursor
        await pilot.pause()
        assert table.keys[table.cursor_row] == "c"
        assert table.selected_key() is None  # never the neighbour
        assert table.gone_key == "b"

        table.sync([("new", ("0",)), ("a", ("1",)), ("c", ("3",))])
        assert table.gone_key == "b"  # still gone after further refreshes
        table.sync([("a", ("1",)), ("b", ("2",)), ("c", ("3",))])
        assert table.selected_key() == "b" and table.keys[table.cursor_row] == "b"  # back

        table.sync([("a", ("1",)), ("c", ("3",))])
        await pilot.press("up")  # the operator moves: that row is chosen
        assert table.selected_key() == "a" and table.gone_key is None
