"""One billing period later: month ends and 29 February, for every caller of the rule."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmsync.pipeline.context import PlanInfo
from state.periods import add_months, period_end

_MOMENTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.just(UTC)
)


@pytest.mark.parametrize(
    ("start", "unit", "count", "end"),
    [
        (date(2025, 1, 31), "month", 1, date(2025, 2, 28)),
        (date(2024, 1, 31), "month", 1, date(2024, 2, 29)),
        (date(2026, 3, 31), "month", 1, date(2026, 4, 30)),
        (date(2024, 2, 29), "year", 1, date(2025, 2, 28)),
        (date(2024, 2, 29), "year", 4, date(2028, 2, 29)),
        (date(2026, 11, 30), "month", 3, date(2027, 2, 28)),
        (date(2026, 12, 20), "day", 14, date(2027, 1, 3)),
        (date(2026, 12, 15), "month", 1, date(2027, 1, 15)),
    ],
)
def test_a_period_ends_on_the_same_day_or_the_last_of_a_shorter_month(
    start: date, unit: str, count: int, end: date
) -> None:
    assert period_end(start, unit, count) == end


def test_a_yearly_plan_started_on_a_leap_day_renews_on_28_february() -> None:
    # PlanInfo.after replaced the year in place, which raised ValueError for 29 February.
    yearly = PlanInfo("Annual", 1, "year")
    start = datetime(2024, 2, 29, 9, 30, tzinfo=UTC)
    assert yearly.after(start) == datetime(2025, 2, 28, 9, 30, tzinfo=UTC)


def test_a_monthly_plan_started_on_31_march_renews_on_30_april_not_the_28th() -> None:
    # PlanInfo.after cut every day past the 28th to the 28th, whatever the month.
    monthly = PlanInfo("Pro", 1, "month")
    start = datetime(2026, 3, 31, tzinfo=UTC)
    assert monthly.after(start) == datetime(2026, 4, 30, tzinfo=UTC)


@given(_MOMENTS, st.integers(min_value=-240, max_value=240))
def test_add_months_lands_in_the_right_month_on_the_nearest_day(
    moment: datetime, months: int
) -> None:
    later = add_months(moment, months)
    assert (later.year * 12 + later.month) - (moment.year * 12 + moment.month) == months
    last = calendar.monthrange(later.year, later.month)[1]
    assert later.day == min(moment.day, last)
    assert later.timetz() == moment.timetz()  # only the calendar date moves


@given(_MOMENTS, st.integers(min_value=1, max_value=36))
def test_a_period_ends_after_its_start_and_within_its_length(moment: datetime, months: int) -> None:
    end = period_end(moment, "month", months)
    assert timedelta(days=28 * months) <= end - moment <= timedelta(days=31 * months)


@given(_MOMENTS, st.integers(min_value=1, max_value=10))
def test_a_year_is_twelve_months(moment: datetime, years: int) -> None:
    assert period_end(moment, "year", years) == period_end(moment, "month", 12 * years)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
def test_a_day_up_to_the_28th_round_trips(day: date) -> None:
    if day.day <= 28:
        assert add_months(add_months(day, 13), -13) == day
