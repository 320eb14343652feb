"""The lifecycle's records field by field: the account a signal leaves, and every effect it plans
(the Account update, the Task or Case, the Opportunity, the milestone, the withdrawal), compared
whole, with the edges of each rule (the horizon, lateness, priorities, milestones) on both sides.

These pin what ``make mutation`` found the rest of the suite let change unnoticed: which
fields an update carries when the plan or ``customer_since`` changes, the plan carried over
when a movement names none, a recovered payment clearing only its own invoice's failure, the
flags reset on a fresh start, a churn and a cancelled status.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import pytest

from state.effects import (
    AccountField,
    AlertKind,
    AlertRecord,
    ChurnRiskAlert,
    ExpansionOpportunity,
    MilestoneReached,
    Money,
    Priority,
    UpdateAccount,
    WithdrawAlert,
)
from state.lifecycle import (
    Account,
    LifecyclePolicy,
    Raised,
    Stage,
    apply,
    decide,
    withdraw_vanished,
)
from state.signals import (
    FailureExpired,
    MovementKind,
    MrrMovement,
    PaymentFailed,
    PaymentRecovered,
    StatusObserved,
)

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
AT = NOW - timedelta(hours=3)  # 2026-12-07 09:00
SINCE = datetime(2025, 1, 1, tzinfo=UTC)
CUS = "cus_1"
POLICY = LifecyclePolicy(milestones_cents=(100_000,))
QUIET = LifecyclePolicy(milestones_cents=(), alert_horizon=timedelta(0))  # raises nothing
PAYING = Account(
    CUS,
    stage=Stage.ACTIVE,
    mrr_cents=7_900,
    plan="growth",
    first_cycle_done=True,
    customer_since=SINCE,
    as_of=AT - timedelta(days=30),
)
EARLIER = AT - timedelta(days=2)
T = TypeVar("T")


def mv(
    kind: MovementKind,
    delta: int,
    mrr: int,
    plan: str | None = "growth",
    sub: str = "sub-1",
    at: datetime = AT,
    description: str = "",
) -> MrrMovement:
    return MrrMovement(CUS, at, kind, sub, delta, mrr, plan, description)


def short(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def only(effects: tuple[object, ...], kind: type[T]) -> list[T]:
    return [e for e in effects if isinstance(e, kind)]


# --- the account a signal leaves ------------------------------------------------------------


def test_a_paying_customers_second_new_biz_adds_mrr_and_keeps_its_plan_and_risks() -> None:
    risky = replace(PAYING, stage=Stage.AT_RISK, contracted=True, failures=(("inv-1", EARLIER),))
    after = apply(risky, mv(MovementKind.NEW_BIZ, 2_000, 9_900, plan=None), NOW, QUIET).account
    # no fresh start: the plan stays, the open failure and the contraction still stand
    assert after == replace(risky, mrr_cents=9_900, as_of=AT)


def test_a_reactivation_starts_afresh_and_carries_the_plan_when_it_names_none() -> None:
    churned = replace(
        PAYING,
        stage=Stage.CHURNED,
        mrr_cents=0,
        plan="legacy",
        downgraded=True,
        contracted=True,
        failures=(("inv-1", EARLIER),),
    )
    after = apply(churned, mv(MovementKind.REACTIVATION, 5_000, 5_000, plan=None), NOW, QUIET)
    assert after.account == replace(
        churned,
        stage=Stage.ACTIVE,
        mrr_cents=5_000,
        failures=(),
        downgraded=False,
        contracted=False,
        as_of=AT,
    )


def test_a_first_new_biz_sets_the_customer_since_and_a_named_plan() -> None:
    lead = Account(CUS, failures=(("inv-0", EARLIER),), downgraded=True, contracted=True)
    after = apply(lead, mv(MovementKind.NEW_BIZ, 7_900, 7_900, plan="growth"), NOW, QUIET).account
    assert after == Account(
        CUS, stage=Stage.NEW, mrr_cents=7_900, plan="growth", customer_since=AT, as_of=AT
    )


def test_an_expansion_of_a_customer_not_seen_paying_is_its_missed_start() -> None:
    lead = Account(CUS, plan="trial-plan")
    after = apply(lead, mv(MovementKind.EXPANSION, 1, 1, plan=None), NOW, QUIET).account
    # one cent is paying: the stage follows what the movement leaves (point 5)
    assert after == Account(
        CUS, stage=Stage.NEW, mrr_cents=1, plan="trial-plan", customer_since=AT, as_of=AT
    )


def test_an_expansion_of_a_paying_customer_keeps_its_start_unknown_and_clears_the_flags() -> None:
    unknown = replace(
        PAYING, stage=Stage.AT_RISK, customer_since=None, downgraded=True, contracted=True
    )
    after = apply(unknown, mv(MovementKind.EXPANSION, 2_000, 9_900, plan=None), NOW, QUIET)
    assert after.account.customer_since is None
    assert (after.account.downgraded, after.account.contracted) == (False, False)
    assert (after.account.plan, after.account.stage) == ("growth", Stage.ACTIVE)


def test_an_expansion_of_a_churned_customer_by_one_cent_makes_it_paying() -> None:
    churned = replace(PAYING, stage=Stage.CHURNED, mrr_cents=0)
    after = apply(churned, mv(MovementKind.EXPANSION, 1, 1), NOW, QUIET).account
    assert after.stage is Stage.ACTIVE


def test_a_contraction_without_a_plan_keeps_the_plan_and_tells_a_contraction() -> None:
    after = apply(PAYING, mv(MovementKind.CONTRACTION, -2_000, 5_900, plan=None), NOW, QUIET)
    assert after.account == replace(
        PAYING, stage=Stage.AT_RISK, mrr_cents=5_900, contracted=True, as_of=AT
    )


def test_a_churn_clears_the_failures_and_the_flags() -> None:
    risky = replace(
        PAYING,
        stage=Stage.AT_RISK,
        downgraded=True,
        contracted=True,
        failures=(("inv-1", EARLIER),),
    )
    after = apply(risky, mv(MovementKind.CHURN, -7_900, 0), NOW, QUIET).account
    assert after == replace(PAYING, stage=Stage.CHURNED, mrr_cents=0, as_of=AT)


def test_a_failed_payment_replaces_its_own_invoices_failure_only() -> None:
    two = replace(PAYING, stage=Stage.AT_RISK, failures=(("inv-1", EARLIER), ("inv-2", EARLIER)))
    after = apply(two, PaymentFailed(CUS, AT, "inv-1", 7_900), NOW, QUIET).account
    assert after.failures == (("inv-2", EARLIER), ("inv-1", AT))


@pytest.mark.parametrize(
    "settled", [PaymentRecovered(CUS, AT, "inv-1", 7_900), FailureExpired(CUS, AT, "inv-1")]
)
def test_a_recovered_or_expired_payment_clears_only_its_own_invoice(
    settled: PaymentRecovered | FailureExpired,
) -> None:
    two = replace(PAYING, stage=Stage.AT_RISK, failures=(("inv-1", EARLIER), ("inv-2", EARLIER)))
    after = apply(two, settled, NOW, QUIET).account
    assert (after.failures, after.stage) == ((("inv-2", EARLIER),), Stage.AT_RISK)
    alone = apply(replace(two, failures=(("inv-1", EARLIER),)), settled, NOW, QUIET).account
    assert (alone.failures, alone.stage) == ((), Stage.ACTIVE)


def test_a_paying_status_sets_a_missing_start_and_keeps_a_known_one() -> None:
    seen = StatusObserved(CUS, AT, "Active", None)
    churned = replace(PAYING, stage=Stage.CHURNED, customer_since=None)
    assert apply(churned, seen, NOW, QUIET).account.customer_since == AT
    known = apply(replace(churned, customer_since=SINCE), seen, NOW, QUIET).account
    assert (known.customer_since, known.stage) == (SINCE, Stage.ACTIVE)


def test_a_cancelled_status_clears_the_failures_and_the_flags() -> None:
    risky = replace(
        PAYING,
        stage=Stage.AT_RISK,
        downgraded=True,
        contracted=True,
        failures=(("inv-1", EARLIER),),
    )
    after = apply(risky, StatusObserved(CUS, AT, "Cancelled", AT), NOW, QUIET).account
    assert after == replace(PAYING, stage=Stage.CHURNED)


def test_a_new_biz_of_one_cent_starts_a_lead() -> None:
    after = apply(Account(CUS), mv(MovementKind.NEW_BIZ, 1, 1), NOW, QUIET).account
    assert after.stage is Stage.NEW


# --- the Account update ---------------------------------------------------------------------


def test_an_update_carries_the_plan_and_start_only_when_they_change() -> None:
    same = apply(PAYING, mv(MovementKind.EXPANSION, 2_000, 9_900), NOW, QUIET)
    assert only(same.effects, UpdateAccount) == [
        UpdateAccount.of(
            CUS,
            {
                AccountField.MRR: Money(9_900),
                AccountField.ARR: Money(118_800),
                AccountField.LAST_ACTIVITY: AT,
            },
            same.effects[0].reason,
        )
    ]
    signal = mv(MovementKind.EXPANSION, 2_000, 9_900, plan="scale")
    changed = apply(replace(PAYING, customer_since=None), signal, NOW, QUIET)
    (update,) = only(changed.effects, UpdateAccount)
    assert update == UpdateAccount.of(
        CUS,
        {
            AccountField.MRR: Money(9_900),
            AccountField.ARR: Money(118_800),
            AccountField.LAST_ACTIVITY: AT,
            AccountField.PLAN: "scale",
        },
        signal.key,
    )
    started = apply(Account(CUS), mv(MovementKind.NEW_BIZ, 7_900, 7_900), NOW, QUIET)
    (first,) = only(started.effects, UpdateAccount)
    assert dict(first.fields)[AccountField.CUSTOMER_SINCE] == AT.date()


# --- alerts -----------------------------------------------------------------------------------


def test_a_downgrade_task_in_full() -> None:
    signal = mv(
        MovementKind.CONTRACTION, -2_000, 5_900, plan="starter", description="Seats reduced"
    )
    done = apply(PAYING, signal, NOW, POLICY)
    assert (done.account.plan, done.account.downgraded) == ("starter", True)
    (alert,) = only(done.effects, ChurnRiskAlert)
    assert alert == ChurnRiskAlert(
        customer_uuid=CUS,
        sync_key=f"cmsync:downgrade:{short(signal.key)}",
        kind=AlertKind.DOWNGRADE,
        record=AlertRecord.TASK,
        priority=Priority.LOW,
        due=date(2026, 12, 10),
        subject="Churn risk: Plan downgrade (20.00 MRR at stake)",
        description="ChartMogul contraction on 2026-12-07: MRR 79.00 -> 59.00 (-20.00) on "
        "subscription sub-1. Plan growth -> starter. Seats reduced",
        mrr_at_stake=Money(2_000),
    )


def test_a_contraction_task_without_subscription_or_description_ends_cleanly() -> None:
    big = replace(PAYING, mrr_cents=12_345_678)
    signal = mv(MovementKind.CONTRACTION, -5_678, 12_340_000, sub="")
    (alert,) = only(apply(big, signal, NOW, POLICY).effects, ChurnRiskAlert)
    assert alert.subject == "Churn risk: MRR contraction (56.78 MRR at stake)"
    assert alert.description == (
        "ChartMogul contraction on 2026-12-07: MRR 123,456.78 -> 123,400.00 (-56.78) on "
        "subscription -."
    )
    assert (alert.kind, alert.priority) == (AlertKind.CONTRACTION, Priority.NORMAL)


def test_a_churn_task_in_full() -> None:
    signal = mv(MovementKind.CHURN, -7_900, 0)
    (alert,) = only(apply(PAYING, signal, NOW, POLICY).effects, ChurnRiskAlert)
    assert alert == ChurnRiskAlert(
        customer_uuid=CUS,
        sync_key=f"cmsync:churn:{short(signal.key)}",
        kind=AlertKind.CHURN,
        record=AlertRecord.TASK,
        priority=Priority.NORMAL,
        due=date(2026, 12, 10),
        subject="Churn risk: Customer churned (79.00 MRR at stake)",
        description="ChartMogul churn on 2026-12-07: MRR 79.00 -> 0.00 (-79.00) on "
        "subscription sub-1.",
        mrr_at_stake=Money(7_900),
    )


def test_a_failed_payment_case_in_full() -> None:
    policy = replace(POLICY, alert_records={AlertKind.PAYMENT_FAILED: AlertRecord.CASE})
    signal = PaymentFailed(CUS, AT, "inv-9", 7_900)
    (alert,) = only(
        apply(PAYING, signal, NOW, policy, today=date(2026, 12, 8)).effects, ChurnRiskAlert
    )
    assert alert == ChurnRiskAlert(
        customer_uuid=CUS,
        sync_key=f"cmsync:payment_failed:{short(signal.key)}",
        kind=AlertKind.PAYMENT_FAILED,
        record=AlertRecord.CASE,
        priority=Priority.NORMAL,
        due=date(2026, 12, 11),  # from Salesforce's today, not the caller's clock
        subject="Churn risk: Failed payment (79.00 MRR at stake)",
        description="Payment of 79.00 failed on 2026-12-07 for invoice inv-9; the account's "
        "MRR is 79.00.",
        mrr_at_stake=Money(7_900),
    )


@pytest.mark.parametrize(
    ("cents", "priority"),
    [
        (50_000, Priority.HIGH),
        (49_999, Priority.NORMAL),
        (5_000, Priority.NORMAL),
        (4_999, Priority.LOW),
    ],
)
def test_priority_edges(cents: int, priority: Priority) -> None:
    assert POLICY.priority_for(cents) is priority


def test_a_churn_dated_at_the_newest_movement_is_news() -> None:
    at_edge = replace(PAYING, as_of=AT)
    assert only(
        apply(at_edge, mv(MovementKind.CHURN, -7_900, 0), NOW, POLICY).effects, ChurnRiskAlert
    )


@pytest.mark.parametrize(("mrr_before", "alerts"), [(0, 1), (1, 0)])
def test_a_late_churn_alerts_only_when_the_account_is_not_paying_again(
    mrr_before: int, alerts: int
) -> None:
    # a churn older than the newest movement: the account came back since when it pays
    back = replace(PAYING, mrr_cents=mrr_before, as_of=AT + timedelta(hours=1))
    effects = apply(back, mv(MovementKind.CHURN, -7_900, 0), NOW, POLICY).effects
    assert len(only(effects, ChurnRiskAlert)) == alerts


def test_the_alert_horizon_is_inclusive() -> None:
    edge = NOW - POLICY.alert_horizon
    signal = mv(MovementKind.CHURN, -7_900, 0, at=edge)
    done = apply(replace(PAYING, as_of=edge - timedelta(days=1)), signal, NOW, POLICY)
    assert only(done.effects, ChurnRiskAlert)
    assert len(done.account.raised) == 1  # and remembered while it is on the edge


def test_an_expansion_opportunity_in_full() -> None:
    signal = mv(MovementKind.EXPANSION, 2_000, 9_900, plan="scale", description="More seats")
    done = apply(PAYING, signal, NOW, POLICY)
    day_key = "cmsync:expansion:" + short(f"{CUS}|sub-1|2026-12-07")
    assert only(done.effects, ExpansionOpportunity) == [
        ExpansionOpportunity(
            customer_uuid=CUS,
            sync_key=day_key,
            amount=Money(24_000),
            close_date=date(2026, 12, 7),
            name="Upgrade growth -> scale (+240.00 ARR)",
            description="ChartMogul expansion on 2026-12-07: MRR 79.00 -> 99.00 on subscription "
            "sub-1. More seats",
        )
    ]
    assert done.account.expansion_day == (day_key, 24_000)
    assert done.account.raised == (
        Raised("sub-1", AT, signal.key, MovementKind.EXPANSION, "Opportunity", day_key, 24_000),
    )


def test_a_plain_expansion_without_subscription_or_description() -> None:
    signal = mv(MovementKind.EXPANSION, 2_000, 9_900, sub="")
    (opp,) = only(apply(PAYING, signal, NOW, POLICY).effects, ExpansionOpportunity)
    assert opp.name == "Expansion (+240.00 ARR)"
    assert opp.description == (
        "ChartMogul expansion on 2026-12-07: MRR 79.00 -> 99.00 on subscription -."
    )


def test_a_raised_task_is_remembered_in_full() -> None:
    signal = mv(MovementKind.CONTRACTION, -2_000, 5_900)
    done = apply(PAYING, signal, NOW, POLICY)
    (alert,) = only(done.effects, ChurnRiskAlert)
    assert done.account.raised == (
        Raised("sub-1", AT, signal.key, MovementKind.CONTRACTION, "Task", alert.sync_key, 0),
    )


def test_an_old_movement_keeps_the_days_expansion() -> None:
    day = ("cmsync:expansion:x", 12_000)
    old = mv(MovementKind.EXPANSION, 1_000, 8_900, at=NOW - timedelta(days=30))
    done = apply(
        replace(PAYING, expansion_day=day, as_of=old.at - timedelta(days=1)), old, NOW, POLICY
    )
    assert done.account.expansion_day == day


@pytest.mark.parametrize(
    ("before", "after", "reached"),
    [
        (90_000, 100_000, True),
        (100_000, 110_000, False),
        (90_000, 99_999, False),
    ],
)
def test_a_milestone_is_reached_on_the_way_up_once(before: int, after: int, reached: bool) -> None:
    signal = mv(MovementKind.EXPANSION, after - before, after, at=NOW - timedelta(days=30))
    account = replace(PAYING, mrr_cents=before, as_of=signal.at - timedelta(days=1))
    done = apply(account, signal, NOW - timedelta(days=29), POLICY)
    expected = MilestoneReached(
        customer_uuid=CUS,
        sync_key=f"cmsync:milestone:{short(CUS + '|100000')}",
        milestone=Money(100_000),
        mrr=Money(after),
        at=signal.at,
        subject=f"MRR milestone: 1,000.00 reached ({after // 100:,}.{after % 100:02d} MRR)",
    )
    assert only(done.effects, MilestoneReached) == ([expected] if reached else [])


# --- late movements ---------------------------------------------------------------------------


def test_a_late_recent_contraction_alerts_is_remembered_and_dates_from_salesforce() -> None:
    ahead = replace(PAYING, as_of=AT + timedelta(hours=1))
    signal = mv(MovementKind.CONTRACTION, -2_000, 5_900)
    done = apply(ahead, signal, NOW, POLICY, today=date(2026, 12, 8))
    (alert,) = only(done.effects, ChurnRiskAlert)
    assert alert.due == date(2026, 12, 11)
    assert [r.sync_key for r in done.account.raised] == [alert.sync_key]
    assert done.account.stage is Stage.ACTIVE  # history: the stage stays


def test_a_late_recent_expansion_counts_towards_its_day() -> None:
    ahead = replace(PAYING, as_of=AT + timedelta(hours=1))
    done = apply(ahead, mv(MovementKind.EXPANSION, 1_000, 8_900), NOW, POLICY)
    day_key = "cmsync:expansion:" + short(f"{CUS}|sub-1|2026-12-07")
    assert done.account.expansion_day == (day_key, 12_000)
    assert [r.sync_key for r in done.account.raised] == [day_key]


def test_a_late_retyped_movement_raises_nothing() -> None:
    ahead = replace(PAYING, as_of=AT + timedelta(hours=1))
    done = apply(ahead, mv(MovementKind.CONTRACTION, -2_000, 5_900), NOW, POLICY, retyped=True)
    assert done.effects == ()


# --- replays and regroupings ------------------------------------------------------------------


def test_decide_applies_a_fresh_movement_as_news() -> None:
    signal = mv(MovementKind.CHURN, -7_900, 0)
    done = decide(PAYING, signal, set(), NOW, POLICY)
    assert done is not None and only(done.effects, ChurnRiskAlert)
    assert decide(PAYING, signal, {signal.key}, NOW, POLICY) is None


def test_a_second_movement_at_the_same_place_that_is_not_a_regrouping_withdraws_nothing() -> None:
    churned = apply(PAYING, mv(MovementKind.CONTRACTION, -2_000, 5_900), NOW, POLICY)
    other = mv(MovementKind.EXPANSION, 1_000, 6_900)
    done = apply(churned.account, other, NOW, POLICY)
    assert not only(done.effects, WithdrawAlert)
    assert len(done.account.raised) == 2


def test_retyped_says_nothing_about_a_payment() -> None:
    raised = apply(PAYING, mv(MovementKind.CONTRACTION, -2_000, 5_900), NOW, POLICY).account
    done = apply(raised, PaymentFailed(CUS, AT, "inv-1", 5_900), NOW, POLICY, retyped=True)
    assert not only(done.effects, WithdrawAlert)
    assert (done.account.failed_invoices, done.account.raised) == ({"inv-1"}, raised.raised)


def test_a_churn_retyped_as_a_contraction_withdraws_its_task_in_full() -> None:
    churn = mv(MovementKind.CHURN, -7_900, 0)
    churned = apply(PAYING, churn, NOW, POLICY)
    (alert,) = only(churned.effects, ChurnRiskAlert)
    contraction = mv(MovementKind.CONTRACTION, -7_900, 0)
    done = apply(churned.account, contraction, NOW, POLICY, retyped=True)
    assert only(done.effects, WithdrawAlert) == [
        WithdrawAlert(
            customer_uuid=CUS,
            record="Task",
            sync_key=alert.sync_key,
            reason=contraction.key,
            description="Withdrawn by cmsync. ChartMogul regrouped this movement with the "
            "customer's others within the hour (Smart Activity Classification): the churn of "
            "2026-12-07 on subscription sub-1 is now a contraction.",
        )
    ]
    assert done.account.raised == ()


def test_a_retyped_contraction_keeps_its_task_under_the_new_key_beside_others() -> None:
    first = apply(PAYING, mv(MovementKind.CONTRACTION, -1_000, 6_900), NOW, POLICY)
    elsewhere = apply(
        first.account, mv(MovementKind.CONTRACTION, -900, 6_000, sub="sub-2"), NOW, POLICY
    )
    again = mv(MovementKind.CONTRACTION, -1_500, 6_400)
    done = apply(elsewhere.account, again, NOW, POLICY, retyped=True)
    assert not only(done.effects, WithdrawAlert)
    kept, other = done.account.raised
    assert (kept.key, kept.kind, kept.sync_key) == (
        again.key,
        MovementKind.CONTRACTION,
        first.account.raised[0].sync_key,
    )
    assert other == elsewhere.account.raised[1]


def test_an_expansion_retyped_away_brings_its_days_opportunity_down_in_full() -> None:
    one = apply(PAYING, mv(MovementKind.EXPANSION, 1_000, 8_900), NOW, POLICY)
    later = AT + timedelta(hours=1)
    two = apply(one.account, mv(MovementKind.EXPANSION, 500, 9_400, at=later), NOW, POLICY)
    day_key = "cmsync:expansion:" + short(f"{CUS}|sub-1|2026-12-07")
    assert two.account.expansion_day == (day_key, 18_000)
    # the first expansion is regrouped into a new_biz of another subscription's start
    retyped = mv(MovementKind.NEW_BIZ, 1_000, 9_400)
    done = apply(two.account, retyped, NOW, POLICY, retyped=True)
    assert only(done.effects, ExpansionOpportunity) == [
        ExpansionOpportunity(
            customer_uuid=CUS,
            sync_key=day_key,
            amount=Money(6_000),
            close_date=date(2026, 12, 7),
            name="Expansion (+60.00 ARR)",
            description="ChartMogul regrouped this movement with the customer's others within "
            "the hour (Smart Activity Classification): the expansion of 2026-12-07 on "
            "subscription sub-1 is now a new_biz; the day's other expansions stand.",
        )
    ]
    assert not only(done.effects, WithdrawAlert)
    assert done.account.expansion_day == (day_key, 6_000)
    assert [r.at for r in done.account.raised] == [later]


def test_a_paying_customers_new_biz_that_names_a_plan_sets_it() -> None:
    after = apply(PAYING, mv(MovementKind.NEW_BIZ, 2_000, 9_900, plan="scale"), NOW, QUIET)
    assert after.account.plan == "scale"


def test_an_alert_on_the_horizons_edge_is_still_remembered() -> None:
    edge = Raised("sub-9", NOW - POLICY.alert_horizon, "k", MovementKind.CHURN, "Task", "sk")
    done = apply(
        replace(PAYING, raised=(edge,)), mv(MovementKind.CONTRACTION, -10, 7_890), NOW, POLICY
    )
    assert done.account.raised[0] == edge


def test_a_vanished_movement_withdraws_its_task_in_full() -> None:
    raised = Raised("", AT, "mrr|k", MovementKind.CHURN, "Case", "cmsync:churn:x")
    account = replace(PAYING, raised=(raised,))
    assert withdraw_vanished(account, {("", AT)}, AT - timedelta(hours=1), NOW).account is account
    done = withdraw_vanished(account, set(), AT - timedelta(hours=1), NOW)
    assert done.effects == (
        WithdrawAlert(
            customer_uuid=CUS,
            record="Case",
            sync_key="cmsync:churn:x",
            reason="vanished|mrr|k",
            description="Withdrawn by cmsync. ChartMogul regrouped this movement with the "
            "customer's others within the hour (Smart Activity Classification): the churn of "
            "2026-12-07 on subscription - is no longer in ChartMogul's activities.",
        ),
    )
    assert done.account == replace(PAYING, raised=())


def test_a_retyping_withdraws_every_old_alert_of_its_place() -> None:
    day = "cmsync:expansion:day"
    opp = Raised("sub-1", AT, "k1", MovementKind.EXPANSION, "Opportunity", day, 12_000)
    task = Raised("sub-1", AT, "k2", MovementKind.CHURN, "Task", "cmsync:churn:y")
    other = Raised(
        "sub-1", AT + timedelta(hours=1), "k3", MovementKind.EXPANSION, "Opportunity", day, 6_000
    )
    account = replace(PAYING, raised=(opp, task, other), expansion_day=(day, 18_000))
    done = apply(account, mv(MovementKind.CONTRACTION, -100, 7_800), NOW, POLICY, retyped=True)
    assert [
        (type(e).__name__, e.sync_key) for e in done.effects if not isinstance(e, UpdateAccount)
    ] == [("ExpansionOpportunity", day), ("WithdrawAlert", "cmsync:churn:y")]
    assert (done.account.raised, done.account.expansion_day) == ((other,), (day, 6_000))


@pytest.mark.parametrize("kind", [MovementKind.CHURN, MovementKind.CONTRACTION])
def test_a_risk_retyped_as_a_start_withdraws_its_task(kind: MovementKind) -> None:
    raised = apply(PAYING, mv(kind, -2_000, 5_900), NOW, POLICY)
    (alert,) = only(raised.effects, ChurnRiskAlert)
    done = apply(raised.account, mv(MovementKind.NEW_BIZ, 2_000, 9_900), NOW, POLICY, retyped=True)
    assert [w.sync_key for w in only(done.effects, WithdrawAlert)] == [alert.sync_key]
