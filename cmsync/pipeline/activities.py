"""The activities poller: ChartMogul's MRR movements into the lifecycle, page by page.

Each run reads the feed from the watermark's window (``start-date`` = the newest activity date
read minus the lookback, ``end-date`` = now, taken before the first request), turns each
activity into an ``MrrMovement`` signal keyed by its natural key (ChartMogul rebuilds histories
with new uuids, so uuids are never keys), drops what the watermark saw already, and commits
each page's states, outbox rows and the advanced watermark in one transaction. A crash
replays at most the page in flight, and the replay enqueues nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.records import Activity, Rejected
from cmsync.pipeline.apply import ApplyStats, apply_signals
from cmsync.pipeline.context import SyncContext
from cmsync.pipeline.customers import quarantine_rejected
from cmsync.pipeline.readahead import read_ahead
from cmsync.pipeline.translate import Translator
from cmsync.storeio import in_store
from state import Store, Transaction
from state.incremental import Stamped, Watermark
from state.lifecycle import LifecyclePolicy
from state.signals import MovementKind, MrrMovement

__all__ = ["CURSOR", "PollStats", "movement", "poll_activities"]

CURSOR = "chartmogul.activities"


@dataclass
class PollStats:
    pages: int = 0
    read: int = 0
    new: int = 0
    rejected: int = 0
    applied: ApplyStats = field(default_factory=ApplyStats)


def movement(activity: Activity) -> MrrMovement:
    return MrrMovement(
        customer_uuid=activity.customer_uuid,
        at=activity.date,
        kind=MovementKind(activity.type),
        subscription=activity.subscription_external_id or "",
        movement_cents=activity.activity_mrr_movement,
        mrr_cents=activity.activity_mrr,
        plan=activity.plan_external_id,
        description=activity.description,
    )


async def poll_activities(
    chartmogul: ChartMogulClient,
    store: Store,
    context: SyncContext,
    translator: Translator,
    policy: LifecyclePolicy,
    *,
    lookback: timedelta,
    now: datetime,
) -> PollStats:
    """Read the feed after the watermark, up to ``now``; returns what was read and done."""
    stats = PollStats()
    watermark = Watermark.loads(await in_store(store, lambda tx: tx.cursors.get(CURSOR)))
    window = watermark.window(lookback, now)
    pages = read_ahead(
        chartmogul.activity_pages(
            start_date=window.start.isoformat() if window.start else None,
            end_date=window.end.isoformat(),
        )
    )
    async for page in pages:
        signals = [movement(a) for a in page.entries]
        watermark, fresh = watermark.advance([Stamped(s.key, s.at) for s in signals], lookback)
        new = [signals[i] for i in fresh]
        stats.pages += 1
        stats.read += len(signals)
        stats.new += len(new)
        stats.rejected += len(page.rejected)

        def work(
            tx: Transaction,
            new: list[MrrMovement] = new,
            rejected: tuple[Rejected, ...] = page.rejected,
            cursor: str = watermark.dumps(),
        ) -> ApplyStats:
            quarantine_rejected(tx, rejected)
            done = apply_signals(
                tx, new, context=context, translator=translator, policy=policy, now=now
            )
            tx.cursors.set(CURSOR, cursor)
            return done

        stats.applied.add(await in_store(store, work))
    return stats
