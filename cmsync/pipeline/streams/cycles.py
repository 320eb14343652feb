"""Lifecycle checks no record announces: the end of the first cycle, and missed movements.

``new`` accounts become ``active`` when their first billing cycle has passed.

No ChartMogul record says "the first period is over", so it is derived: an account still in
``new`` whose customer-since plus one billing period of its plan lies in the past gets a
``FirstCycleEnded`` signal dated at that moment. The signal's key is per customer, so it is
applied once. And where the customer record's status contradicts the stage (paying while
the machine has it a lead or churned, cancelled while it has it paying), a movement was missed
(ChartMogul back-dates some), so a ``StatusObserved`` signal brings the stage in line.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from cmsync.pipeline.apply import ApplyStats, apply_signals
from cmsync.pipeline.context import SyncContext
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.translate import Translator
from cmsync.storeio import in_store
from state import AccountState, Transaction
from state.lifecycle import LifecyclePolicy, Stage
from state.signals import PAYING_STATUSES, FirstCycleEnded, StatusObserved

__all__ = ["sweep_first_cycles"]


BATCH = 1_000  # account states per transaction


def _first_cycles(
    tx: Transaction,
    context: SyncContext,
    translator: Translator,
    policy: LifecyclePolicy,
    now: datetime,
    after: str | None,
) -> tuple[ApplyStats, str | None]:
    """One batch of accounts, in customer order after ``after``; and where the next starts."""
    states = tx.accounts.select(after=after, limit=BATCH)
    signals: list[FirstCycleEnded | StatusObserved] = []
    for state in states:
        if state.lifecycle_state != Stage.NEW.value:
            continue
        plan = context.plans.get(state.plan or "")
        if plan is None or state.customer_since is None:
            continue
        ends = plan.after(state.customer_since)
        if ends <= now:
            signals.append(FirstCycleEnded(state.customer_uuid, ends))
    signals.extend(_disagreements(states, now))
    stats = apply_signals(
        tx, signals, context=context, translator=translator, policy=policy, now=now
    )
    return stats, (states[-1].customer_uuid if len(states) == BATCH else None)


_NOT_PAYING = [Stage.LEAD.value, Stage.TRIAL.value, Stage.CHURNED.value]
_PAYING = [Stage.NEW.value, Stage.ACTIVE.value, Stage.AT_RISK.value]


def _disagreements(states: list[AccountState], now: datetime) -> list[StatusObserved]:
    """Accounts whose stage the customer record contradicts (a missed movement)."""
    found: list[StatusObserved] = []
    for state in states:
        if state.status is None or state.lifecycle_state not in (*_NOT_PAYING, *_PAYING):
            continue
        paying = state.status in PAYING_STATUSES
        stage_pays = state.lifecycle_state in _PAYING
        if paying != stage_pays and (paying or state.status == "Cancelled"):
            as_of = state.memo.get("as_of")
            when = datetime.fromisoformat(as_of) if isinstance(as_of, str) else None
            found.append(StatusObserved(state.customer_uuid, now, state.status, when))
    return found


async def sweep_first_cycles(
    poll: PollContext,
    *,
    now: datetime,
) -> ApplyStats:
    """Apply ``FirstCycleEnded`` to every ``new`` account whose first period is over.

    A transaction per ``BATCH`` accounts: one over every account held each state, signal and
    effect in memory at once (600 MB at 100,000 accounts). A batch's signals are applied in
    its own transaction; a later batch failing leaves the earlier ones applied, and the next
    sweep finds only what is left.
    """
    store, context, translator, policy = poll.store, poll.context, poll.translator, poll.policy
    total = ApplyStats()
    after: str | None = None
    while True:
        work = partial(_first_cycles, context=context, translator=translator, policy=policy,
                       now=now, after=after)  # fmt: skip
        stats, after = await in_store(store, work)
        total.add(stats)
        if after is None:
            return total
