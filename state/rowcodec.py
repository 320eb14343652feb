"""A table's fast path derived from its one definition: column lists, SQL text, converters.

The hot statements of the store (a page of the feed reads and writes ~200 account states,
marks its signals, enqueues its effects) run as plain SQL on tuples: SQLAlchemy's per-value
processing and statement building were the largest cost of a page (``make bench``). Written
by hand beside the SQLModel class, each such statement repeated the table's columns, their
order and their conversions, so one new column touched seven places. A ``RowCodec`` takes
them all from the table and the record dataclass, once, at import:

- the columns: the record's fields that are columns of the table, in the record's order
  (``renames`` maps a field to a column of another name), and for writes the ``given``
  columns the store sets itself (a stamp, an advanced revision);
- the statement text: ``SELECT`` of those columns (narrowed to an ``IN`` list of a key),
  ``INSERT``, ``INSERT ... ON CONFLICT`` (``upsert``) and ``UPDATE`` of columns by a key, every
  name quoted (``plan`` and ``status`` are SQL words) and checked against the table;
- the converters: a record to the row of parameters and a stored row back to the record,
  each value through its column type's own bind and result processors for SQLite (the same
  functions SQLAlchemy applies on the typed path: ``state.columns``), and an enum field
  rebuilt from its stored value. Columns whose types need no processing cost nothing.

So a column added to the SQLModel class and a field of the same name added to the record
reach every derived statement and converter with no other change. ``Statements`` gives the
same text and conversions for a set of columns chosen by name, for rows that are no record
(the outbox's merges and reads): a name the table does not have fails at import, not in a
statement at run time.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter, itemgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import sqlite

__all__ = ["ParamsWriter", "RowCodec", "RowWriter", "Statements"]

R = TypeVar("R")

_DIALECT = sqlite.dialect()

# (position in the row, converter): only the positions whose column or field needs one.
_Steps = tuple[tuple[int, Callable[[Any], Any]], ...]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _convert(row: Sequence[Any], steps: _Steps) -> tuple[Any, ...]:
    if not steps:
        return tuple(row)
    values = list(row)
    for i, step in steps:
        values[i] = step(values[i])
    return tuple(values)


def _enum_reader(kind: type[enum.Enum]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else kind(value)


def _then(first: Callable[[Any], Any], second: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: second(first(value))


def _enum_of(annotation: Any) -> type[enum.Enum] | None:
    """The enum a field holds (``System`` or ``System | None``), if any."""
    candidates = typing.get_args(annotation) or (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return candidate
    return None


class RowCodec(Generic[R]):
    """``record``'s columns of ``table``: the statements and conversions between the two."""

    __slots__ = (
        "_make",
        "_named",
        "_read_steps",
        "_typed_steps",
        "columns",
        "fields",
        "record",
        "select_sql",
        "table",
    )

    def __init__(
        self, table: Table, record: type[R], *, renames: Mapping[str, str] | None = None
    ) -> None:
        if not dataclasses.is_dataclass(record):
            raise TypeError(f"{record.__name__} is not a dataclass")
        renames = dict(renames or {})
        hints = typing.get_type_hints(record)
        fields: list[str] = []
        columns: list[str] = []
        for field in dataclasses.fields(record):
            column = renames.pop(field.name, field.name)
            if column in table.c:
                fields.append(field.name)
                columns.append(column)
            elif field.default is dataclasses.MISSING and (
                field.default_factory is dataclasses.MISSING
            ):
                raise ValueError(f"{record.__name__}.{field.name} is no column of {table.name}")
        if renames:
            raise ValueError(f"renamed fields not in {record.__name__}: {sorted(renames)}")
        self.table = table
        self.record = record
        self.fields: tuple[str, ...] = tuple(fields)
        self.columns: tuple[str, ...] = tuple(columns)
        self.select_sql = f"SELECT {', '.join(map(_quote, columns))} FROM {_quote(table.name)}"  # noqa: S608 (names from the table definition)
        self._named = attrgetter(*columns) if len(columns) > 1 else _one(attrgetter(*columns))
        read: list[tuple[int, Callable[[Any], Any]]] = []
        typed: list[tuple[int, Callable[[Any], Any]]] = []
        for i, (name, column) in enumerate(zip(fields, columns, strict=True)):
            result = table.c[column].type.result_processor(_DIALECT, None)
            kind = _enum_of(hints[name])
            if kind is not None:
                typed.append((i, _enum_reader(kind)))
            step = (
                result
                if kind is None
                else (_enum_reader(kind) if result is None else _then(result, _enum_reader(kind)))
            )
            if step is not None:
                read.append((i, step))
        self._read_steps: _Steps = tuple(read)
        self._typed_steps: _Steps = tuple(typed)
        # Positional construction when the selected fields lead the record's own order (the
        # rest keep their defaults); by keyword otherwise.
        names = [f.name for f in dataclasses.fields(record)]
        if names[: len(fields)] == fields:
            self._make: Callable[[tuple[Any, ...]], R] = lambda values: record(*values)
        else:
            self._make = lambda values: record(**dict(zip(fields, values, strict=True)))

    def where(self, condition: str) -> str:
        """``select_sql`` narrowed by ``condition`` (SQL text with placeholders only)."""
        return f"{self.select_sql} WHERE {condition}"

    def where_in(self, key: str) -> str:
        """``select_sql`` of the rows whose ``key`` is in a list: ``{0}`` stands for its
        placeholders (``state.sql.marks``)."""
        return self.where(_in_list(self.table, key))

    def read(self, row: Sequence[Any]) -> R:
        """The record of a plain-SQL row of ``columns``, its values as stored."""
        return self._make(_convert(row, self._read_steps))

    def read_typed(self, row: Any) -> R:
        """The record of a row SQLAlchemy already converted (any ``select`` naming
        ``columns``): only the enums are rebuilt."""
        return self._make(_convert(self._named(row), self._typed_steps))

    def writer(self, *, given: Sequence[str] = ()) -> RowWriter[R]:
        """Rows of the record's columns then ``given`` (set by the store per row), each
        ``given`` column taking the place of a field of the same name."""
        return RowWriter(self, tuple(given))


def _same(value: Any) -> Any:
    return value


def _one(getter: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    return lambda record: (getter(record),)


def _name(table: Table, column: str) -> str:
    """``column`` quoted, once it is known to be one of ``table``'s."""
    if column not in table.c:
        raise ValueError(f"{column} is no column of {table.name}")
    return _quote(column)


def _in_list(table: Table, key: str) -> str:
    return f"{_name(table, key)} IN ({{0}})"


def _bind_steps(table: Table, columns: Sequence[str]) -> _Steps:
    steps: list[tuple[int, Callable[[Any], Any]]] = []
    for i, column in enumerate(columns):
        bind = table.c[column].type.bind_processor(_DIALECT)
        if bind is not None:
            steps.append((i, bind))
    return tuple(steps)


class Statements:
    """The statements over ``columns`` of ``table`` (each checked to be one of its columns),
    and those columns' values as stored and as read."""

    __slots__ = ("_read_steps", "columns", "table")

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        for column in columns:
            _name(table, column)
        self.table = table
        self.columns: tuple[str, ...] = tuple(columns)
        read = [
            (i, table.c[c].type.result_processor(_DIALECT, None)) for i, c in enumerate(columns)
        ]
        self._read_steps: _Steps = tuple((i, step) for i, step in read if step is not None)

    def name(self, column: str, *, qualified: bool = False) -> str:
        """``column``, quoted for SQL text (after the table's name if ``qualified``), once
        it is known to be one of the table's."""
        name = _name(self.table, column)
        return f"{_quote(self.table.name)}.{name}" if qualified else name

    def select_in_sql(
        self, key: str, *, computed: str = "", where: str = "", order_by: Sequence[str] = ()
    ) -> str:
        """``SELECT`` of ``columns`` (then ``computed``, an expression over the columns) of
        the rows whose ``key`` is in a list, ``{0}`` standing for its placeholders
        (``state.sql.marks``), narrowed by ``where`` and ordered by ``order_by``."""
        names = ", ".join((*map(_quote, self.columns), *((computed,) if computed else ())))
        condition = _in_list(self.table, key) + (f" AND {where}" if where else "")
        sql = f"SELECT {names} FROM {_quote(self.table.name)} WHERE {condition}"  # noqa: S608 (names from the table definition)
        if order_by:
            sql += f" ORDER BY {', '.join(self.name(c) for c in order_by)}"
        return sql

    def reader(self, column: str) -> Callable[[Any], Any]:
        """How ``column``'s stored value is read (its type's result processing), for a loop
        that unpacks its rows itself."""
        step = self.table.c[column].type.result_processor(_DIALECT, None)
        return step if step is not None else _same

    def read(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """A plain-SQL row of ``columns`` (a ``select_in_sql``'s), each value as its column
        type reads it (JSON decoded, a stamp a UTC datetime)."""
        return _convert(row, self._read_steps)

    def update_sql(self, *, by: Sequence[str] = ()) -> str:
        """``UPDATE`` of ``columns`` but ``by`` (the primary key if empty) on the row whose
        ``by`` columns match: the parameters are a row of ``columns``, so ``by`` must be its
        last columns."""
        key = tuple(by) or tuple(c.name for c in self.table.primary_key.columns)
        if self.columns[len(self.columns) - len(key) :] != key:
            raise ValueError(f"the key {key} must be the last of the columns {self.columns}")
        sets = ", ".join(f"{_quote(c)} = ?" for c in self.columns[: len(self.columns) - len(key)])
        match = " AND ".join(f"{_quote(c)} = ?" for c in key)
        return f"UPDATE {_quote(self.table.name)} SET {sets} WHERE {match}"  # noqa: S608 (names from the table definition)

    def insert_sql(self, *, or_ignore: Sequence[str] | bool = False) -> str:
        """``INSERT`` of ``columns``; ``or_ignore``: a row whose key (any, or the unique
        columns named) exists already is left out."""
        names = ", ".join(map(_quote, self.columns))
        marks = ", ".join("?" * len(self.columns))
        sql = f"INSERT INTO {_quote(self.table.name)} ({names}) VALUES ({marks})"  # noqa: S608 (names from the table definition)
        if or_ignore is False:
            return sql
        target = "" if or_ignore is True else f" ({', '.join(map(_quote, or_ignore))})"
        return f"{sql} ON CONFLICT{target} DO NOTHING"

    def upsert_sql(self, *, keep: Sequence[str] = (), where: str = "") -> str:
        """``INSERT`` that updates, on a primary-key conflict, every column but the key and
        ``keep`` (say a creation stamp) to the new row's value, if ``where`` allows it."""
        key = [c.name for c in self.table.primary_key.columns]
        updated = [c for c in self.columns if c not in key and c not in keep]
        sets = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in updated)
        sql = (
            f"{self.insert_sql()} ON CONFLICT ({', '.join(map(_quote, key))}) DO UPDATE SET {sets}"
        )
        return f"{sql} WHERE {where}" if where else sql


class RowWriter(Statements, Generic[R]):
    """A record (and the values of the ``given`` columns) as the parameters of a write."""

    __slots__ = ("_getter", "_steps")

    def __init__(self, codec: RowCodec[R], given: tuple[str, ...]) -> None:
        table = codec.table
        for column in given:
            if column not in table.c:
                raise ValueError(f"{column} is no column of {table.name}")
        kept = [(f, c) for f, c in zip(codec.fields, codec.columns, strict=True) if c not in given]
        super().__init__(table, (*(c for _, c in kept), *given))
        names = [f for f, _ in kept]
        getter = attrgetter(*names) if len(names) > 1 else _one(attrgetter(*names))
        self._getter: Callable[[Any], tuple[Any, ...]] = getter
        self._steps = _bind_steps(table, self.columns)

    def row(self, record: R, *given: Any) -> tuple[Any, ...]:
        """``record``'s values, then ``given``'s, as stored (the columns' bind processing)."""
        values: tuple[Any, ...] = self._getter(record)
        return _convert(values + given if given else values, self._steps)


class ParamsWriter(Statements):
    """Rows from parameters keyed by column name, for every column of ``table`` but ``omit``
    (say an AUTOINCREMENT id), in the table's order, or for the ``only`` columns in their
    given order (an ``update_sql``'s): for rows assembled from several sources before they
    are written (the outbox merges updates into its new rows)."""

    __slots__ = ("_getter", "_steps")

    def __init__(self, table: Table, *, omit: Sequence[str] = (), only: Sequence[str] = ()) -> None:
        for column in omit:
            _name(table, column)
        chosen = tuple(only) or tuple(c.name for c in table.c if c.name not in omit)
        super().__init__(table, chosen)
        getter = itemgetter(*self.columns)
        self._getter: Callable[[Mapping[str, Any]], tuple[Any, ...]] = (
            getter if len(self.columns) > 1 else _one(getter)
        )
        self._steps = _bind_steps(table, self.columns)

    def row(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """``params`` in ``columns`` order, as stored (the columns' bind processing)."""
        return _convert(self._getter(params), self._steps)

    def rows(self, params: Iterable[Mapping[str, Any]], **same: Any) -> list[tuple[Any, ...]]:
        """``row`` of each of ``params``, with the ``same`` values (by column) in every row:
        converted once, not once a row (the transaction's stamp on a page of merges). The
        ``same`` columns lead or end ``columns`` (a row is then one concatenation)."""
        if not same:
            return [self.row(p) for p in params]
        return self._rows(params, itemgetter, same)

    def rows_of(self, objects: Iterable[Any], **same: Any) -> list[tuple[Any, ...]]:
        """``rows`` from objects whose attributes are named as the other columns (no
        mapping made per row)."""
        return self._rows(objects, attrgetter, same)

    def _rows(
        self, items: Iterable[Any], get: Callable[..., Callable[[Any], Any]], same: dict[str, Any]
    ) -> list[tuple[Any, ...]]:
        n = len(same)
        if set(self.columns[:n]) == same.keys():
            lead, varying = True, self.columns[n:]
        elif set(self.columns[-n:]) == same.keys():
            lead, varying = False, self.columns[:-n]
        else:
            raise ValueError(f"{sorted(same)} neither lead nor end the columns {self.columns}")
        fixed = self.row({c: same.get(c) for c in self.columns})
        fixed = fixed[:n] if lead else fixed[-n:]
        getter = get(*varying) if len(varying) > 1 else _one(get(*varying))
        steps = _bind_steps(self.table, varying)
        if lead:
            return [fixed + _convert(getter(p), steps) for p in items]
        return [_convert(getter(p), steps) + fixed for p in items]
