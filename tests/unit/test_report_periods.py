"""KPI report periods, their keys, and the snapshot fields made from metrics entries."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmsync.chartmogul.records import MetricsEntry
from cmsync.pipeline.streams.report_periods import (
    Period,
    digest,
    recent_spans,
    snapshot_rows,
    span_of,
)

PERIODS: tuple[Period, ...] = ("day", "week", "month")


def _entry(day: str, **values: Any) -> MetricsEntry:
    return MetricsEntry.model_validate({"date": day, **values})


@pytest.mark.parametrize(
    ("period", "day", "start", "end", "key"),
    [
        ("day", date(2026, 11, 25), date(2026, 11, 25), date(2026, 11, 25), "day:2026-11-25"),
        # 2026-11-25 is a Wednesday: its week runs Monday 23 to Sunday 29.
        ("week", date(2026, 11, 25), date(2026, 11, 23), date(2026, 11, 29), "week:2026-11-23"),
        ("week", date(2026, 11, 23), date(2026, 11, 23), date(2026, 11, 29), "week:2026-11-23"),
        ("week", date(2026, 11, 29), date(2026, 11, 23), date(2026, 11, 29), "week:2026-11-23"),
        ("week", date(2027, 1, 1), date(2026, 12, 28), date(2027, 1, 3), "week:2026-12-28"),
        ("month", date(2026, 11, 25), date(2026, 11, 1), date(2026, 11, 30), "month:2026-11-01"),
        ("month", date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31), "month:2026-12-01"),
        ("month", date(2028, 2, 10), date(2028, 2, 1), date(2028, 2, 29), "month:2028-02-01"),
    ],
)
def test_the_period_of_a_day(period: Period, day: date, start: date, end: date, key: str) -> None:
    span = span_of(period, day)
    assert (span.start, span.end, span.key) == (start, end, key)


def test_names_read_as_periods() -> None:
    assert span_of("day", date(2026, 11, 25)).name == "Day 2026-11-25"
    assert span_of("week", date(2026, 11, 25)).name == "Week 2026-11-23 to 2026-11-29"
    assert span_of("month", date(2026, 11, 25)).name == "Month 2026-11"


@given(
    st.sampled_from(PERIODS),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    st.integers(min_value=1, max_value=40),
)
def test_recent_spans_are_consecutive_and_end_with_today(
    period: Period, today: date, count: int
) -> None:
    spans = recent_spans(period, today, count)
    assert len(spans) == count == len({s.key for s in spans})
    assert spans[-1].contains(today)
    for earlier, later in pairwise(spans):
        assert earlier.end + timedelta(days=1) == later.start
    for span in spans:
        assert span_of(period, span.start) == span == span_of(period, span.end)


def test_recent_spans_need_one_period_at_least() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        recent_spans("day", date(2026, 11, 25), 0)


def test_a_row_holds_every_metric_money_as_currency_rates_as_percentages() -> None:
    spans = recent_spans("month", date(2026, 11, 25), 2)
    metrics = [
        _entry("2026-10-31", mrr=100_000, arr=1_200_000, arpa=5_000, asp=2_500, customers=20,
               **{"customer-churn-rate": 1.71, "mrr-churn-rate": -0.5, "ltv": 292_397.66}),
        _entry("2026-11-25", mrr=110_050, arr=1_320_600, arpa=5_241, asp=0, customers=21,
               **{"customer-churn-rate": 0.0, "mrr-churn-rate": 0.0, "ltv": 0}),
    ]  # fmt: skip
    movements = [
        _entry("2026-10-31", mrr=100_000, **{"mrr-new-business": 5_000, "mrr-expansion": 1_000,
               "mrr-contraction": -200, "mrr-churn": -1_800, "mrr-reactivation": 0}),
    ]  # fmt: skip
    october, november = snapshot_rows(spans, metrics, movements)
    assert october.span.key == "month:2026-10-01"
    assert october.fields == {
        "Name": "Month 2026-10",
        "CM_Period__c": "month",
        "CM_Period_Start__c": "2026-10-01",
        "CM_Period_End__c": "2026-10-31",
        "CM_MRR__c": 1000.0,
        "CM_ARR__c": 12000.0,
        "CM_ARPA__c": 50.0,
        "CM_ASP__c": 25.0,
        "CM_LTV__c": 2923.98,  # a float of cents, rounded to the cent
        "CM_Customers__c": 20,
        "CM_Customer_Churn_Rate__c": 1.71,
        "CM_MRR_Churn_Rate__c": -0.5,
        "CM_MRR_New_Business__c": 50.0,
        "CM_MRR_Expansion__c": 10.0,
        "CM_MRR_Contraction__c": -2.0,
        "CM_MRR_Churn__c": -18.0,
        "CM_MRR_Reactivation__c": 0.0,
    }
    # The running month: its entry is dated today, its row still spans the whole month;
    # movements the report lacked are left out, not blanked.
    assert november.span.key == "month:2026-11-01"
    assert november.fields["CM_Period_End__c"] == "2026-11-30"
    assert november.fields["CM_MRR__c"] == 1100.5
    assert "CM_MRR_New_Business__c" not in november.fields


def test_periods_without_an_entry_get_no_row() -> None:
    spans = recent_spans("day", date(2026, 11, 25), 3)
    rows = snapshot_rows(spans, [_entry("2026-11-24", mrr=1), _entry("2026-01-01", mrr=2)], [])
    assert [r.span.key for r in rows] == ["day:2026-11-24"]


def test_the_digest_follows_the_values_not_their_order() -> None:
    a = {"CM_MRR__c": 1.0, "Name": "x"}
    assert digest(a) == digest({"Name": "x", "CM_MRR__c": 1.0})
    assert digest(a) != digest({**a, "CM_MRR__c": 1.01})
    assert len(digest(a)) == 16


def test_a_figure_its_field_cannot_hold_is_left_out_and_named() -> None:
    # CM_MRR__c is Currency(16, 2): below 10**14 in magnitude. 10**20 cents is 10**18.
    spans = recent_spans("day", date(2026, 11, 25), 1)
    metrics = [
        _entry("2026-11-25", mrr=10**20, arr=12 * 10**20, arpa=-(10**16), asp=10**16 - 1,
               customers=3, ltv=float("nan"), **{"customer-churn-rate": 1e9,
               "mrr-churn-rate": float("inf")}),
    ]  # fmt: skip
    (row,) = snapshot_rows(spans, metrics, [])
    assert row.fields["CM_ASP__c"] == 99_999_999_999_999.99  # the largest it holds
    assert row.fields["CM_Customers__c"] == 3
    left = {entry.split(":", 1)[0]: entry for entry in row.left_out}
    assert set(left) == {
        "CM_MRR__c", "CM_ARR__c", "CM_ARPA__c", "CM_LTV__c", "CM_Customer_Churn_Rate__c",
        "CM_MRR_Churn_Rate__c",
    }  # fmt: skip
    assert not set(left) & set(row.fields)
    assert "1000000000000000000" in left["CM_MRR__c"]  # the value, in currency units
    assert "nan" in left["CM_LTV__c"]
