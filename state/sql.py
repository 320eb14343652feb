"""Small helpers shared by the store's parts: the part base, chunking, change counting.

Every part of a transaction (cursors, outbox, ...) is a thin object over the one open
connection and the transaction's single ``now``: all rows written in one unit of work carry
the same timestamp, and no part reads a clock of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Connection

__all__ = [
    "CHUNK",
    "PAIRS",
    "Part",
    "chunks",
    "marks",
    "pair_params",
    "pairs_where",
    "unique",
]

T = TypeVar("T")

# Keys per IN (...) list. SQLite allows 32766 bound variables since 3.32; a few hundred keeps
# each statement small and its plan cached, at no measurable cost.
CHUNK = 500


# Pairs per ``pairs_where``: SQLite parses an OR chain as a tree as deep as it is long, and
# refuses expressions deeper than 1000 (SQLITE_MAX_EXPR_DEPTH).
PAIRS = 250


@lru_cache(maxsize=4 * PAIRS)
def pairs_where(first: str, second: str, count: int) -> str:
    """SQL for ``(first, second) IN (count pairs)`` that SQLite answers from an index.

    SQLite plans a row-value ``IN`` list as a scan of the whole table, which made every page
    of a catch-up slower than the last (the applied-signal table grows by a page each time);
    an OR of equalities is planned as one index search per pair (``MULTI-INDEX OR``). The
    parameters are ``a0, b0, a1, b1, ...`` (``pair_params``). It is text, cached per count,
    because building the same condition as an expression tree of 500 comparisons cost more
    than the search itself. ``first`` and ``second`` are column names, never data.
    """
    if not 1 <= count <= PAIRS:
        raise ValueError(f"between 1 and {PAIRS} pairs per query, not {count}")
    return " OR ".join(f'("{first}" = :a{i} AND "{second}" = :b{i})' for i in range(count))


def pair_params(pairs: Sequence[tuple[Any, Any]]) -> dict[str, Any]:
    """The bound values for ``pairs_where(..., len(pairs))``."""
    params: dict[str, Any] = {}
    for i, (a, b) in enumerate(pairs):
        params[f"a{i}"] = a
        params[f"b{i}"] = b
    return params


class Part:
    """One area of the store (cursors, outbox, ...) inside a unit of work."""

    __slots__ = ("_conn", "_now")

    def __init__(self, conn: Connection, now: datetime) -> None:
        self._conn = conn
        self._now = now


def marks(count: int) -> str:
    """``?, ?, ...``: the placeholders of a plain-SQL ``IN (...)`` list of ``count`` values."""
    return ", ".join("?" * count)


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def unique(values: Iterable[T]) -> list[T]:
    """The values without repeats, first occurrence kept, order preserved."""
    return list(dict.fromkeys(values))
