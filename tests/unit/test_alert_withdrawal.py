"""Alerts of movements ChartMogul regrouped away are withdrawn (``state.lifecycle`` point 6).

Source: Smart Activity Classification (help.chartmogul.com article 4416682609426): a
customer's movements within 60 minutes are grouped and can be retyped afterwards; a churn
followed within the hour by a purchase is a contraction, a change undone within the hour
leaves no movement.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from state.effects import ChurnRiskAlert, ExpansionOpportunity, WithdrawAlert
from state.lifecycle import Account, LifecyclePolicy, Stage, apply, withdraw_vanished
from state.signals import MovementKind, MrrMovement

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
AT = NOW - timedelta(hours=2)
POLICY = LifecyclePolicy(milestones_cents=())
CUS = "cus_1"
PAYING = Account(CUS, stage=Stage.ACTIVE, mrr_cents=5_000, plan="p", first_cycle_done=True,
                 as_of=AT - timedelta(days=20))  # fmt: skip


def mv(
    kind: MovementKind, delta: int, mrr: int, sub: str = "sub-a", at: datetime = AT
) -> MrrMovement:
    return MrrMovement(CUS, at, kind, sub, delta, mrr, "p")


def test_a_churn_retyped_as_a_contraction_withdraws_its_task() -> None:
    churned = apply(PAYING, mv(MovementKind.CHURN, -5_000, 0), NOW, POLICY)
    alert = next(e for e in churned.effects if isinstance(e, ChurnRiskAlert))
    assert [r.sync_key for r in churned.account.raised] == [alert.sync_key]
    retyped = apply(churned.account, mv(MovementKind.CONTRACTION, -5_000, 0), NOW, POLICY,
                    retyped=True)  # fmt: skip
    withdrawals = [e for e in retyped.effects if isinstance(e, WithdrawAlert)]
    assert [(w.record, w.sync_key) for w in withdrawals] == [("Task", alert.sync_key)]
    assert "regrouped" in withdrawals[0].description and "contraction" in withdrawals[0].description
    assert not [e for e in retyped.effects if isinstance(e, ChurnRiskAlert)]  # nothing new
    assert retyped.account.raised == ()


def test_a_contraction_whose_amount_changed_keeps_its_task() -> None:
    first = apply(PAYING, mv(MovementKind.CONTRACTION, -1_000, 4_000), NOW, POLICY)
    again = apply(first.account, mv(MovementKind.CONTRACTION, -1_500, 3_500), NOW, POLICY,
                  retyped=True)  # fmt: skip
    assert not [e for e in again.effects if isinstance(e, WithdrawAlert | ChurnRiskAlert)]
    assert [r.key for r in again.account.raised] == [
        mv(MovementKind.CONTRACTION, -1_500, 3_500).key
    ]


def test_a_vanished_expansion_closes_its_opportunity_unless_another_of_its_day_stands() -> None:
    one = apply(PAYING, mv(MovementKind.EXPANSION, 1_000, 6_000), NOW, POLICY)
    two = apply(one.account, mv(MovementKind.EXPANSION, 500, 6_500, at=AT + timedelta(hours=1)),
                NOW, POLICY)  # fmt: skip
    opp = next(e for e in two.effects if isinstance(e, ExpansionOpportunity))
    assert opp.amount.cents == 18_000
    since, until = NOW - timedelta(days=7), NOW - timedelta(minutes=5)
    # the first is gone, the second stands: the day's Opportunity keeps the second's amount
    kept = withdraw_vanished(two.account, {("sub-a", AT + timedelta(hours=1))}, since, until)
    assert [(type(e), e.amount.cents) for e in kept.effects
            if isinstance(e, ExpansionOpportunity)] == [(ExpansionOpportunity, 6_000)]  # fmt: skip
    # both gone: Closed Lost
    gone = withdraw_vanished(kept.account, set(), since, until)
    assert [(e.record, e.sync_key) for e in gone.effects if isinstance(e, WithdrawAlert)] == [
        ("Opportunity", opp.sync_key)
    ]
    assert gone.account.raised == ()


def test_movements_outside_the_read_span_are_not_judged_and_old_ones_are_forgotten() -> None:
    churned = apply(PAYING, mv(MovementKind.CHURN, -5_000, 0), NOW, POLICY)
    assert withdraw_vanished(churned.account, set(), AT, NOW).effects == ()  # at the edge
    assert withdraw_vanished(churned.account, set(), NOW - timedelta(days=7), AT).effects == ()
    back = mv(MovementKind.REACTIVATION, 5_000, 5_000, at=NOW + timedelta(days=1))
    later = apply(churned.account, back, NOW + timedelta(days=8), POLICY)
    assert later.account.raised == ()  # past the alert horizon: no longer remembered
