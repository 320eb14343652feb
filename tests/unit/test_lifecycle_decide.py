"""``decide``: the lifecycle's one entry for a page of signals (``apply_signals`` runs each
signal through it), replays dropped, retyped movements told apart, the keys to remember named.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from state.effects import ChurnRiskAlert
from state.lifecycle import Account, LifecyclePolicy, Stage, _copy, apply, decide
from state.signals import MovementKind, MrrMovement, PaymentFailed

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
AT = NOW - timedelta(days=1)
POLICY = LifecyclePolicy()
PAYING = Account(
    "cus_1", stage=Stage.ACTIVE, mrr_cents=7_900, plan="growth", as_of=AT - timedelta(days=30),
    first_cycle_done=True,
)  # fmt: skip


def movement(kind: MovementKind, delta: int, mrr: int) -> MrrMovement:
    return MrrMovement("cus_1", AT, kind, "sub-1", delta, mrr, "growth")


def test_a_new_movement_is_applied_and_names_its_key_and_its_slot() -> None:
    churn = movement(MovementKind.CHURN, -7_900, 0)
    done = decide(PAYING, churn, set(), NOW, POLICY)
    assert done is not None and not done.retyped
    assert done.applied == (churn.key, churn.slot)
    assert (done.account, done.effects) == (
        (plain := apply(PAYING, churn, NOW, POLICY)).account,
        plain.effects,
    )


def test_a_retyped_movement_names_only_its_key_and_a_replay_nothing() -> None:
    churn = movement(MovementKind.CHURN, -7_900, 0)
    contraction = movement(MovementKind.CONTRACTION, -7_900, 0)
    first = decide(PAYING, churn, set(), NOW, POLICY)
    assert first is not None
    applied = set(first.applied)
    again = decide(first.account, contraction, applied, NOW, POLICY)
    assert again is not None and again.retyped
    assert again.applied == (contraction.key,)
    assert decide(again.account, churn, applied, NOW, POLICY) is None


def test_a_payment_names_its_key_and_its_tasks_fall_due_from_salesforce_s_today() -> None:
    failed = PaymentFailed("cus_1", AT, "inv-1", 7_900)
    org_today = date(2026, 11, 25)  # Salesforce's date, a day ahead of ``now``'s
    done = decide(PAYING, failed, set(), NOW, POLICY, today=org_today)
    assert done is not None and done.applied == (failed.key,)
    [alert] = [e for e in done.effects if isinstance(e, ChurnRiskAlert)]
    assert alert.due == org_today + timedelta(days=POLICY.due_days)


def test_an_account_is_copied_as_replace_would_copy_it() -> None:
    """The lifecycle's own copy (cheaper than ``dataclasses.replace``) makes the same account,
    equal and hashed alike, leaves the original as it was, and refuses a field it lacks."""
    copied = _copy(PAYING, mrr_cents=9_900, plan="scale")
    assert copied == dataclasses.replace(PAYING, mrr_cents=9_900, plan="scale")
    assert hash(copied) == hash(dataclasses.replace(PAYING, mrr_cents=9_900, plan="scale"))
    assert (PAYING.mrr_cents, PAYING.plan) == (7_900, "growth")
    with pytest.raises(TypeError, match="no field"):
        _copy(PAYING, mrr=1)
