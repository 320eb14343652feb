"""A ChartMogul time is accepted exactly when it lies between the moments Salesforce holds
(1700-01-01T00:00:00Z to 4000-12-31T00:00:00Z; Data Loader Guide, "Data Import Dates"),
whatever its offset: the validator's shortcut by year decides as the full comparison does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmsync.chartmogul.records import EARLIEST, LATEST, Activity, RecordError, parse_record
from tests.reliability.hostile import activity

_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)),
     timezone(timedelta(hours=23, minutes=59)), timezone(timedelta(hours=-23, minutes=-59))]
)  # fmt: skip


def _accepted(moment: datetime) -> bool:
    try:
        parse_record(Activity, activity("act_dates", "cus_dates", date=moment.isoformat()))
    except RecordError:
        return False
    return True


@given(
    st.datetimes(min_value=datetime(1697, 6, 1), max_value=datetime(4003, 6, 1), timezones=_ZONES)
)
def test_a_time_is_accepted_exactly_between_the_moments_salesforce_holds(moment: datetime) -> None:
    assert _accepted(moment) == (EARLIEST <= moment <= LATEST)


@pytest.mark.parametrize(
    ("text", "accepted"),
    [("1700-01-01T00:00:00Z", True), ("1700-01-01T00:30:00+01:00", False),
     ("1701-01-01T00:00:00+23:59", True), ("1702-01-01T00:00:00+23:59", True),
     ("4000-12-31T00:00:00Z", True), ("4000-12-30T23:00:00-02:00", False),
     ("3999-12-31T23:59:59-23:59", True), ("2026-01-05T00:00:00+00:00", True)],
)  # fmt: skip
def test_the_ends_of_the_range_with_offsets(text: str, accepted: bool) -> None:
    assert _accepted(datetime.fromisoformat(text)) is accepted
