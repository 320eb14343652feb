"""Column types for the store: timezone-aware UTC timestamps and JSON text.

SQLite has no timestamp type. Timestamps are stored as fixed-width ISO 8601 text in UTC
(``2024-05-01T12:00:00.000000+00:00``), so text order is time order (indexes and ``<=`` work),
the ``sqlite3`` shell shows something a person can read, SQLite's own date functions accept it,
and the first 16 characters are the minute (the dashboard groups writes per minute on them).
A naive datetime is refused rather than guessed at.

JSON is stored as compact text with sorted keys, so the same value always gives the same text.
Python ``None`` is stored as JSON ``null``, never SQL NULL: a field last written as null is a
value, not an absence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Dialect, String, Text
from sqlalchemy.types import TypeDecorator

__all__ = ["JsonText", "UTCDateTime", "dump_json", "utc_datetime", "utc_text"]


# One transaction stamps thousands of rows with the same ``now``: remember recent conversions.
@lru_cache(maxsize=256)
def utc_text(value: datetime) -> str:
    """The stored form of an aware datetime; a naive one is a programming error."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store only takes timezone-aware times")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def utc_datetime(text: str | None) -> datetime | None:
    """The datetime ``utc_text`` stored (None for SQL NULL), for column and plain-SQL reads."""
    return None if text is None else datetime.fromisoformat(text)


def _plain(value: object) -> object:
    """A mapping that is not a dict (a record's read-only ``Mapping`` field) as a dict; the
    encoder asks only for what it cannot encode itself, so dicts cost nothing."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
)


def dump_json(value: object) -> str:
    """Compact, deterministic JSON text (sorted keys, no spaces, UTF-8 kept as is)."""
    return _ENCODER.encode(value)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime in, an aware UTC datetime out; text in between."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        return None if value is None else utc_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> datetime | None:
        return utc_datetime(value)


class JsonText(TypeDecorator[Any]):
    """Any JSON-serialisable value, as compact sorted-key text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str:
        return dump_json(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)
