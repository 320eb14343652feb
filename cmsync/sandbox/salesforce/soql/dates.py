"""SOQL date literals (``TODAY``, ``LAST_N_DAYS:30``...) as half-open ranges of days.

A date literal names a range, and comparisons read against it: ``= TODAY`` is "within today",
``> TODAY`` "after today ends", ``< TODAY`` "before today starts". Weeks start on Sunday and
days are UTC days (the integration user's locale and time zone in the sandbox org).
``LAST_N_DAYS:n`` runs from n days ago up to the end of today, ``NEXT_N_DAYS:n`` from
tomorrow for n days, as the SOQL reference describes them.
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = ["date_range"]

_DAY = timedelta(days=1)


def _month_start(day: date, shift: int) -> date:
    month = day.month - 1 + shift
    return date(day.year + month // 12, month % 12 + 1, 1)


def date_range(name: str, n: int | None, today: date) -> tuple[date, date]:
    """[first day, day after the last) for the date literal ``name`` (``n`` for the _N_ forms)."""
    week = today - timedelta(days=(today.weekday() + 1) % 7)
    count = n or 0
    ranges = {
        "YESTERDAY": (today - _DAY, today),
        "TODAY": (today, today + _DAY),
        "TOMORROW": (today + _DAY, today + 2 * _DAY),
        "LAST_WEEK": (week - 7 * _DAY, week),
        "THIS_WEEK": (week, week + 7 * _DAY),
        "NEXT_WEEK": (week + 7 * _DAY, week + 14 * _DAY),
        "LAST_MONTH": (_month_start(today, -1), _month_start(today, 0)),
        "THIS_MONTH": (_month_start(today, 0), _month_start(today, 1)),
        "NEXT_MONTH": (_month_start(today, 1), _month_start(today, 2)),
        "LAST_90_DAYS": (today - 90 * _DAY, today + _DAY),
        "NEXT_90_DAYS": (today + _DAY, today + 91 * _DAY),
        "LAST_YEAR": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
        "THIS_YEAR": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
        "LAST_N_DAYS": (today - count * _DAY, today + _DAY),
        "NEXT_N_DAYS": (today + _DAY, today + (count + 1) * _DAY),
        "N_DAYS_AGO": (today - count * _DAY, today - (count - 1) * _DAY),
    }
    return ranges[name]
