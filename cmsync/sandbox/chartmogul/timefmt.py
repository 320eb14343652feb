"""Timestamps as the emulator keeps them (UTC epoch seconds) and as ChartMogul writes them.

The store keeps every moment as an ``int`` of UTC epoch seconds: compact (a million activities)
and cheap to compare. ChartMogul accepts many spellings on input ("2016-01-01 12:00:00 UTC",
"2016-01-01T12:00:00.000Z", "2000-01-01 00:00:00 +0200", a bare date) and answers in several
formats depending on the resource, each recorded from real traffic:

- invoices, line items, transactions, lead dates, data sources: ``2016-01-01T12:00:00.000Z``
- activities, ``customer-since``, subscriptions (metrics view): ``2016-01-01T12:00:00+00:00``
- metrics entries: ``2022-04-30``
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

__all__ = [
    "DAY",
    "MAX_TS",
    "day_start",
    "from_ts",
    "iso_millis",
    "iso_offset",
    "parse_date",
    "parse_time",
    "to_ts",
]

DAY = 86_400
# Positions in the activity feed pack a timestamp into 32 bits, so moments must fit in
# [1970, 2106); anything outside is refused as an invalid date, as a real import would be.
MAX_TS = 2**32 - 1


def to_ts(moment: datetime) -> int:
    """Epoch seconds of an aware datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def from_ts(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def parse_time(value: object) -> int | None:
    """Epoch seconds of a ChartMogul timestamp string, or None when it is not one."""
    if not isinstance(value, str):
        return None
    return _parse_text(value)


# Imports repeat the same few timestamps (period boundaries) thousands of times: cache them.
@lru_cache(maxsize=1 << 16)
def _parse_text(value: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if text.endswith(" UTC"):
        text = text[:-4]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    ts = to_ts(parsed)
    return ts if 0 <= ts <= MAX_TS else None


def parse_date(value: object) -> date | None:
    """A calendar date from ``YYYY-MM-DD`` (or the date part of a timestamp)."""
    ts = parse_time(value)
    return None if ts is None else from_ts(ts).date()


def day_start(day: date) -> int:
    return to_ts(datetime(day.year, day.month, day.day, tzinfo=UTC))


def iso_millis(ts: int | None) -> str | None:
    """``2016-01-01T12:00:00.000Z`` (invoices, transactions, lead dates)."""
    return None if ts is None else _millis(ts)


def iso_offset(ts: int | None) -> str | None:
    """``2016-01-01T12:00:00+00:00`` (activities, customer-since, subscriptions)."""
    return None if ts is None else _offset(ts)


@lru_cache(maxsize=1 << 16)
def _millis(ts: int) -> str:
    return from_ts(ts).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@lru_cache(maxsize=1 << 16)
def _offset(ts: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=ts)).isoformat()
