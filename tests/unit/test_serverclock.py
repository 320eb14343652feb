"""The server's clock from ``Date`` headers (RFC 9110 §6.6.1): whole seconds, never jitter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from state.serverclock import ServerClock, parse_http_date

T0 = datetime(2026, 12, 7, 6, 30, tzinfo=UTC)


class Local:
    """A settable local clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _date(moment: datetime) -> str:
    """What a server sends: IMF-fixdate, the fraction of a second dropped."""
    return format_datetime(moment.replace(microsecond=0), usegmt=True)


def test_the_imf_fixdate_of_rfc_9110_is_read_and_bad_values_are_ignored() -> None:
    # RFC 9110 §5.6.7's own example.
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == datetime(
        1994, 11, 6, 8, 49, 37, tzinfo=UTC
    )
    assert parse_http_date(None) is None
    assert parse_http_date("") is None
    assert parse_http_date("yesterday") is None
    clock = ServerClock(Local(T0))
    clock.observe("not a date")
    clock.observe(None)
    assert not clock.measured
    assert clock.offset == timedelta()
    assert clock.now() == T0


def test_a_server_ten_minutes_ahead_is_measured_to_the_second() -> None:
    local = Local(T0 + timedelta(milliseconds=300))
    clock = ServerClock(local)
    clock.observe(_date(T0 + timedelta(minutes=10, milliseconds=200)))
    assert clock.offset == timedelta(minutes=10)
    local.at += timedelta(seconds=42)
    assert clock.now() == local.at + timedelta(minutes=10)


def test_a_server_behind_is_a_negative_offset() -> None:
    local = Local(T0)
    clock = ServerClock(local)
    clock.observe(_date(T0 - timedelta(minutes=3)))
    assert clock.offset == -timedelta(minutes=3)


@given(
    skew=st.integers(-86_400, 86_400),
    answers=st.lists(
        st.tuples(st.integers(0, 999_999), st.integers(0, 400_000)), min_size=1, max_size=20
    ),
)
def test_the_estimate_is_within_a_second_and_an_in_sync_clock_measures_zero(
    skew: int, answers: list[tuple[int, int]]
) -> None:
    """Each answer: the server's time is made at some fraction of a second, and arrives after
    some latency (under half a second). The estimate is whole seconds, off by at most one."""
    local = Local(T0)
    clock = ServerClock(local)
    for fraction, latency in answers:
        made = T0 + timedelta(seconds=skew, microseconds=fraction)
        local.at = T0 + timedelta(microseconds=fraction + latency)
        clock.observe(_date(made))
    error = clock.offset - timedelta(seconds=skew)
    assert abs(error) <= timedelta(seconds=1)
    assert clock.offset.microseconds == 0
    # In sync, one answer that arrived within the second its Date names is enough.
    if skew == 0 and any(fraction + latency < 1_000_000 for fraction, latency in answers):
        assert clock.offset == timedelta()


def test_a_clock_corrected_by_ntp_is_followed_once_the_old_samples_leave_the_window() -> None:
    local = Local(T0)
    clock = ServerClock(local, window=4)
    for _ in range(4):
        clock.observe(_date(T0 + timedelta(minutes=5)))
    assert clock.offset == timedelta(minutes=5)
    local.at = T0 + timedelta(minutes=5)  # the VM's clock stepped forward: now in sync
    for _ in range(4):
        clock.observe(_date(local.at))
    assert clock.offset == timedelta()
