"""The activities poller: ChartMogul's MRR movements into the lifecycle, page by page.

Each run reads the feed from the watermark's window (``start-date`` = the newest activity date
read minus the lookback, ``end-date`` = now, taken before the first request), turns each
activity into an ``MrrMovement`` signal keyed by its natural key (ChartMogul rebuilds histories
with new uuids, so uuids are never keys), drops what the watermark saw already, and commits
each page's states, outbox rows and the advanced watermark in one transaction. A crash
replays at most the page in flight, and the replay enqueues nothing twice.

Late movements. ChartMogul processes imports with a delay per data source (Import API data
"within a few minutes", help.chartmogul.com article 360002155580; PayPal hours behind) and
dates activities by their business date, so a movement can appear dated hours or days before
movements already read: behind the watermark's short lookback, where the poller never looks
again. ``reread_activities`` is the cure: on a slower schedule it re-reads the last
``sync.alert_horizon_days`` of the feed (older movements open no alert, and the customer sweep
repairs the fields from the customer's current MRR and status), up to where the poller's own
window starts, and applies what was never applied. The natural keys and the applied-signal
marks make that exactly-once: a movement read twice, or rebuilt with a new uuid, is a replay.
Having read that span whole, it also withdraws the alerts raised for movements of the span it
no longer shows: ChartMogul regrouped them away (a change undone within the hour leaves no
movement; Smart Activity Classification, help article 4416682609426). While a rebuild is
being processed the feed still shows the old history, so a movement missing from a full read
is gone, not late.

An activity dated after the window's end is not one the feed was asked for (it lists none
after ``end-date``): applied, it would carry the watermark past every later movement, and the
next window would start after its own end, refused. It is quarantined and the watermark left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cmsync.chartmogul.records import Activity, Rejected, record_key
from cmsync.pipeline.apply import ApplyStats, apply_signals, withdraw_vanished_alerts
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.streams.customers import quarantine_rejected
from cmsync.pipeline.streams.readahead import read_ahead
from cmsync.storeio import in_store
from state import QuarantineItem, QuarantineKind, System, Transaction
from state.incremental import Stamped, Watermark
from state.signals import MovementKind, MrrMovement

__all__ = ["CURSOR", "LATE_CURSOR", "LateStats", "PollStats", "movement", "poll_activities",
           "reread_activities"]  # fmt: skip

CURSOR = "chartmogul.activities"
LATE_CURSOR = "chartmogul.activities.late"  # {"read_at": ISO time the late window was read}


def _late_cursor(now: datetime) -> str:
    return json.dumps({"read_at": now.isoformat()}, separators=(",", ":"))


def _read_at(text: str | None) -> datetime | None:
    value = json.loads(text).get("read_at") if text else None
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@dataclass
class PollStats:
    pages: int = 0
    read: int = 0
    new: int = 0
    rejected: int = 0
    applied: ApplyStats = field(default_factory=ApplyStats)


def _beyond(activities: tuple[Activity, ...], end: datetime) -> list[Activity]:
    return [a for a in activities if a.date > end]


def _quarantine_beyond(tx: Transaction, activities: list[Activity], end: datetime) -> None:
    for activity in activities:
        tx.quarantine.add(
            QuarantineItem(
                kind=QuarantineKind.BAD_RECORD,
                source=System.CHARTMOGUL,
                record_key=f"Activity:{record_key({'uuid': activity.uuid})}",
                reason=(
                    f"Activity {activity.uuid}: date: {activity.date.isoformat()} is after the "
                    f"end of the window read ({end.isoformat()}), where ChartMogul lists none; "
                    "not applied, so the feed's cursor does not jump past it"
                ),
                payload=activity.model_dump(mode="json", by_alias=True),
            )
        )


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
        currency=activity.currency,
    )


async def poll_activities(
    poll: PollContext,
    *,
    lookback: timedelta,
    now: datetime,
) -> PollStats:
    """Read the feed after the watermark, up to ``now``; returns what was read and done."""
    chartmogul, store, context, translator, policy = (
        poll.chartmogul, poll.store, poll.context, poll.translator, poll.policy
    )  # fmt: skip
    stats = PollStats()
    watermark = Watermark.loads(await in_store(store, lambda tx: tx.cursors.get(CURSOR)))
    window = watermark.window(lookback, now)
    # A read from the beginning covers the late window too: the re-read is not due yet.
    covers_all = watermark.stamp is None
    pages = read_ahead(
        chartmogul.activity_pages(
            start_date=window.start.isoformat() if window.start else None,
            end_date=window.end.isoformat(),
        )
    )
    async for page in pages:
        beyond = _beyond(page.entries, window.end)
        signals = [movement(a) for a in page.entries if a.date <= window.end]
        watermark, fresh = watermark.advance([Stamped(s.key, s.at) for s in signals], lookback)
        new = [signals[i] for i in fresh]
        stats.pages += 1
        stats.read += len(signals)
        stats.new += len(new)
        stats.rejected += len(page.rejected) + len(beyond)

        def work(
            tx: Transaction,
            new: list[MrrMovement] = new,
            rejected: tuple[Rejected, ...] = page.rejected,
            cursor: str = watermark.dumps(),
            beyond: list[Activity] = beyond,
        ) -> ApplyStats:
            quarantine_rejected(tx, rejected)
            _quarantine_beyond(tx, beyond, window.end)
            done = apply_signals(
                tx, new, context=context, translator=translator, policy=policy, now=now
            )
            tx.cursors.set(CURSOR, cursor)
            if covers_all:
                tx.cursors.set(LATE_CURSOR, _late_cursor(now))
            return done

        stats.applied.add(await in_store(store, work))
    return stats


@dataclass
class LateStats:
    skipped: bool = False  # read less than half an interval ago (or nothing read yet)
    pages: int = 0
    read: int = 0
    late: int = 0  # movements applied here: the poller had passed their date
    withdrawn: int = 0  # alerts of movements the re-read no longer shows, withdrawn
    applied: ApplyStats = field(default_factory=ApplyStats)


async def reread_activities(
    poll: PollContext,
    *,
    lookback: timedelta,
    every: timedelta,
    now: datetime,
) -> LateStats:
    """Apply the movements of the last ``policy.alert_horizon`` that showed up late.

    Reads from ``now - alert_horizon`` to where the poller's next window starts (its
    watermark minus ``lookback``): what lies after is the poller's, in date order, and
    applying it here first would make the poller's older movements look late. Skipped when
    the window was read less than half of ``every`` ago (the daemon's job runs every
    ``every``, give or take its jitter; a first full read of the feed counts as one).
    """
    chartmogul, store, context, translator, policy = (
        poll.chartmogul, poll.store, poll.context, poll.translator, poll.policy
    )  # fmt: skip
    stats = LateStats()

    def read(tx: Transaction) -> tuple[str | None, str | None]:
        return tx.cursors.get(LATE_CURSOR), tx.cursors.get(CURSOR)

    last_text, cursor = await in_store(store, read)
    last = _read_at(last_text)
    watermark = Watermark.loads(cursor)
    if watermark.stamp is None or (last is not None and now - last < every / 2):
        stats.skipped = True
        return stats
    end = min(now, watermark.window(lookback, now).start or now)
    start = now - policy.alert_horizon
    # Per customer, the movements this read shows: an alert remembered for a movement of the
    # window that it does not show was regrouped away (``state.lifecycle``, point 6).
    present: dict[str, set[tuple[str, datetime]]] = {}
    unreadable: set[str] = set()
    if start <= end:
        pages = read_ahead(
            chartmogul.activity_pages(start_date=start.isoformat(), end_date=end.isoformat())
        )
        async for page in pages:
            # Entries dated after now are the poller's to quarantine, as rejected ones are.
            signals = [movement(a) for a in page.entries if a.date <= now]
            stats.pages += 1
            stats.read += len(signals)
            for s in signals:
                present.setdefault(s.customer_uuid, set()).add((s.subscription, s.at))
            unreadable.update(_customer_of(r) for r in page.rejected)

            def work(tx: Transaction, signals: list[MrrMovement] = signals) -> ApplyStats:
                # Rejected entries are the poller's to quarantine (it read them first).
                return apply_signals(
                    tx, signals, context=context, translator=translator, policy=policy, now=now
                )

            done = await in_store(store, work)
            stats.late += done.signals - done.replays - done.retyped
            stats.applied.add(done)

    def finish(tx: Transaction) -> int:
        withdrawn = 0
        if start <= end and "" not in unreadable:  # an entry with no customer: judge none
            skip = frozenset(unreadable)
            withdrawn = withdraw_vanished_alerts(
                tx, present, start, end, context=context, translator=translator, skip=skip
            )
        tx.cursors.set(LATE_CURSOR, _late_cursor(now))
        return withdrawn

    stats.withdrawn = await in_store(store, finish)
    return stats


def _customer_of(rejected: Rejected) -> str:
    """The customer of an entry that did not parse ("" when it names none)."""
    raw = rejected.raw
    uuid = raw.get("customer-uuid") if isinstance(raw, dict) else None
    return uuid if isinstance(uuid, str) else ""
