"""The lifecycle machine's ``Account`` in and out of the store, and its policy from settings.

The store keeps typed columns for what the dashboard shows (stage, figures, plan, risk) and an
opaque ``memo`` for the machine's own memory (open failed invoices, flags, the newest signal's
date, the day's expansion, the alerts raised for recent movements); this module is the only
place that knows the memo's layout.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cmsync.config import SyncSettings
from state import AccountState
from state.effects import AlertKind, AlertRecord
from state.lifecycle import Account, LifecyclePolicy, Raised, Stage
from state.signals import MovementKind

__all__ = ["from_state", "policy_from", "to_state"]


def _cents(amount: float) -> int:
    return round(amount * 100)


def policy_from(sync: SyncSettings) -> LifecyclePolicy:
    return LifecyclePolicy(
        milestones_cents=tuple(_cents(m) for m in sync.milestones),
        alert_records={AlertKind(kind): AlertRecord.CASE for kind in sync.cases_for},
        high_priority_cents=_cents(sync.high_priority_mrr),
        low_priority_cents=_cents(sync.low_priority_mrr),
        due_days=sync.due_days,
        alert_horizon=timedelta(days=sync.alert_horizon_days),
    )


def _when(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def _raised(entries: Any) -> tuple[Raised, ...]:
    return tuple(
        Raised(str(sub), datetime.fromisoformat(at), str(key), MovementKind(kind), str(record),
               str(sync_key), int(arr))
        for sub, at, key, kind, record, sync_key, arr in entries or ()
    )  # fmt: skip


def from_state(customer_uuid: str, state: AccountState | None) -> tuple[Account, int]:
    """The machine's account for a stored state (a fresh lead when there is none), and the
    revision it was read at."""
    if state is None:
        return Account(customer_uuid), 0
    memo = state.memo
    day = memo.get("expansion_day")
    return (
        Account(
            customer_uuid=customer_uuid,
            stage=Stage(state.lifecycle_state),
            mrr_cents=state.mrr_cents,
            plan=state.plan,
            customer_since=state.customer_since,
            first_cycle_done=bool(memo.get("first_cycle_done", False)),
            failures=tuple(
                (str(invoice), datetime.fromisoformat(when))
                for invoice, when in memo.get("failures", ())
            ),
            downgraded=bool(memo.get("downgraded", False)),
            contracted=bool(memo.get("contracted", False)),
            as_of=_when(memo.get("as_of")),
            expansion_day=(str(day[0]), int(day[1])) if day else None,
            raised=_raised(memo.get("raised")),
        ),
        state.revision,
    )


def to_state(account: Account, revision: int, previous: AccountState | None) -> AccountState:
    """The stored form of ``account``; figures the machine does not own are kept as they were."""
    memo: dict[str, Any] = {
        "first_cycle_done": account.first_cycle_done,
        "failures": [[invoice, when.isoformat()] for invoice, when in account.failures],
        "downgraded": account.downgraded,
        "contracted": account.contracted,
        "as_of": account.as_of.isoformat() if account.as_of else None,
        "expansion_day": list(account.expansion_day) if account.expansion_day else None,
    }
    if account.raised:  # most accounts have none: no empty list in every memo
        memo["raised"] = [
            [r.subscription, r.at.isoformat(), r.key, r.kind.value, r.record, r.sync_key,
             r.arr_cents]
            for r in account.raised
        ]  # fmt: skip
    return AccountState(
        customer_uuid=account.customer_uuid,
        lifecycle_state=account.stage.value,
        mrr_cents=account.mrr_cents,
        arr_cents=account.mrr_cents * 12,
        currency=previous.currency if previous else None,
        plan=account.plan,
        status=previous.status if previous else None,
        customer_since=account.customer_since,
        churn_risk=account.risk.value,
        last_activity_at=account.as_of,
        memo=memo,
        revision=revision,
    )
