"""One billing period later: the one calendar rule for plans, invoices and metrics (pure).

A period of ``n`` months ends on the same day of the month ``n`` months on, or on that
month's last day when it is shorter: 31 January + 1 month is 28 (29) February, 31 March +
1 month is 30 April, and 29 February + 1 year is 28 February. A year is twelve months, so a
yearly plan started on a leap day renews on 28 February (before this rule, ``replace(year=...)``
raised on it). A day interval is that many days. ChartMogul plans are counted in days, months
or years (``interval_unit`` of the Import API's plans); any other unit counts as months, as
cmsync always read it.

The time of day and the zone are kept: only the calendar date moves.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import TypeVar

__all__ = ["add_months", "months_in", "period_end"]

D = TypeVar("D", bound=date)  # a date or a datetime: the result is of the same kind


def add_months(moment: D, months: int) -> D:
    """The same day ``months`` later (or earlier, if negative), clamped to the month's end."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def months_in(unit: str, count: int) -> int:
    """How many calendar months ``count`` intervals of ``unit`` (month or year) span."""
    return count * (12 if unit == "year" else 1)


def period_end(start: D, unit: str, count: int) -> D:
    """The end of ``count`` intervals of ``unit`` (day, month, year) that start at ``start``."""
    if unit == "day":
        return start + timedelta(days=count)
    return add_months(start, months_in(unit, count))
