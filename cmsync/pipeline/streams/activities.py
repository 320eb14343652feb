"""The activities poller: ChartMogul's MRR movements into the lifecycle, page by page.

Each run reads the feed from the watermark's window (``start-date`` = the newest activity date
read minus the lookback, ``end-date`` = now, taken before the first request), turns each
activity into an ``MrrMovement`` signal keyed by its natural key (ChartMogul rebuilds histories
with new uuids, so uuids are never keys), drops what the watermark saw already, and commits
the states, outbox rows and advanced watermark of the pages read meanwhile (up to
``ActivityStream.batch``) in one transaction. A crash replays at most the pages in flight,
and the replay enqueues nothing twice.

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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cmsync.chartmogul.records import Activity, Page, Rejected, record_key
from cmsync.pipeline.apply import ApplyStats, apply_signals, withdraw_vanished_alerts
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.streams.customers import quarantine_rejected
from cmsync.pipeline.streams.runner import Stream, run_stream
from cmsync.storeio import in_store
from state import QuarantineItem, QuarantineKind, System, Transaction
from state.incremental import Stamped, Watermark
from state.signals import MovementKind, MrrMovement

__all__ = ["CURSOR", "LATE_CURSOR", "ActivityStream", "LateStats", "LateStream", "PollStats",
           "movement", "poll_activities", "reread_activities"]  # fmt: skip

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


# An activity's type to its kind by a dict lookup: the enum's own call by value cost as much
# as the rest of building the movement (a catch-up builds a million).
_KINDS: dict[str, MovementKind] = {kind.value: kind for kind in MovementKind}


def movement(activity: Activity) -> MrrMovement:
    return MrrMovement(
        customer_uuid=activity.customer_uuid,
        at=activity.date,
        kind=_KINDS[activity.type],
        subscription=activity.subscription_external_id or "",
        movement_cents=activity.activity_mrr_movement,
        mrr_cents=activity.activity_mrr,
        plan=activity.plan_external_id,
        description=activity.description,
        currency=activity.currency,
    )


@dataclass(frozen=True)
class _ActivityPage:
    new: list[MrrMovement]  # the page's movements the watermark had not seen
    rejected: tuple[Rejected, ...]
    beyond: list[Activity]  # dated after the window's end: quarantined
    watermark: Watermark  # after the page


class ActivityStream(Stream[Page[Activity], _ActivityPage, ApplyStats]):
    """The feed from the watermark's window: cursor ``CURSOR``, a ``Watermark`` advanced by
    the natural keys and dates of each page's movements."""

    cursor = CURSOR
    # A catch-up reads pages faster than it commits them: the pages read meanwhile are
    # committed together, so an account's state is loaded, converted and written once for
    # them and the fixed cost of a transaction is paid once. A crash replays at most these
    # pages, and their movements are replays by their natural keys.
    batch = 8

    def __init__(self, poll: PollContext, *, lookback: timedelta, now: datetime) -> None:
        self.poll, self.lookback, self.now = poll, lookback, now
        self.stats = PollStats()
        self.watermark = Watermark.loads(None)
        self.window = self.watermark.window(lookback, now)

    async def start(self) -> None:
        """Read the watermark and set the window from it."""
        cursor = await in_store(self.poll.store, lambda tx: tx.cursors.get(CURSOR))
        self.watermark = Watermark.loads(cursor)
        self.window = self.watermark.window(self.lookback, self.now)

    @property
    def covers_all(self) -> bool:
        # A read from the beginning covers the late window too: the re-read is not due yet.
        return self.window.start is None

    def pages(self) -> AsyncIterator[Page[Activity]]:
        window = self.window
        return self.poll.chartmogul.activity_pages(
            start_date=window.start.isoformat() if window.start else None,
            end_date=window.end.isoformat(),
        )

    def map(self, page: Page[Activity]) -> _ActivityPage:
        end = self.window.end
        beyond: list[Activity] = []
        signals: list[MrrMovement] = []
        for activity in page.entries:  # one comparison each: aware datetimes compare slowly
            if activity.date > end:
                beyond.append(activity)
            else:
                signals.append(movement(activity))
        self.watermark, fresh = self.watermark.advance(
            [Stamped(s.key, s.at) for s in signals], self.lookback
        )
        new = [signals[i] for i in fresh]
        stats = self.stats
        stats.pages += 1
        stats.read += len(signals)
        stats.new += len(new)
        stats.rejected += len(page.rejected) + len(beyond)
        return _ActivityPage(new, page.rejected, beyond, self.watermark)

    def join(self, units: list[_ActivityPage]) -> _ActivityPage:
        return _ActivityPage(
            [s for u in units for s in u.new],
            tuple(r for u in units for r in u.rejected),
            [a for u in units for a in u.beyond],
            units[-1].watermark,
        )

    def commit(self, tx: Transaction, unit: _ActivityPage) -> ApplyStats:
        poll = self.poll
        quarantine_rejected(tx, unit.rejected)
        _quarantine_beyond(tx, unit.beyond, self.window.end)
        done = apply_signals(
            tx, unit.new, context=poll.context, translator=poll.translator, policy=poll.policy,
            now=self.now,
        )  # fmt: skip
        if self.covers_all:
            tx.cursors.set(LATE_CURSOR, _late_cursor(self.now))
        return done

    def position(self, unit: _ActivityPage) -> str:
        return unit.watermark.dumps()

    def count(self, unit: _ActivityPage, done: ApplyStats) -> None:
        self.stats.applied.add(done)


async def poll_activities(
    poll: PollContext,
    *,
    lookback: timedelta,
    now: datetime,
) -> PollStats:
    """Read the feed after the watermark, up to ``now``; returns what was read and done."""
    stream = ActivityStream(poll, lookback=lookback, now=now)
    await stream.start()
    await run_stream(stream, poll.store, poll.progress)
    return stream.stats


@dataclass
class LateStats:
    skipped: bool = False  # read less than half an interval ago (or nothing read yet)
    pages: int = 0
    read: int = 0
    late: int = 0  # movements applied here: the poller had passed their date
    withdrawn: int = 0  # alerts of movements the re-read no longer shows, withdrawn
    applied: ApplyStats = field(default_factory=ApplyStats)


class LateStream(Stream[Page[Activity], list[MrrMovement], ApplyStats]):
    """The feed over the alert horizon, read whole: no cursor of its own (the re-read's time
    is set once the span is read), every movement applied (replays are recognised by their
    natural keys), and per customer the movements it shows, for the withdrawals."""

    def __init__(
        self, poll: PollContext, stats: LateStats, *, start: datetime, end: datetime,
        now: datetime,
    ) -> None:  # fmt: skip
        self.poll, self.stats, self.start, self.end, self.now = poll, stats, start, end, now
        # Per customer, the movements this read shows: an alert remembered for a movement of
        # the window that it does not show was regrouped away (``state.lifecycle``, point 6).
        self.present: dict[str, set[tuple[str, datetime]]] = {}
        self.unreadable: set[str] = set()

    def pages(self) -> AsyncIterator[Page[Activity]]:
        return self.poll.chartmogul.activity_pages(
            start_date=self.start.isoformat(), end_date=self.end.isoformat()
        )

    def map(self, page: Page[Activity]) -> list[MrrMovement]:
        # Entries dated after now are the poller's to quarantine, as rejected ones are.
        signals = [movement(a) for a in page.entries if a.date <= self.now]
        self.stats.pages += 1
        self.stats.read += len(signals)
        for s in signals:
            self.present.setdefault(s.customer_uuid, set()).add((s.subscription, s.at))
        self.unreadable.update(_customer_of(r) for r in page.rejected)
        return signals

    def commit(self, tx: Transaction, unit: list[MrrMovement]) -> ApplyStats:
        # Rejected entries are the poller's to quarantine (it read them first).
        poll = self.poll
        return apply_signals(
            tx, unit, context=poll.context, translator=poll.translator, policy=poll.policy,
            now=self.now,
        )  # fmt: skip

    def count(self, unit: list[MrrMovement], done: ApplyStats) -> None:
        self.stats.late += done.signals - done.replays - done.retyped
        self.stats.applied.add(done)


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
    store, context, translator, policy = poll.store, poll.context, poll.translator, poll.policy
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
    late = LateStream(poll, stats, start=start, end=end, now=now)
    if start <= end:
        await run_stream(late, store, poll.progress)
    present, unreadable = late.present, late.unreadable

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
