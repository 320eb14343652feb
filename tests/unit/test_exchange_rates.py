"""The sandbox's exchange rates and the MRR engine's conversion into the account currency.

Facts pinned (ChartMogul, recorded traffic): amounts in the feed and MRR are in the account
currency; a 10,000 cent EUR line showed as 10,908 in a USD account; a churn of -780 undid a
new_biz of +756 (each movement converted at its own date's rate: drift moves MRR without a
movement).
"""

from __future__ import annotations

import pytest

from cmsync.sandbox.chartmogul.engine import Kind, Period, SubscriptionInput, build_history
from cmsync.sandbox.chartmogul.rates import ISO_4217, RateSchedule

DAY = 86_400
MONTH = 30 * DAY


def _monthly(mrr: int, currency: str, months: int = 3) -> SubscriptionInput[str]:
    periods = [
        Period(
            start=m * MONTH, end=(m + 1) * MONTH, mrr=mrr, quantity=1, plan="p", currency=currency
        )
        for m in range(months)
    ]
    return SubscriptionInput(periods=periods, cancellations=[])


def test_the_recorded_eur_rate_in_a_usd_account() -> None:
    rates = RateSchedule("USD")
    assert rates.convert(10_000, "EUR", 0) == 10_908
    assert rates.convert(10_000, "USD", 0) == 10_000


def test_a_eur_account_converts_dollars_back() -> None:
    rates = RateSchedule("EUR")
    assert rates.convert(10_908, "USD", 0) == 10_000


def test_iso_codes_and_the_table() -> None:
    assert {"EUR", "USD", "GBP", "JPY"} <= ISO_4217 and "XYZ" not in ISO_4217
    assert RateSchedule().knows("EUR") and not RateSchedule().knows("MNT")
    with pytest.raises(ValueError, match="no rate"):
        RateSchedule("XYZ")


def test_movements_and_the_timeline_are_in_the_account_currency() -> None:
    history = build_history([_monthly(10_000, "EUR")], RateSchedule("USD"))
    [movement] = history.movements
    assert (movement.kind, movement.delta, movement.customer_mrr) == (Kind.NEW_BIZ, 10_908, 10_908)
    assert history.timeline.customer_mrr_at(MONTH) == 10_908


def test_drift_moves_mrr_without_a_movement_and_the_churn_takes_the_new_rate() -> None:
    rates = RateSchedule("USD")
    rates.change(40 * DAY, {"EUR": 1_170_000})
    sub = _monthly(10_000, "EUR", months=2)
    cancelled = SubscriptionInput(periods=sub.periods, cancellations=[50 * DAY])
    history = build_history([cancelled], rates)
    kinds = [(m.kind, m.delta, m.customer_mrr) for m in history.movements]
    # new_biz at the old rate, churn at the new one: they do not cancel out (as -780 vs +756)
    assert kinds == [(Kind.NEW_BIZ, 10_908, 10_908), (Kind.CHURN, -11_700, 0)]
    timeline = history.timeline
    assert timeline.customer_mrr_at(39 * DAY) == 10_908
    assert timeline.customer_mrr_at(45 * DAY) == 11_700  # drift: no movement at day 40
    assert timeline.subscription_mrr_at(0, 45 * DAY) == 11_700
    assert timeline.customer_mrr_at(50 * DAY) == 0


def test_without_foreign_periods_the_rates_change_nothing() -> None:
    rates = RateSchedule("USD")
    rates.change(40 * DAY, {"EUR": 1_170_000})
    plain = build_history([_monthly(5_000, "")])
    with_rates = build_history([_monthly(5_000, "")], rates)
    assert plain == with_rates


def test_a_change_on_the_same_moment_updates_it() -> None:
    rates = RateSchedule("USD")
    rates.change(10, {"EUR": 1_100_000})
    rates.change(10, {"GBP": 1_300_000})
    rates.change(5, {"EUR": 1_000_000})
    assert rates.moments() == (5, 10)
    assert rates.convert(100, "EUR", 7) == 100 and rates.convert(100, "EUR", 10) == 110
    assert rates.convert(100, "GBP", 10) == 130
