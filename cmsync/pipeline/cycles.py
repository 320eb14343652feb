"""The end of the first billing cycle: ``new`` accounts become ``active`` when it passes.

No ChartMogul record says "the first period is over", so it is derived: an account still in
``new`` whose customer-since plus one billing period of its plan lies in the past gets a
``FirstCycleEnded`` signal dated at that moment. The signal's key is per customer, so it is
applied once.
"""

from __future__ import annotations

from datetime import datetime

from cmsync.pipeline.apply import ApplyStats, apply_signals
from cmsync.pipeline.context import SyncContext
from cmsync.pipeline.translate import Translator
from cmsync.storeio import in_store
from state import Store, Transaction
from state.lifecycle import LifecyclePolicy, Stage
from state.signals import FirstCycleEnded

__all__ = ["sweep_first_cycles"]


def _first_cycles(
    tx: Transaction,
    context: SyncContext,
    translator: Translator,
    policy: LifecyclePolicy,
    now: datetime,
) -> ApplyStats:
    signals: list[FirstCycleEnded] = []
    for state in tx.accounts.select(stages=[Stage.NEW.value]):
        plan = context.plans.get(state.plan or "")
        if plan is None or state.customer_since is None:
            continue
        ends = plan.after(state.customer_since)
        if ends <= now:
            signals.append(FirstCycleEnded(state.customer_uuid, ends))
    return apply_signals(
        tx, signals, context=context, translator=translator, policy=policy, now=now
    )


async def sweep_first_cycles(
    store: Store,
    context: SyncContext,
    translator: Translator,
    policy: LifecyclePolicy,
    *,
    now: datetime,
) -> ApplyStats:
    """Apply ``FirstCycleEnded`` to every ``new`` account whose first period is over."""
    return await in_store(store, lambda tx: _first_cycles(tx, context, translator, policy, now))
