"""The ChartMogul emulator's MRR engine, and the history rebuilds built on it (no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cmsync.sandbox.chartmogul import Store
from cmsync.sandbox.chartmogul.engine import (
    History,
    Kind,
    Period,
    SubscriptionInput,
    build_history,
    customer_status,
    describe,
    monthly_amount,
)
from cmsync.sandbox.chartmogul.timefmt import to_ts
from cmsync.sandbox.clock import SandboxClock

NOW = datetime(2025, 6, 15, tzinfo=UTC)


def ts(year: int, month: int, day: int = 1) -> int:
    return to_ts(datetime(year, month, day, tzinfo=UTC))


def period(start: int, end: int, mrr: int, plan: str = "Growth", quantity: int = 1) -> Period[str]:
    return Period(start=start, end=end, mrr=mrr, quantity=quantity, plan=plan)


def sub(*periods: Period[str], cancelled: tuple[int, ...] = ()) -> SubscriptionInput[str]:
    return SubscriptionInput(periods=periods, cancellations=cancelled)


def kinds(history: History[str]) -> list[tuple[int, Kind, int, int]]:
    return [(m.at, m.kind, m.delta, m.customer_mrr) for m in history.movements]


# normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "count", "unit", "monthly"),
    [
        (9_900, 1, "month", 9_900),  # monthly
        (29_700, 3, "month", 9_900),  # quarterly
        (118_800, 1, "year", 9_900),  # annual
        (237_600, 2, "year", 9_900),  # biennial
        (1_000, 7, "day", 4_348),  # real recording: 1000 cents per 7 days shows mrr 4348
        (100, 3, "month", 33),  # 33.33 rounds down
        (200, 3, "month", 67),  # 66.67 rounds up
        (50, 4, "month", 13),  # 12.5: half away from zero
    ],
)
def test_amounts_are_normalised_by_the_plan_interval(
    amount: int, count: int, unit: str, monthly: int
) -> None:
    assert monthly_amount(amount, count, unit) == monthly


def test_a_prorated_amount_is_normalised_by_its_service_period() -> None:
    half_month = round(86_400 * 365.25 / 24)
    assert monthly_amount(5_000, 1, "month", service_seconds=half_month) == 10_000


# movements -------------------------------------------------------------------------------


def test_a_first_invoice_is_new_business() -> None:
    history = build_history([sub(period(ts(2024, 1), ts(2024, 2), 9_900))])
    assert kinds(history) == [(ts(2024, 1), Kind.NEW_BIZ, 9_900, 9_900)]
    assert history.movements[0].customers_delta == 1
    assert history.timeline.customer_since == ts(2024, 1)


def test_renewals_at_the_same_price_are_not_movements() -> None:
    history = build_history(
        [sub(*(period(ts(2024, m), ts(2024, m + 1), 9_900) for m in range(1, 7)))]
    )
    assert [m.kind for m in history.movements] == [Kind.NEW_BIZ]


@pytest.mark.parametrize(
    ("second", "kind", "description"),
    [
        (period(ts(2024, 2), ts(2024, 3), 15_840, quantity=8), Kind.EXPANSION,
         "changed quantity from 5 to 8 on their Growth plan"),
        (period(ts(2024, 2), ts(2024, 3), 3_960, quantity=2), Kind.CONTRACTION,
         "changed quantity from 5 to 2 on their Growth plan"),
        (period(ts(2024, 2), ts(2024, 3), 19_900, plan="Scale", quantity=5), Kind.EXPANSION,
         "switched plan from Growth to Scale"),
        (period(ts(2024, 2), ts(2024, 3), 2_900, plan="Starter", quantity=5), Kind.CONTRACTION,
         "switched plan from Growth to Starter"),
    ],
)  # fmt: skip
def test_seat_and_plan_changes_are_expansion_or_contraction(
    second: Period[str], kind: Kind, description: str
) -> None:
    first = period(ts(2024, 1), ts(2024, 2), 9_900, quantity=5)
    history = build_history([sub(first, second)])
    change = history.movements[1]
    assert (change.at, change.kind, change.delta) == (ts(2024, 2), kind, second.mrr - 9_900)
    assert change.customer_mrr == second.mrr
    text = describe(change.kind, change.plan_before, change.plan_after, 5, change.quantity_after)
    assert text == description


def test_a_cancellation_is_churn_at_cancelled_at() -> None:
    cancelled = ts(2024, 3, 10)
    history = build_history(
        [sub(period(ts(2024, 1), ts(2024, 2), 9_900), period(ts(2024, 2), ts(2024, 3), 9_900),
             cancelled=(cancelled,))]
    )  # fmt: skip
    assert kinds(history)[-1] == (cancelled, Kind.CHURN, -9_900, 0)
    churn = history.movements[-1]
    assert churn.customers_delta == -1 and churn.plan_before == "Growth"
    assert history.timeline.customer_mrr_at(cancelled - 1) == 9_900
    assert history.timeline.customer_mrr_at(cancelled) == 0


def test_paying_again_after_churn_is_reactivation() -> None:
    history = build_history(
        [
            sub(period(ts(2024, 1), ts(2024, 2), 9_900), cancelled=(ts(2024, 2),)),
            sub(period(ts(2024, 6), ts(2024, 7), 2_900, plan="Starter")),
        ]
    )
    assert [m.kind for m in history.movements] == [Kind.NEW_BIZ, Kind.CHURN, Kind.REACTIVATION]
    assert history.movements[-1].customers_delta == 1
    assert history.timeline.customer_since == ts(2024, 1)


def test_cancelling_one_of_two_subscriptions_is_contraction() -> None:
    history = build_history(
        [
            sub(period(ts(2024, 1), ts(2025, 1), 9_900)),
            sub(period(ts(2024, 3), ts(2025, 3), 2_900, plan="Add-on"), cancelled=(ts(2024, 5),)),
        ]
    )
    assert [m.kind for m in history.movements] == [Kind.NEW_BIZ, Kind.EXPANSION, Kind.CONTRACTION]
    assert history.movements[-1].customers_delta == 0


def test_simultaneous_purchases_are_separate_activities_with_running_mrr() -> None:
    """As recorded: two plans bought at once are two new_biz, activity-mrr 4004 then 8009."""
    start = ts(2016, 1)
    history = build_history(
        [sub(period(start, ts(2016, 2), 4_004, plan="P1")),
         sub(period(start, ts(2016, 2), 4_005, plan="P2"))]
    )  # fmt: skip
    assert kinds(history) == [
        (start, Kind.NEW_BIZ, 4_004, 4_004),
        (start, Kind.NEW_BIZ, 4_005, 8_009),
    ]
    assert [m.customers_delta for m in history.movements] == [1, 0]


# regrouping within the hour (Smart Activity Classification, help article 4416682609426) ----

MINUTE = 60


def test_two_subscriptions_bought_30_minutes_apart_are_both_new_business() -> None:
    """The help article's example: one new_biz, not new_biz plus expansion."""
    start = ts(2025, 3)
    later = start + 30 * MINUTE
    history = build_history(
        [sub(period(start, ts(2025, 4), 4_000, plan="P1")),
         sub(period(later, later + 30 * 86_400, 2_000, plan="P2"))]
    )  # fmt: skip
    assert kinds(history) == [
        (start, Kind.NEW_BIZ, 4_000, 4_000),
        (later, Kind.NEW_BIZ, 2_000, 6_000),
    ]
    assert [m.customers_delta for m in history.movements] == [1, 0]
    ungrouped = build_history(
        [sub(period(start, ts(2025, 4), 4_000, plan="P1")),
         sub(period(later, later + 30 * 86_400, 2_000, plan="P2"))], regroup_seconds=0,
    )  # fmt: skip
    assert [m.kind for m in ungrouped.movements] == [Kind.NEW_BIZ, Kind.EXPANSION]


def test_a_purchase_61_minutes_later_is_an_expansion() -> None:
    start = ts(2025, 3)
    later = start + 61 * MINUTE
    history = build_history(
        [sub(period(start, ts(2025, 4), 4_000)), sub(period(later, ts(2025, 4), 2_000))]
    )
    assert [m.kind for m in history.movements] == [Kind.NEW_BIZ, Kind.EXPANSION]


def test_a_cancellation_and_a_purchase_within_the_hour_are_retyped() -> None:
    """Churn then reactivation within the hour: a plan switch, typed contraction + expansion.
    A rebuild after the purchase retypes the churn that was in the feed before it."""
    bought, gone = ts(2025, 1), ts(2025, 3)
    again = gone + 20 * MINUTE
    first = sub(period(bought, ts(2025, 4), 9_900, plan="Old"), cancelled=(gone,))
    before = build_history([first])
    assert [m.kind for m in before.movements] == [Kind.NEW_BIZ, Kind.CHURN]
    after = build_history([first, sub(period(again, ts(2025, 4), 12_900, plan="New"))])
    assert kinds(after) == [
        (bought, Kind.NEW_BIZ, 9_900, 9_900),
        (gone, Kind.CONTRACTION, -9_900, 0),
        (again, Kind.EXPANSION, 12_900, 12_900),
    ]
    assert sum(m.customers_delta for m in after.movements) == 1  # never stopped being one


def test_a_change_undone_within_the_hour_leaves_no_movement() -> None:
    """An upgrade reverted 30 minutes later nets to nothing: the expansion vanishes."""
    start, up = ts(2025, 1), ts(2025, 3)
    history = build_history(
        [sub(period(start, ts(2025, 3), 4_000), period(up, ts(2025, 4), 6_000),
             period(up + 30 * MINUTE, ts(2025, 4), 4_000))]
    )  # fmt: skip
    assert [m.kind for m in history.movements] == [Kind.NEW_BIZ]
    assert history.timeline.customer_mrr_at(up + MINUTE) == 6_000  # the MRR itself is real


def test_an_upgrade_then_a_cancellation_within_the_hour_is_one_churn() -> None:
    start, up = ts(2025, 1), ts(2025, 3)
    history = build_history(
        [sub(period(start, ts(2025, 3), 4_000), period(up, ts(2025, 4), 6_000),
             cancelled=(up + 10 * MINUTE,))]
    )  # fmt: skip
    assert kinds(history)[1:] == [(up + 10 * MINUTE, Kind.CHURN, -4_000, 0)]


# free customers and prorations ------------------------------------------------------------


def test_a_free_customer_is_active_and_never_churned() -> None:
    """Free Customer Handling (help article 15384089786524): a zero-MRR plan or a 100%
    discount keeps the customer Active; a fall to zero while live is a contraction."""
    free = build_history([sub(period(ts(2025, 1), ts(2025, 2), 0, plan="Free"))])
    assert free.movements == ()
    assert customer_status(free.timeline, ts(2025, 6), "New Lead") == (0, "Active")
    discounted = build_history(
        [sub(period(ts(2025, 1), ts(2025, 2), 9_900), period(ts(2025, 2), ts(2025, 3), 0))]
    )
    assert [m.kind for m in discounted.movements] == [Kind.NEW_BIZ, Kind.CONTRACTION]
    assert [m.customers_delta for m in discounted.movements] == [1, 0]
    assert customer_status(discounted.timeline, ts(2025, 2, 15), "New Lead") == (0, "Active")
    back = build_history(
        [sub(period(ts(2025, 1), ts(2025, 2), 9_900), period(ts(2025, 2), ts(2025, 3), 0),
             period(ts(2025, 3), ts(2025, 4), 9_900))]
    )  # fmt: skip
    assert [m.kind for m in back.movements][-1] is Kind.EXPANSION  # it never churned
    cancelled = build_history(
        [sub(period(ts(2025, 1), ts(2025, 2), 0, plan="Free"), cancelled=(ts(2025, 1, 20),))]
    )
    assert customer_status(cancelled.timeline, ts(2025, 6), "New Lead") == (0, "New Lead")


def test_a_trial_does_not_make_the_customer_live() -> None:
    trial = Period(start=ts(2025, 1), end=ts(2025, 2), mrr=0, quantity=1, plan="P", trial=True)
    history = build_history([sub(trial)])
    assert customer_status(history.timeline, ts(2025, 1, 15), "Trial") == (0, "Trial")


def test_a_differential_proration_adds_to_the_mrr() -> None:
    """The Import API's +1 seat example: a prorated line for the added seat adds to the
    subscription's MRR (proration_type differential, the default); ``full`` replaces it."""
    seat = Period(start=ts(2025, 1, 16), end=ts(2025, 2), mrr=1_000, quantity=1, plan="P",
                  adds=True)  # fmt: skip
    history = build_history([sub(period(ts(2025, 1), ts(2025, 2), 1_000), seat)])
    assert kinds(history)[-1] == (ts(2025, 1, 16), Kind.EXPANSION, 1_000, 2_000)
    full = Period(start=ts(2025, 1, 16), end=ts(2025, 2), mrr=2_000, quantity=2, plan="P")
    replaced = build_history([sub(period(ts(2025, 1), ts(2025, 2), 1_000), full)])
    assert kinds(replaced)[-1] == (ts(2025, 1, 16), Kind.EXPANSION, 1_000, 2_000)


# status ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subscriptions", "now", "expected"),
    [
        ([], ts(2025, 6), (0, "New Lead")),
        ([sub(period(ts(2025, 5), ts(2025, 7), 9_900))], ts(2025, 6), (9_900, "Active")),
        # the renewal never came: Past Due, and the MRR is kept
        ([sub(period(ts(2025, 1), ts(2025, 2), 9_900))], ts(2025, 6), (9_900, "Past Due")),
        ([sub(period(ts(2025, 1), ts(2025, 2), 9_900), cancelled=(ts(2025, 2),))], ts(2025, 6),
         (0, "Cancelled")),
        # bought for later: still a lead today
        ([sub(period(ts(2025, 7), ts(2025, 8), 9_900))], ts(2025, 6), (0, "New Lead")),
    ],
)  # fmt: skip
def test_status_follows_mrr_and_coverage(
    subscriptions: list[SubscriptionInput[str]], now: int, expected: tuple[int, str]
) -> None:
    timeline = build_history(subscriptions).timeline
    assert customer_status(timeline, now, "New Lead") == expected


# rebuilds through the store ----------------------------------------------------------------


def _store() -> tuple[Store, str, str]:
    store = Store(SandboxClock(lambda: NOW), seed=1)
    ds = store.create_data_source("billing")["uuid"]
    plan = store.create_plan(
        {"data_source_uuid": ds, "name": "Growth", "interval_count": 1, "interval_unit": "month",
         "external_id": "growth"}
    )["uuid"]  # fmt: skip
    return store, ds, plan


def _invoice(ext: str, start: datetime, end: datetime, plan: str, cents: int, sub_id: str,
             result: str = "successful") -> dict[str, Any]:  # fmt: skip
    return {
        "external_id": ext,
        "date": start.isoformat(),
        "currency": "USD",
        "line_items": [
            {"type": "subscription", "subscription_external_id": sub_id, "plan_uuid": plan,
             "service_period_start": start.isoformat(), "service_period_end": end.isoformat(),
             "amount_in_cents": cents, "external_id": f"{ext}-li"}
        ],
        "transactions": [
            {"type": "payment", "result": result, "date": start.isoformat(),
             "external_id": f"{ext}-tx"}
        ],
    }  # fmt: skip


def _customer(store: Store, ds: str, key: str) -> str:
    return str(
        store.create_customer({"data_source_uuid": ds, "external_id": key, "name": key})["uuid"]
    )


def _uuids(store: Store, customer: str) -> set[str]:
    feed = store.activities({"per_page": "200"})
    return {e["uuid"] for e in feed["entries"] if e["customer-uuid"] == customer}


def _month(month: int) -> datetime:
    return datetime(2025, month, 1, tzinfo=UTC)


def test_a_backfill_rewrites_that_customers_history_only() -> None:
    store, ds, plan = _store()
    alice, bob = _customer(store, ds, "alice"), _customer(store, ds, "bob")
    store.import_invoices(alice, [_invoice("a1", _month(3), _month(4), plan, 9_900, "a-sub")])
    store.import_invoices(bob, [_invoice("b1", _month(3), _month(4), plan, 4_900, "b-sub")])
    alice_before, bob_before = _uuids(store, alice), _uuids(store, bob)

    # An invoice for an earlier period of the same subscription arrives late.
    store.import_invoices(alice, [_invoice("a0", _month(1), _month(2), plan, 4_900, "a-sub")])

    alice_after = _uuids(store, alice)
    assert alice_after and alice_after.isdisjoint(alice_before)
    assert _uuids(store, bob) == bob_before
    entries = [e for e in store.activities({})["entries"] if e["customer-uuid"] == alice]
    assert [(e["date"][:10], e["type"], e["activity-mrr"]) for e in entries] == [
        ("2025-01-01", "new_biz", 4_900),
        ("2025-03-01", "expansion", 9_900),
    ]


def test_a_failed_payment_changes_uuids_but_not_mrr() -> None:
    store, ds, plan = _store()
    carol = _customer(store, ds, "carol")
    imported = store.import_invoices(
        carol, [_invoice("c1", _month(5), _month(6), plan, 9_900, "c")]
    )
    before = _uuids(store, carol)
    mrr_before = store.customers.retrieve(carol)["mrr"]

    store.invoices.add_transaction(
        imported[0]["uuid"], {"type": "payment", "result": "failed", "date": "2025-05-02"}
    )

    assert _uuids(store, carol).isdisjoint(before)
    assert store.customers.retrieve(carol)["mrr"] == mrr_before == 9_900


def test_customer_status_and_since_through_the_store() -> None:
    store, ds, plan = _store()
    dave = _customer(store, ds, "dave")
    assert store.customers.retrieve(dave)["status"] == "New Lead"
    imported = store.import_invoices(dave, [_invoice("d1", _month(1), _month(2), plan, 9_900, "d")])
    shown = store.customers.retrieve(dave)
    assert (shown["status"], shown["mrr"], shown["arr"]) == ("Past Due", 9_900, 118_800)
    assert shown["customer-since"] == "2025-01-01T00:00:00+00:00"
    sub_uuid = imported[0]["line_items"][0]["subscription_uuid"]
    store.cancel_subscription(sub_uuid, datetime(2025, 3, 1, tzinfo=UTC))
    shown = store.customers.retrieve(dave)
    assert (shown["status"], shown["mrr"]) == ("Cancelled", 0)
    assert shown["customer-since"] == "2025-01-01T00:00:00+00:00"


def test_metrics_follow_chartmogul_definitions() -> None:
    store, ds, plan = _store()
    erin, finn = _customer(store, ds, "erin"), _customer(store, ds, "finn")
    erin_invoice = store.import_invoices(
        erin, [_invoice("e1", _month(1), _month(2), plan, 10_000, "e")]
    )
    store.import_invoices(finn, [_invoice("f1", _month(1), _month(2), plan, 30_000, "f")])
    cancel_on = datetime(2025, 2, 10, tzinfo=UTC)
    store.cancel_subscription(erin_invoice[0]["line_items"][0]["subscription_uuid"], cancel_on)

    report = store.metrics("all", {"start-date": "2025-01-01", "end-date": "2025-02-28"})
    january, february = report["entries"]
    assert (january["date"], january["mrr"], january["customers"]) == ("2025-01-31", 40_000, 2)
    assert (january["arpa"], january["asp"], january["arr"]) == (20_000, 20_000, 480_000)
    assert (february["date"], february["mrr"], february["customers"]) == ("2025-02-28", 30_000, 1)
    assert february["customer-churn-rate"] == 50.0  # 1 of the 2 customers at the start
    assert february["mrr-churn-rate"] == 25.0  # 10,000 of 40,000
    assert february["ltv"] == 60_000  # ARPA 30,000 / 0.5
    assert february["mrr-percentage-change"] == -25.0
    mrr = store.metrics("mrr", {"start-date": "2025-01-01", "end-date": "2025-02-28"})
    assert [e["mrr-new-business"] for e in mrr["entries"]] == [40_000, 0]
    assert [e["mrr-churn"] for e in mrr["entries"]] == [0, -10_000]
    assert mrr["summary"]["current"] == 30_000  # now (mid June), not at end-date
