"""The lifecycle machine: every transition, its effects, replays, late signals, and convergence
on whatever ChartMogul reports (nothing it says is illegal)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
)
from state.lifecycle import Account, LifecyclePolicy, Risk, Stage, apply, decide
from state.signals import (
    FailureExpired,
    FirstCycleEnded,
    MovementKind,
    MrrMovement,
    PaymentFailed,
    PaymentRecovered,
    Signal,
    StatusObserved,
    TrialStarted,
)

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
AT = NOW - timedelta(days=1)
POLICY = LifecyclePolicy(milestones_cents=(100_000,))
CUS = "cus_1"


def mv(
    kind: MovementKind, delta: int, mrr: int, plan: str = "growth", at: datetime = AT
) -> MrrMovement:
    return MrrMovement(CUS, at, kind, "sub-1", delta, mrr, plan)


def acct(stage: Stage, **kw: object) -> Account:
    base = Account(CUS, stage=stage, mrr_cents=7_900, plan="growth", as_of=AT - timedelta(days=30))
    return replace(base, **kw)  # type: ignore[arg-type]


FAILED = PaymentFailed(CUS, AT, "inv-1", 7_900)
RECOVERED = PaymentRecovered(CUS, AT, "inv-1", 7_900)

# (stage before, extra facts, signal, stage after)
TABLE: list[tuple[Stage, dict[str, object], Signal, Stage]] = [
    (Stage.LEAD, {"mrr_cents": 0, "plan": None}, TrialStarted(CUS, AT), Stage.TRIAL),
    (Stage.LEAD, {"mrr_cents": 0, "plan": None}, mv(MovementKind.NEW_BIZ, 7_900, 7_900), Stage.NEW),
    (Stage.TRIAL, {"mrr_cents": 0}, mv(MovementKind.NEW_BIZ, 7_900, 7_900), Stage.NEW),
    (Stage.NEW, {}, FirstCycleEnded(CUS, AT), Stage.ACTIVE),
    (Stage.NEW, {}, mv(MovementKind.EXPANSION, 2_000, 9_900), Stage.NEW),
    (Stage.ACTIVE, {"first_cycle_done": True}, mv(MovementKind.EXPANSION, 2_000, 9_900),
     Stage.ACTIVE),
    (Stage.ACTIVE, {"first_cycle_done": True}, mv(MovementKind.CONTRACTION, -2_000, 5_900),
     Stage.AT_RISK),
    (Stage.ACTIVE, {"first_cycle_done": True}, FAILED, Stage.AT_RISK),
    (Stage.AT_RISK, {"first_cycle_done": True, "failures": (("inv-1", AT),)},
     RECOVERED, Stage.ACTIVE),
    (Stage.AT_RISK, {"first_cycle_done": True, "contracted": True},
     mv(MovementKind.EXPANSION, 2_000, 9_900), Stage.ACTIVE),
    (Stage.AT_RISK, {"first_cycle_done": True, "failures": (("inv-1", AT),)},
     mv(MovementKind.EXPANSION, 2_000, 9_900), Stage.AT_RISK),
    (Stage.NEW, {}, FAILED, Stage.AT_RISK),
    (Stage.ACTIVE, {"first_cycle_done": True}, mv(MovementKind.CHURN, -7_900, 0), Stage.CHURNED),
    (Stage.AT_RISK, {"contracted": True}, mv(MovementKind.CHURN, -7_900, 0), Stage.CHURNED),
    (Stage.CHURNED, {"mrr_cents": 0, "first_cycle_done": True},
     mv(MovementKind.REACTIVATION, 7_900, 7_900), Stage.ACTIVE),
    (Stage.CHURNED, {"mrr_cents": 0}, FAILED, Stage.CHURNED),
    (Stage.LEAD, {"mrr_cents": 0}, FAILED, Stage.LEAD),
    (Stage.CHURNED, {"mrr_cents": 0}, mv(MovementKind.CHURN, -100, 0), Stage.CHURNED),
    (Stage.LEAD, {"mrr_cents": 0}, StatusObserved(CUS, AT, "Active", None), Stage.NEW),
    (Stage.CHURNED, {"first_cycle_done": True}, StatusObserved(CUS, AT, "Past Due", None),
     Stage.ACTIVE),
    (Stage.ACTIVE, {}, StatusObserved(CUS, AT, "Cancelled", None), Stage.CHURNED),
    (Stage.TRIAL, {"mrr_cents": 0}, RECOVERED, Stage.TRIAL),
]  # fmt: skip


@pytest.mark.parametrize(("before", "facts", "signal", "after"), TABLE)
def test_transition(before: Stage, facts: dict[str, object], signal: Signal, after: Stage) -> None:
    account = acct(before, **facts)
    result = apply(account, signal, NOW, POLICY)
    assert result.account.stage is after
    moved = isinstance(signal, MrrMovement | TrialStarted)
    assert result.account.as_of == (signal.at if moved else account.as_of)


# What the table does not foresee converges on what ChartMogul says (lifecycle point 5):
# (stage before, signal, stage after, alert kinds raised). ChartMogul rebuilds histories and
# regroups a customer's movements within the hour (help article 4416682609426), so any of
# these can come from the feed; none is quarantined.
CONVERGE: list[tuple[Stage, Signal, Stage, set[type]]] = [
    # a regrouped second purchase: new_biz for a paying account, no Opportunity
    (Stage.NEW, mv(MovementKind.NEW_BIZ, 2_000, 9_900), Stage.NEW, set()),
    (Stage.ACTIVE, mv(MovementKind.NEW_BIZ, 7_900, 7_900), Stage.ACTIVE, set()),
    (Stage.NEW, mv(MovementKind.REACTIVATION, 100, 8_000), Stage.NEW, set()),
    # an expansion for an account seen churned: it pays again
    (Stage.CHURNED, mv(MovementKind.EXPANSION, 100, 100), Stage.ACTIVE, {ExpansionOpportunity}),
    # a churn for an account never seen paying: churned, but nothing at risk to tell
    (Stage.LEAD, mv(MovementKind.CHURN, -7_900, 0), Stage.CHURNED, set()),
    (Stage.TRIAL, mv(MovementKind.CHURN, -7_900, 0), Stage.CHURNED, set()),
    # a contraction for a lead that still pays: paying, no alert
    (Stage.LEAD, mv(MovementKind.CONTRACTION, -100, 7_800), Stage.ACTIVE, set()),
    # a contraction to zero for a lead or a churned account: no churn, nothing moves
    (Stage.LEAD, mv(MovementKind.CONTRACTION, -100, 0), Stage.LEAD, set()),
    (Stage.CHURNED, mv(MovementKind.CONTRACTION, -100, 0), Stage.CHURNED, set()),
    (Stage.TRIAL, FirstCycleEnded(CUS, AT), Stage.TRIAL, set()),
    (Stage.ACTIVE, TrialStarted(CUS, AT), Stage.ACTIVE, set()),
    (Stage.CHURNED, TrialStarted(CUS, AT), Stage.TRIAL, set()),
    (Stage.ACTIVE, StatusObserved(CUS, AT, "Active", None), Stage.ACTIVE, set()),
    (Stage.LEAD, StatusObserved(CUS, AT, "Cancelled", None), Stage.CHURNED, set()),
]


@pytest.mark.parametrize(("stage", "signal", "after", "raised"), CONVERGE)
def test_what_the_table_does_not_foresee_converges(
    stage: Stage, signal: Signal, after: Stage, raised: set[type]
) -> None:
    account = acct(stage, first_cycle_done=stage is not Stage.NEW)
    if stage in (Stage.LEAD, Stage.TRIAL, Stage.CHURNED):
        account = replace(account, mrr_cents=0)
    result = apply(account, signal, NOW, POLICY)
    assert result.account.stage is after
    kinds = {type(e) for e in result.effects} - {UpdateAccount, MilestoneReached}
    assert kinds == raised
    if isinstance(signal, MrrMovement):
        assert result.account.mrr_cents == signal.mrr_cents


def test_a_free_customer_is_not_churned_by_a_fall_to_zero() -> None:
    """A paying customer moved to a free plan (or a 100% discount): ChartMogul keeps it Active
    and types the fall a contraction (Free Customer Handling, help article 15384089786524)."""
    account = acct(Stage.ACTIVE, first_cycle_done=True)
    result = apply(account, mv(MovementKind.CONTRACTION, -7_900, 0, plan="free"), NOW, POLICY)
    assert result.account.stage is not Stage.CHURNED
    alerts = [e for e in result.effects if isinstance(e, ChurnRiskAlert)]
    assert [a.kind for a in alerts] == [AlertKind.DOWNGRADE]  # revenue lost, not a churn


def test_a_back_dated_churn_before_an_expansion_raises_no_churn_alert() -> None:
    """The churn arrives after the account was seen paying again: history, not news."""
    account = acct(Stage.ACTIVE, first_cycle_done=True, as_of=AT)
    back = mv(MovementKind.CHURN, -7_900, 0, at=AT - timedelta(hours=2))
    result = apply(account, back, NOW, POLICY)
    assert result.account.stage is Stage.ACTIVE
    assert not [e for e in result.effects if isinstance(e, ChurnRiskAlert)]


def test_a_retyped_movement_folds_its_facts_and_raises_nothing_twice() -> None:
    """A churn read an hour ago comes back as a contraction at the same moment (regrouped
    with a purchase within the hour): the slot was applied, so nothing is raised again, and
    the churn's Task is withdrawn."""
    churn = mv(MovementKind.CHURN, -7_900, 0)
    first = apply(acct(Stage.ACTIVE, first_cycle_done=True), churn, NOW, POLICY)
    assert [e.kind for e in first.effects if isinstance(e, ChurnRiskAlert)] == [AlertKind.CHURN]
    applied = {churn.key, churn.slot}
    retyped = mv(MovementKind.CONTRACTION, -7_900, 0)
    assert retyped.slot == churn.slot and retyped.key != churn.key
    second = decide(first.account, retyped, applied, NOW, POLICY)
    assert second is not None
    raised = [e for e in first.effects if isinstance(e, ChurnRiskAlert)]
    others = [e for e in second.effects if not isinstance(e, UpdateAccount)]
    assert [(type(e).__name__, e.sync_key) for e in others] == [
        ("WithdrawAlert", raised[0].sync_key)
    ]
    bought = replace(mv(MovementKind.EXPANSION, 9_900, 9_900, at=AT + timedelta(minutes=30)),
                     subscription="sub-2")  # fmt: skip
    third = apply(second.account, bought, NOW, POLICY)
    assert third.account.stage in (Stage.NEW, Stage.ACTIVE)
    assert third.account.mrr_cents == 9_900


_PAYING = {Stage.NEW, Stage.ACTIVE, Stage.AT_RISK}
_movements = st.builds(
    lambda kind, mrr, minutes, sub: MrrMovement(
        CUS, AT + timedelta(minutes=minutes), kind, sub, mrr, mrr, "growth"
    ),
    st.sampled_from(list(MovementKind)),
    st.integers(min_value=0, max_value=50_000),
    st.integers(min_value=-600, max_value=600),
    st.sampled_from(["sub-1", "sub-2"]),
)


@settings(max_examples=200, deadline=None)
@given(
    start=st.sampled_from(list(Stage)),
    signals=st.lists(_movements, min_size=1, max_size=12),
)
def test_any_sequence_of_movements_converges(start: Stage, signals: list[MrrMovement]) -> None:
    """Any order, any type: never raises, and the stage ends where the final movement puts
    it: paying on a positive MRR, churned after a churn, unmoved by a fall to zero that was
    not a churn."""
    account = acct(start)
    applied: set[str] = set()
    last: MrrMovement | None = None
    for signal in signals:
        result = decide(account, signal, applied, NOW, POLICY)
        if result is None:
            continue
        if not (account.as_of is not None and signal.at < account.as_of):
            last = signal
        previous, account = account.stage, result.account
        applied |= {signal.key, signal.slot}
        assert isinstance(account.stage, Stage)
        if last is signal:
            if signal.kind is MovementKind.CHURN:
                assert account.stage is Stage.CHURNED
            elif signal.mrr_cents > 0:
                assert account.stage in _PAYING
            else:
                assert (account.stage in _PAYING) == (previous in _PAYING)
    if last is not None and last.mrr_cents > 0 and last.kind is not MovementKind.CHURN:
        assert account.stage in _PAYING


def test_new_business_sets_every_figure() -> None:
    result = apply(Account(CUS), mv(MovementKind.NEW_BIZ, 7_900, 7_900), NOW, POLICY)
    (update,) = result.effects
    assert isinstance(update, UpdateAccount)
    assert update.values == {
        AccountField.STAGE: "new",
        AccountField.MRR: Money(7_900),
        AccountField.ARR: Money(94_800),
        AccountField.PLAN: "growth",
        AccountField.LAST_ACTIVITY: AT,
        AccountField.CUSTOMER_SINCE: AT.date(),
    }


@pytest.mark.parametrize(
    ("signal", "kind", "priority", "risk"),
    [
        (mv(MovementKind.CONTRACTION, -6_000, 1_900), AlertKind.CONTRACTION, Priority.NORMAL,
         Risk.LOW),
        (mv(MovementKind.CONTRACTION, -6_000, 1_900, plan="starter"), AlertKind.DOWNGRADE,
         Priority.NORMAL, Risk.MEDIUM),
        (FAILED, AlertKind.PAYMENT_FAILED, Priority.NORMAL, Risk.HIGH),
        (mv(MovementKind.CHURN, -79_000, 0), AlertKind.CHURN, Priority.HIGH, Risk.NONE),
        (mv(MovementKind.CONTRACTION, -100, 7_800), AlertKind.CONTRACTION, Priority.LOW, Risk.LOW),
    ],
)  # fmt: skip
def test_churn_risk_signals_raise_exactly_one_alert(
    signal: Signal, kind: AlertKind, priority: Priority, risk: Risk
) -> None:
    result = apply(acct(Stage.ACTIVE, first_cycle_done=True), signal, NOW, POLICY)
    alerts = [e for e in result.effects if isinstance(e, ChurnRiskAlert)]
    assert len(alerts) == 1
    (alert,) = alerts
    assert (alert.kind, alert.priority, alert.record) == (kind, priority, AlertRecord.TASK)
    assert alert.due == NOW.date() + timedelta(days=3)
    assert AT.date().isoformat() in alert.description or "inv-1" in alert.description
    assert len(alert.sync_key) <= 80
    assert result.account.risk is risk
    replayed = apply(acct(Stage.ACTIVE, first_cycle_done=True), signal, NOW, POLICY)
    assert replayed.effects == result.effects  # the same keys: an upsert cannot duplicate


def test_alert_record_is_configurable_per_signal() -> None:
    policy = replace(POLICY, alert_records={AlertKind.PAYMENT_FAILED: AlertRecord.CASE})
    (alert,) = [
        e for e in apply(acct(Stage.ACTIVE), FAILED, NOW, policy).effects
        if isinstance(e, ChurnRiskAlert)
    ]  # fmt: skip
    assert alert.record is AlertRecord.CASE


def test_two_expansions_of_a_subscription_on_one_day_make_one_opportunity() -> None:
    first = apply(acct(Stage.ACTIVE), mv(MovementKind.EXPANSION, 1_000, 8_900), NOW, POLICY)
    later = AT + timedelta(hours=2)
    second = apply(first.account, mv(MovementKind.EXPANSION, 500, 9_400, at=later), NOW, POLICY)
    (opp1,) = [e for e in first.effects if isinstance(e, ExpansionOpportunity)]
    (opp2,) = [e for e in second.effects if isinstance(e, ExpansionOpportunity)]
    assert opp1.sync_key == opp2.sync_key
    assert (opp1.amount, opp2.amount) == (Money(12_000), Money(18_000))  # ARR increase so far
    assert opp1.idempotency_key != opp2.idempotency_key  # the second upsert is a new write
    next_day = apply(
        second.account, mv(MovementKind.EXPANSION, 500, 9_900, at=AT + timedelta(days=1)),
        NOW + timedelta(days=1), POLICY,
    )  # fmt: skip
    (opp3,) = [e for e in next_day.effects if isinstance(e, ExpansionOpportunity)]
    assert opp3.sync_key != opp1.sync_key and opp3.amount == Money(6_000)


def test_upgrade_names_the_plans() -> None:
    result = apply(
        acct(Stage.ACTIVE), mv(MovementKind.EXPANSION, 12_000, 19_900, "scale"), NOW, POLICY
    )
    (opp,) = [e for e in result.effects if isinstance(e, ExpansionOpportunity)]
    assert "growth -> scale" in opp.name


def test_crossing_a_milestone_once() -> None:
    up = apply(acct(Stage.ACTIVE, mrr_cents=95_000), mv(MovementKind.EXPANSION, 10_000, 105_000),
               NOW, POLICY)  # fmt: skip
    assert [type(e) for e in up.effects].count(MilestoneReached) == 1
    later = AT + timedelta(hours=1)
    still = apply(up.account, mv(MovementKind.EXPANSION, 1_000, 106_000, at=later), NOW, POLICY)
    assert MilestoneReached not in [type(e) for e in still.effects]


def test_old_signals_set_fields_but_raise_no_alerts() -> None:
    old = AT - timedelta(days=200)
    account = acct(Stage.ACTIVE, as_of=old - timedelta(days=1), first_cycle_done=True)
    result = apply(account, mv(MovementKind.CONTRACTION, -2_000, 5_900, at=old), NOW, POLICY)
    assert [type(e) for e in result.effects] == [UpdateAccount]
    assert result.account.stage is Stage.AT_RISK


def test_a_late_signal_does_not_move_the_stage() -> None:
    account = acct(Stage.CHURNED, mrr_cents=0, as_of=AT)
    late = mv(MovementKind.EXPANSION, 1_000, 8_900, at=AT - timedelta(days=2))
    result = apply(account, late, NOW, POLICY)
    assert result.account.stage is Stage.CHURNED  # no IllegalTransition either
    assert not any(isinstance(e, UpdateAccount) for e in result.effects)


def test_churning_several_subscriptions_at_once_alerts_once() -> None:
    first = apply(acct(Stage.ACTIVE), mv(MovementKind.CHURN, -4_000, 3_900), NOW, POLICY)
    second = apply(
        first.account, replace(mv(MovementKind.CHURN, -3_900, 0), subscription="sub-2"), NOW, POLICY
    )
    alerts = [e for t in (first, second) for e in t.effects if isinstance(e, ChurnRiskAlert)]
    assert len(alerts) == 1 and second.account.stage is Stage.CHURNED
    assert second.account.mrr_cents == 0


def test_payments_are_never_late() -> None:
    account = acct(Stage.ACTIVE, as_of=AT + timedelta(hours=1), first_cycle_done=True)
    failed = apply(account, FAILED, NOW, POLICY)  # dated before the newest movement
    assert failed.account.stage is Stage.AT_RISK and failed.account.failed_invoices == {"inv-1"}
    assert failed.account.as_of == account.as_of
    recovered = apply(failed.account, RECOVERED, NOW, POLICY)
    assert recovered.account.stage is Stage.ACTIVE and recovered.account.risk is Risk.NONE


def test_an_old_unrecovered_failure_expires() -> None:
    account = acct(Stage.ACTIVE, first_cycle_done=True)
    failed = apply(account, FAILED, NOW, POLICY)
    assert failed.account.risk is Risk.HIGH
    expired = apply(failed.account, FailureExpired(CUS, NOW, "inv-1"), NOW, POLICY)
    assert expired.account.risk is Risk.NONE and expired.account.stage is Stage.ACTIVE
    (update,) = expired.effects
    assert isinstance(update, UpdateAccount)
    assert update.values == {AccountField.STAGE: "active", AccountField.CHURN_RISK: "None"}


def test_a_replayed_signal_changes_nothing_and_emits_nothing() -> None:
    signal = mv(MovementKind.CONTRACTION, -2_000, 5_900)
    assert decide(acct(Stage.ACTIVE), signal, {signal.key}, NOW, POLICY) is None
    assert decide(acct(Stage.ACTIVE), signal, set(), NOW, POLICY) is not None


def test_signal_keys_ignore_activity_uuids() -> None:
    a = mv(MovementKind.EXPANSION, 100, 8_000)
    b = replace(a, description="rebuilt with a new uuid")
    assert a.key == b.key
    assert a.key != replace(a, movement_cents=200).key
