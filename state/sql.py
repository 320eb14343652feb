"""Small helpers shared by the store's parts: the part base, chunking, change counting.

Every part of a transaction (cursors, outbox, ...) is a thin object over the one open
connection and the transaction's single ``now``: all rows written in one unit of work carry
the same timestamp, and no part reads a clock of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection

__all__ = ["CHUNK", "Part", "chunks", "total_changes", "unique"]

T = TypeVar("T")

# Keys per IN (...) list. SQLite allows 32766 bound variables since 3.32; a few hundred keeps
# each statement small and its plan cached, at no measurable cost.
CHUNK = 500


class Part:
    """One area of the store (cursors, outbox, ...) inside a unit of work."""

    __slots__ = ("_conn", "_now")

    def __init__(self, conn: Connection, now: datetime) -> None:
        self._conn = conn
        self._now = now


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def unique(values: Iterable[T]) -> list[T]:
    """The values without repeats, first occurrence kept, order preserved."""
    return list(dict.fromkeys(values))


def total_changes(conn: Connection) -> int:
    """Rows inserted, updated or deleted on this connection since it opened.

    Taken before and after an ``executemany``, the difference is exactly the rows a batch
    changed: an ``ON CONFLICT DO NOTHING`` that ignored a row, or an upsert whose ``WHERE``
    refused it, does not count. (The driver's ``rowcount`` for ``executemany`` is not
    something SQLAlchemy promises for SQLite.)
    """
    value = conn.exec_driver_sql("SELECT total_changes()").scalar_one()
    assert isinstance(value, int)
    return value
