"""A table's fast path (``state.rowcodec``) follows its one definition.

A column added to the SQLModel class and a field of the same name added to the record reach
the SELECT, the INSERT and upsert text, the tuple order and both converters with no other
change: the reason the codec exists (one column used to touch seven places).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select
from sqlmodel import Field, SQLModel

from state import convert, outbox
from state.columns import JsonText, UTCDateTime
from state.records import AccountState
from state.rowcodec import ParamsWriter, RowCodec, Statements
from state.sql import marks
from state.tables import MergedKeyRow, OutboxRow, table_of

NOW = datetime(2026, 2, 28, 23, 59, 59, 999_999, tzinfo=UTC)
EST = timezone(timedelta(hours=-5))


class Tint(StrEnum):
    RED = "red"
    BLUE = "blue"


class _Probes(SQLModel):
    """Throwaway tables, on their own metadata: the store's schema never sees them."""

    metadata = MetaData()


class ProbeRow(_Probes, table=True):
    __tablename__ = "probe"
    key: str = Field(primary_key=True)
    tint: str
    seen_at: datetime | None = Field(sa_type=UTCDateTime, nullable=True)
    notes: Any = Field(sa_type=JsonText, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class WiderProbeRow(_Probes, table=True):
    """``ProbeRow`` with one column added, and nothing else changed."""

    __tablename__ = "wider_probe"
    key: str = Field(primary_key=True)
    tint: str
    seen_at: datetime | None = Field(sa_type=UTCDateTime, nullable=True)
    notes: Any = Field(sa_type=JsonText, nullable=False)
    until: datetime | None = Field(sa_type=UTCDateTime, nullable=True)  # the new column
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


@dataclass(frozen=True)
class Probe:
    key: str
    tint: Tint
    seen_at: datetime | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WiderProbe:  # the record with the new column's field
    key: str
    tint: Tint
    seen_at: datetime | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    until: datetime | None = None


def _round_trip(model: type[SQLModel], record: Any) -> tuple[Any, Any, str, str]:
    """Write ``record`` with the derived upsert, read it back with the derived select: the
    record read, the typed (SQLAlchemy) read, and the two statements."""
    table = table_of(model)
    codec: RowCodec[Any] = RowCodec(table, type(record))
    writer = codec.writer(given=("created_at",))
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        table.create(conn)
        conn.exec_driver_sql(writer.upsert_sql(keep=("created_at",)), [writer.row(record, NOW)])
        plain = codec.read(conn.exec_driver_sql(codec.where('"key" = ?'), (record.key,)).one())
        typed = codec.read_typed(conn.execute(select(table)).one())
    engine.dispose()
    return plain, typed, codec.select_sql, writer.upsert_sql(keep=("created_at",))


def test_a_column_added_to_the_definition_reaches_every_derived_statement_and_converter() -> None:
    probe = Probe("k1", Tint.BLUE, datetime(2024, 2, 29, 12, tzinfo=EST), {"b": [1], "a": None})
    plain, typed, select_sql, upsert_sql = _round_trip(ProbeRow, probe)
    assert plain == typed == probe
    assert select_sql == 'SELECT "key", "tint", "seen_at", "notes" FROM "probe"'

    until = datetime(2027, 1, 1, tzinfo=UTC)
    wider = WiderProbe("k1", Tint.RED, None, {}, until)
    plain, typed, select_sql, upsert_sql = _round_trip(WiderProbeRow, wider)
    assert plain == typed == wider and isinstance(plain.tint, Tint)
    assert plain.until == until and plain.seen_at is None
    assert select_sql == 'SELECT "key", "tint", "seen_at", "notes", "until" FROM "wider_probe"'
    assert upsert_sql == (
        'INSERT INTO "wider_probe" ("key", "tint", "seen_at", "notes", "until", "created_at")'
        " VALUES (?, ?, ?, ?, ?, ?)"
        ' ON CONFLICT ("key") DO UPDATE SET "tint" = excluded."tint",'
        ' "seen_at" = excluded."seen_at", "notes" = excluded."notes",'
        ' "until" = excluded."until"'
    )


def test_rows_assembled_as_parameters_follow_the_definition_too() -> None:
    """The outbox's insert is assembled from parameters: its columns are the table's (but the
    AUTOINCREMENT id), so a column added to the class is in the statement and the row."""
    narrow = ParamsWriter(table_of(ProbeRow), omit=("created_at",))
    wider = ParamsWriter(table_of(WiderProbeRow), omit=("created_at",))
    params: dict[str, Any] = {"key": "k", "tint": "red", "seen_at": None, "notes": {}, "until": NOW}
    assert narrow.row(params) == ("k", "red", None, "{}")
    assert wider.row(params) == ("k", "red", None, "{}", "2026-02-28T23:59:59.999999+00:00")
    assert wider.insert_sql(or_ignore=("key",)) == (
        'INSERT INTO "wider_probe" ("key", "tint", "seen_at", "notes", "until")'
        ' VALUES (?, ?, ?, ?, ?) ON CONFLICT ("key") DO NOTHING'
    )
    assert convert.OUTBOX.columns == tuple(c.name for c in table_of(OutboxRow).c)


def test_rows_are_stored_as_the_column_types_store_them() -> None:
    """The tuple the writer builds is what SQLAlchemy's own bind processing stores: UTC text
    of fixed width, sorted compact JSON, an enum's value; a naive time is refused."""
    writer = RowCodec(table_of(ProbeRow), Probe).writer(given=("created_at",))
    probe = Probe("k", Tint.RED, datetime(2024, 1, 1, 7, tzinfo=EST), {"z": 1, "a": 2})
    row = writer.row(probe, NOW)
    assert row == (
        "k", "red", "2024-01-01T12:00:00.000000+00:00", '{"a":2,"z":1}',
        "2026-02-28T23:59:59.999999+00:00",
    )  # fmt: skip
    with pytest.raises(ValueError, match="naive datetime"):
        writer.row(Probe("k", Tint.RED, datetime(2024, 1, 1)), NOW)


def test_a_field_that_is_no_column_is_refused_unless_it_has_a_default() -> None:
    @dataclass(frozen=True)
    class Stray:
        key: str
        colour: str  # no such column, and no default: the record could never be read

    with pytest.raises(ValueError, match=r"Stray\.colour is no column of probe"):
        RowCodec(table_of(ProbeRow), Stray)
    with pytest.raises(ValueError, match="renamed fields not in Probe"):
        RowCodec(table_of(ProbeRow), Probe, renames={"hue": "tint"})
    assert RowCodec(table_of(ProbeRow), Probe, renames={"tint": "tint"}).columns[1] == "tint"


def test_the_account_state_codec_carries_every_field_of_the_record() -> None:
    """``account_state``'s fast path carries every field of ``AccountState`` in the record's
    order, and ``created_at``, which only the store sets, only where the store gives it."""
    assert convert.STATE.fields == tuple(AccountState.__dataclass_fields__)
    assert convert.STATE.columns == convert.STATE.fields
    writer = convert.STATE.writer(given=("revision", "created_at", "updated_at"))
    assert writer.columns[-3:] == ("revision", "created_at", "updated_at")
    assert len(writer.row(AccountState("c", "lead"), 1, NOW, NOW)) == len(writer.columns)


def test_updates_and_in_list_reads_by_name_follow_the_definition() -> None:
    """The outbox's other plain statements (the merge's UPDATE by id, its IN-list reads) name
    their columns; the text, the row order and the conversions come from the table, so the
    added column is updated and read back like the others, and a name the table lacks is
    refused when the statement is made, not when it runs."""
    table = table_of(WiderProbeRow)
    update = ParamsWriter(table, only=("notes", "until", "key"))
    assert (
        update.update_sql() == 'UPDATE "wider_probe" SET "notes" = ?, "until" = ? WHERE "key" = ?'
    )
    reads = Statements(table, ("key", "notes", "until"))
    assert reads.select_in_sql("key", where=f"{reads.name('tint')} = ?", order_by=("key",)) == (
        'SELECT "key", "notes", "until" FROM "wider_probe"'
        ' WHERE "key" IN ({0}) AND "tint" = ? ORDER BY "key"'
    )
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        table.create(conn)
        insert = ParamsWriter(table)
        conn.exec_driver_sql(
            insert.insert_sql(),
            [insert.row({"key": k, "tint": "red", "seen_at": None, "notes": {}, "until": None,
                         "created_at": NOW}) for k in ("a", "b")],
        )  # fmt: skip
        conn.exec_driver_sql(
            update.update_sql(), [update.row({"key": "b", "notes": {"n": 1}, "until": NOW})]
        )
        sql = reads.select_in_sql("key", where='"tint" = ?').format(marks(2))
        rows = [reads.read(row) for row in conn.exec_driver_sql(sql, ("a", "b", "red"))]
    engine.dispose()
    assert sorted(rows) == [("a", {}, None), ("b", {"n": 1}, NOW)]
    with pytest.raises(ValueError, match="the key"):
        ParamsWriter(table, only=("key", "notes")).update_sql()
    # A page of rows sharing a stamp: converted once, the same as row by row.
    stamped = ParamsWriter(table, only=("until", "notes", "key"))
    one = {"notes": {"n": 1}, "key": "b"}
    assert stamped.rows([one], until=NOW) == [stamped.row({**one, "until": NOW})]
    assert stamped.rows_of([Probe("b", Tint.RED, notes={"n": 1})], until=NOW) == [
        stamped.row({**one, "until": NOW})
    ]
    with pytest.raises(ValueError, match="neither lead nor end"):
        stamped.rows([one], notes={})
    with pytest.raises(ValueError, match="colour is no column of wider_probe"):
        Statements(table, ("key", "colour"))
    with pytest.raises(ValueError, match="colour is no column of wider_probe"):
        reads.name("colour")


def test_the_outbox_statements_are_the_tables_own() -> None:
    """The outbox's merge, its remembered keys and its reads are derived: every name in their
    text is a column of the table they run on."""
    assert outbox._JOIN_SQL == (
        'UPDATE "outbox" SET "updated_at" = ?, "payload" = ?, "reason" = ?, "merged_keys" = ?'
        ' WHERE "id" = ?'
    )
    assert outbox._ADD_MERGED_KEYS_SQL == (
        'INSERT INTO "merged_key" ("idempotency_key", "created_at") VALUES (?, ?)'
    )
    merged = table_of(MergedKeyRow)
    assert outbox._KEYS_SEEN_SQL.count("{0}") == 2 and f'FROM "{merged.name}"' in (
        outbox._KEYS_SEEN_SQL
    )
    columns = {c.name for c in table_of(OutboxRow).c}
    for sql in (outbox._OPEN_ROWS_SQL, outbox._KEYS_SEEN_SQL):
        quoted = set(re.findall(r'"([^"]+)"', sql)) - {"outbox", merged.name}
        assert quoted and quoted <= columns, sql
