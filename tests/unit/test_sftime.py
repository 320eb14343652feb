"""The one Salesforce date-time parser: every spelling Salesforce answers or takes, one instant.

Formats: REST API Developer Guide, "Valid Date and DateTime Formats"
(developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/intro_valid_date_formats.htm):
``yyyy-MM-ddTHH:mm:ss.SSS+/-HH:mm`` or ``...SSSZ``, milliseconds optional; the REST API
answers with the offset without a colon (``2024-01-31T12:00:00.000+0000``), and a date field
is ``yyyy-MM-dd``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from state.sftime import format_datetime, parse_datetime

NOON = datetime(2024, 1, 31, 12, tzinfo=UTC)

# Millisecond instants, as Salesforce stores date-times.
_INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2400, 12, 31), timezones=st.just(UTC)
).map(lambda m: m.replace(microsecond=m.microsecond // 1000 * 1000))
_OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60)  # minutes east of UTC


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-31T12:00:00.000+0000",  # as the REST API answers
        "2024-01-31T12:00:00.000Z",  # as cmsync sends
        "2024-01-31T12:00:00Z",
        "2024-01-31T12:00:00.000+00:00",
        "2024-01-31T14:00:00.000+0200",
        "2024-01-31T07:00:00.000-05:00",
        "2024-01-31T12:00:00",  # no zone: UTC, as Salesforce stores them
    ],
)
def test_every_spelling_of_one_instant_reads_as_that_instant(text: str) -> None:
    assert parse_datetime(text) == NOON
    assert parse_datetime(text).tzinfo is UTC


def test_a_date_reads_as_its_midnight_in_utc() -> None:
    assert parse_datetime("2024-02-29") == datetime(2024, 2, 29, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2024-02-30T00:00:00Z", "2024-13-01"])
def test_what_is_no_date_time_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"isoformat|range|must be in"):
        parse_datetime(text)


@given(_INSTANTS)
def test_what_cmsync_sends_reads_back_as_the_same_instant(moment: datetime) -> None:
    sent = format_datetime(moment)
    assert sent.endswith("Z") and len(sent) == len("2024-01-31T12:00:00.000Z")
    assert parse_datetime(sent) == moment


@given(_INSTANTS, _OFFSETS)
def test_salesforce_answers_in_any_offset_read_as_the_instant(moment: datetime, east: int) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=east)))
    offset = f"{'+' if east >= 0 else '-'}{abs(east) // 60:02d}{abs(east) % 60:02d}"
    answered = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}{offset}"
    assert parse_datetime(answered) == moment
    assert format_datetime(parse_datetime(answered)) == format_datetime(moment)


@given(st.dates(min_value=date(1970, 1, 1), max_value=date(2400, 12, 31)))
def test_a_date_field_reads_as_its_day(day: date) -> None:
    assert parse_datetime(day.isoformat()).date() == day
