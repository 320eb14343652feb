"""The doctor's clock finding: ok within a minute, a warning with its fix beyond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from cmsync.admin.clock_checks import skew_finding
from cmsync.admin.findings import Severity
from state.serverclock import ServerClock

NOW = datetime(2026, 12, 7, 6, 30, tzinfo=UTC)


def _clock(server_ahead: timedelta) -> ServerClock:
    clock = ServerClock(lambda: NOW)
    clock.observe(format_datetime(NOW + server_ahead, usegmt=True))
    return clock


def test_no_answer_no_finding_and_a_minute_is_within_bounds() -> None:
    assert skew_finding("ChartMogul", "ChartMogul", ServerClock(lambda: NOW)) is None
    for skew in (timedelta(), timedelta(seconds=60), timedelta(seconds=-60)):
        finding = skew_finding("ChartMogul", "ChartMogul", _clock(skew))
        assert finding is not None and finding.severity is Severity.OK, skew


def test_beyond_a_minute_says_which_way_by_how_much_and_how_to_fix_it() -> None:
    behind = skew_finding("Salesforce", "Salesforce", _clock(timedelta(hours=2, seconds=5)))
    assert behind is not None and behind.severity is Severity.WARNING
    assert "this machine's clock is 2h 0m 5s behind Salesforce's" in behind.message
    assert behind.fix is not None and "timedatectl set-ntp true" in behind.fix
    ahead = skew_finding(
        "Salesforce", "Salesforce", _clock(-timedelta(seconds=90)), also="logins fail"
    )
    assert ahead is not None and ahead.severity is Severity.WARNING
    assert "is 1m 30s ahead of Salesforce's" in ahead.message
    assert ahead.message.endswith(", and logins fail")
