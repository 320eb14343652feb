"""A churn-risk alert's due date: ``due_days`` after Salesforce's today when the caller knows it.

``now`` is the clock the signal is judged by (ChartMogul's, for the horizon); the Task's
``ActivityDate`` is a date in the org, so ``today`` (Salesforce's date) is what it counts from.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from state.effects import ChurnRiskAlert
from state.lifecycle import Account, LifecyclePolicy, Stage, apply
from state.signals import MovementKind, MrrMovement

NOW = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)
POLICY = LifecyclePolicy(due_days=3)
ACCOUNT = Account("cus_1", stage=Stage.ACTIVE, mrr_cents=7_900, plan="growth",
                  as_of=NOW - timedelta(days=30), first_cycle_done=True)  # fmt: skip
CONTRACTION = MrrMovement(
    "cus_1", NOW - timedelta(hours=1), MovementKind.CONTRACTION, "sub-1", -2_000, 5_900, "growth"
)


def _due(today: date | None) -> date:
    effects = apply(ACCOUNT, CONTRACTION, NOW, POLICY, today=today).effects
    [alert] = [e for e in effects if isinstance(e, ChurnRiskAlert)]
    return alert.due


def test_the_due_date_counts_from_the_orgs_today() -> None:
    # The org is already on the 8th while this clock still says the 7th.
    assert _due(date(2026, 12, 8)) == date(2026, 12, 11)
    assert _due(None) == date(2026, 12, 10)  # no org date known: the caller's clock
