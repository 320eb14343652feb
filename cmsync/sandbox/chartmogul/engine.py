"""The MRR engine: a customer's movements, MRR, status and customer-since, from line items.

Pure: no clock, no store, no I/O; every moment is an ``int`` of UTC epoch seconds, and plans
are whatever objects the caller passes (the engine only carries them through).

Theory of operation
-------------------
A subscription's MRR is a step function of time. Each subscription line item sets it, from the
item's service-period start, to the item's amount normalised to one month by its plan's interval
(``monthly_amount``). The value then *holds* through gaps and past the end of the last service
period: ChartMogul keeps a subscription active until it is cancelled, so a customer whose
renewal invoice never came is Past Due and keeps its MRR. A cancellation date sets the MRR to 0;
a line item starting after it brings it back.

A customer's MRR is the sum over its subscriptions. A prorated item with the default
``proration_type`` (``differential``, and ``differential_mrr``) *adds* its monthly value to
the subscription's MRR from its start instead of setting it: the Import API's "+1 seat"
example, a seat bought mid-period invoiced for the rest of the period. ``full`` sets it.

Movements are regrouped within the hour (Smart Activity Classification, help article
4416682609426; the account's ``proximate_movement_reclassification`` is
``one_hour_reclassification``). The moments where some subscription's MRR changes are cut
into *groups*: a group starts at a moment and takes every later moment less than
``regroup_seconds`` after that start. Within a group each changed subscription yields ONE
movement, its net change over the group, dated at its last change in the group (a change
undone within the hour leaves nothing). Every movement of a group is typed by the customer's
total before and after the whole group (as ChartMogul's MRR movement definitions say):

==========================  ======================================================
total before -> after       type of each movement of the group
==========================  ======================================================
0 -> positive               ``new_biz`` if the customer never paid, else ``reactivation``
positive -> 0               ``churn``
positive -> positive        ``expansion`` or ``contraction``, by the movement's sign
==========================  ======================================================

so two subscriptions bought 30 minutes apart are two ``new_biz`` (not ``new_biz`` then
``expansion``), and a cancellation followed within the hour by a purchase is a contraction and
an expansion, not a churn and a reactivation. A movement whose sign disagrees with its
group's type is an expansion or contraction. Because a later moment can join a group whose
first movements were already in the feed, a rebuild can *retype* them afterwards; that is
what the help article describes.

Free Customer Handling (help article 15384089786524, the account's ``churn_when_zero_mrr``
is ``ignore``): a customer whose subscriptions are live but worth nothing (a free plan, a 100%
discount) stays Active and is not churned. A subscription is *live* from the start of a
non-trial line item until it is cancelled; a fall to 0 while some subscription is still live
is a contraction, and a rise from 0 of a customer who was live and had paid before is an
expansion.

Movements of a group are ordered by date, then subscription, and each carries the running
customer total after it (``activity-mrr``): a real recording shows two subscriptions bought at
the same instant as two ``new_biz`` activities with ``activity-mrr`` 4004 then 8009. Each
group where the customer starts or stops paying also moves the customer count by one,
recorded on its first (start) or last (stop) movement, for the metrics.

Currencies. A period may carry the currency of its invoice; the engine then keeps each
subscription's MRR in that currency and asks a ``Converter`` for its value in the account
currency at each moment: a movement's ``delta`` and ``customer_mrr`` are account-currency
amounts at the rates of the movement's date (ChartMogul converts each movement on its own
date: a churn of -780 undid a new_biz of +756). Where the rates change, every foreign
subscription is valued again: the customer's MRR moves on the timeline without any movement.
A period without a currency (the account's own) is never converted.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

__all__ = [
    "REGROUP_SECONDS",
    "Bill",
    "Converter",
    "History",
    "Kind",
    "Movement",
    "Period",
    "SubscriptionInput",
    "Timeline",
    "build_history",
    "customer_status",
    "describe",
    "monthly_amount",
]

P = TypeVar("P")

_SECONDS_PER_DAY = 86_400


class Kind(StrEnum):
    NEW_BIZ = "new_biz"
    EXPANSION = "expansion"
    CONTRACTION = "contraction"
    CHURN = "churn"
    REACTIVATION = "reactivation"


def _round_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero (integer cents, no float drift)."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def monthly_amount(
    amount_cents: int,
    interval_count: int,
    interval_unit: str,
    *,
    service_seconds: int | None = None,
) -> int:
    """A line item's amount normalised to one month, in integer cents.

    ChartMogul normalises by the plan's interval: a month is 1, a year 12, and a day
    12 / 365.25 of a month. The day factor is taken from a real recording: 1000 cents on a
    7-day plan shows ``mrr: 4348`` (1000 * 365.25 / 12 / 7 = 4348.2; 365 days would give 4345).
    ``service_seconds`` normalises a prorated item by its own service period instead.
    Rounding is half away from zero, once, on the final monthly figure.
    """
    if service_seconds is not None and service_seconds > 0:
        # months = seconds / (365.25 / 12 days); amount / months, kept in integers
        return _round_div(amount_cents * 1461 * _SECONDS_PER_DAY, service_seconds * 48)
    if interval_unit == "month":
        return _round_div(amount_cents, interval_count)
    if interval_unit == "year":
        return _round_div(amount_cents, 12 * interval_count)
    if interval_unit == "day":
        return _round_div(amount_cents * 1461, 48 * interval_count)
    raise ValueError(f"unknown interval unit {interval_unit!r}")


class Converter(Protocol):
    """Exchange rates into the account currency (``rates.RateSchedule``)."""

    def convert(self, cents: int, currency: str, at: int) -> int: ...

    def moments(self) -> Sequence[int]: ...


@dataclass(frozen=True, slots=True)
class Period(Generic[P]):
    """One subscription line item as the engine sees it: when, how much a month, on what."""

    start: int
    end: int
    mrr: int  # in ``currency``
    quantity: int
    plan: P
    currency: str = ""  # "" for the account currency: never converted
    adds: bool = False  # a differential proration: adds ``mrr`` to the subscription's MRR
    trial: bool = False  # a trial item: worth nothing, and does not make the customer live


@dataclass(frozen=True, slots=True)
class SubscriptionInput(Generic[P]):
    """A subscription's line items (in import order) and cancellation dates."""

    periods: Sequence[Period[P]]
    cancellations: Sequence[int]


@dataclass(frozen=True, slots=True)
class Movement(Generic[P]):
    """One subscription's MRR change at one moment, typed at the customer level."""

    at: int
    subscription: int  # index into the inputs
    kind: Kind
    delta: int
    customer_mrr: int  # the customer's MRR after this movement (activity-mrr)
    subscription_mrr: int  # the subscription's MRR after this movement
    plan_before: P | None  # the plan while the subscription paid before; None if it did not
    plan_after: P | None  # the plan while it pays after; None once it stops paying
    quantity_before: int
    quantity_after: int
    customers_delta: int  # +1 when the customer starts paying, -1 when it stops, else 0


@dataclass(frozen=True, slots=True)
class Bill:
    """An invoice as the status rule sees it: the billing period its subscription lines
    cover and its payment attempts, (date, successful) in date order."""

    start: int
    end: int
    payments: tuple[tuple[int, bool], ...]

    def past_due(self, now: int) -> bool:
        """The period covers ``now`` and its latest payment attempt by then failed."""
        if not self.start <= now < self.end:
            return False
        tried = [ok for at, ok in self.payments if at <= now]
        return bool(tried) and not tried[-1]


@dataclass(frozen=True, slots=True)
class Timeline:
    """What a customer's history leaves behind once its movements became activities: the MRR
    step functions and service coverage, as tuples of ints (compact, and untracked by the GC)."""

    moments: tuple[int, ...]  # when the customer's MRR changed, ascending
    totals: tuple[int, ...]  # the customer's MRR from each moment on
    subscription_moments: tuple[tuple[int, ...], ...]
    subscription_totals: tuple[tuple[int, ...], ...]
    coverage: tuple[tuple[tuple[int, int], ...], ...]  # per subscription: (start, end) periods
    customer_since: int | None  # the first moment the customer's MRR became positive
    live: tuple[bool, ...] = ()  # per moment: some subscription is live (free ones included)
    bills: tuple[Bill, ...] = ()  # the invoices' periods and payments, for the status

    def live_at(self, ts: int) -> bool:
        """Whether some subscription is live at ``ts`` (not cancelled, trials aside)."""
        index = bisect_right(self.moments, ts)
        return bool(index and self.live and self.live[index - 1])

    def customer_mrr_at(self, ts: int) -> int:
        index = bisect_right(self.moments, ts)
        return self.totals[index - 1] if index else 0

    def subscription_mrr_at(self, subscription: int, ts: int) -> int:
        moments = self.subscription_moments[subscription]
        index = bisect_right(moments, ts)
        return self.subscription_totals[subscription][index - 1] if index else 0

    def last_positive_mrr(self, subscription: int) -> int:
        """The subscription's last non-zero MRR (shown for inactive subscriptions)."""
        for value in reversed(self.subscription_totals[subscription]):
            if value:
                return value
        return 0

    def covered(self, subscription: int, ts: int) -> bool:
        """Whether a service period of the subscription covers ``ts``."""
        return any(start <= ts < end for start, end in self.coverage[subscription])


@dataclass(frozen=True, slots=True)
class History(Generic[P]):
    """Everything the engine derived for one customer."""

    movements: tuple[Movement[P], ...]
    timeline: Timeline


REGROUP_SECONDS = 3_600  # "one_hour_reclassification", the default (help 4416682609426)


def _group_kind(
    before: int, after: int, ever_paid: bool, live_before: bool, live_after: bool
) -> Kind | None:
    if before <= 0 < after:
        if live_before and ever_paid:
            return None  # a free customer paying again: it never churned
        return Kind.REACTIVATION if ever_paid else Kind.NEW_BIZ
    if after <= 0 < before:
        return None if live_after else Kind.CHURN  # still live on a free plan: not churned
    return None


@dataclass(slots=True)
class _Replay(Generic[P]):
    """The running state of a replay: each subscription's MRR (in the account currency and
    in its own), currency, period and liveness."""

    subscriptions: Sequence[SubscriptionInput[P]]
    converter: Converter | None
    current: list[int]  # in the account currency
    native: list[int]  # in the subscription's own currency
    currency: list[str]
    period: list[Period[P] | None]
    live: list[bool]

    def value(self, s: int, at: int) -> int:
        if self.converter is None or not self.currency[s]:
            return self.native[s]
        return self.converter.convert(self.native[s], self.currency[s], at)

    def step(self, phase: int, s: int, index: int, at: int) -> None:
        if phase < 0:  # the rates change: every foreign subscription is valued again
            for r in range(len(self.current)):
                if self.currency[r] and self.native[r]:
                    self.current[r] = self.value(r, at)
            return
        if phase == 1:
            self.native[s], self.current[s], self.live[s] = 0, 0, False
            return
        item = self.subscriptions[s].periods[index]
        self.period[s] = item
        self.native[s] = self.native[s] + item.mrr if item.adds else item.mrr
        self.currency[s] = item.currency
        self.current[s] = self.value(s, at)
        self.live[s] = self.live[s] or not item.trial


def _events(
    subscriptions: Sequence[SubscriptionInput[P]], converter: Converter | None
) -> list[tuple[int, int, int, int]]:
    """(moment, phase, subscription, period index): at one moment, rates change first, then
    starts apply before cancellations, so a cancellation dated at a period start wins."""
    events: list[tuple[int, int, int, int]] = []
    for s, sub in enumerate(subscriptions):
        events.extend((p.start, 0, s, i) for i, p in enumerate(sub.periods))
        events.extend((c, 1, s, -1) for c in sub.cancellations)
    if converter is not None and any(p.currency for sub in subscriptions for p in sub.periods):
        events.extend((at, -1, -1, -1) for at in converter.moments())
    events.sort()
    return events


def build_history(
    subscriptions: Sequence[SubscriptionInput[P]],
    converter: Converter | None = None,
    *,
    regroup_seconds: int = REGROUP_SECONDS,
) -> History[P]:
    """Replay every line item and cancellation of one customer in time order, regrouping
    the movements of each ``regroup_seconds`` window (0: no regrouping); amounts in another
    currency are valued in the account currency by ``converter`` at each moment."""
    events = _events(subscriptions, converter)
    n = len(subscriptions)
    replay: _Replay[P] = _Replay(
        subscriptions, converter, [0] * n, [0] * n, [""] * n, [None] * n, [False] * n
    )
    sub_moments: list[list[int]] = [[] for _ in subscriptions]
    sub_totals: list[list[int]] = [[] for _ in subscriptions]
    movements: list[Movement[P]] = []
    moments: list[int] = []
    totals: list[int] = []
    lives: list[bool] = []
    total, ever_paid, since = 0, False, None
    i = 0
    while i < len(events):
        group_start = events[i][0]
        total_before, live_before = total, any(replay.live)
        # per changed subscription: (MRR, period) before the group; its last change moment
        before: dict[int, tuple[int, Period[P] | None]] = {}
        last_change: dict[int, int] = {}
        while i < len(events) and events[i][0] - group_start < max(regroup_seconds, 1):
            at = events[i][0]
            was = list(replay.current)
            was_live = any(replay.live)
            while i < len(events) and events[i][0] == at:
                _, phase, s, index = events[i]
                if phase >= 0:  # a revaluation alone moves the MRR without a movement
                    before.setdefault(s, (replay.current[s], replay.period[s]))
                replay.step(phase, s, index, at)
                i += 1
            for s in range(n):
                if replay.current[s] != was[s]:
                    last_change[s] = at
                    sub_moments[s].append(at)
                    sub_totals[s].append(replay.current[s])
            new_total = sum(replay.current)
            if new_total != total or any(replay.live) != was_live or not moments:
                moments.append(at)
                totals.append(new_total)
                lives.append(any(replay.live))
            total = new_total
            if total > 0 and since is None:
                since = at
        changed = sorted(
            (last_change[s], s) for s, (old, _) in before.items()
            if s in last_change and replay.current[s] != old
        )  # fmt: skip
        if changed:
            group = _group_kind(total_before, total, ever_paid, live_before, any(replay.live))
            running = total_before
            for k, (at, s) in enumerate(changed):
                old, old_period = before[s]
                new = replay.current[s]
                delta = new - old
                running += delta
                kind = group
                if kind is None or (delta > 0) != (kind in (Kind.NEW_BIZ, Kind.REACTIVATION)):
                    kind = Kind.EXPANSION if delta > 0 else Kind.CONTRACTION
                starts = group in (Kind.NEW_BIZ, Kind.REACTIVATION) and k == 0
                stops = group is Kind.CHURN and k == len(changed) - 1
                now_period = replay.period[s]
                movements.append(
                    Movement(
                        at=at,
                        subscription=s,
                        kind=kind,
                        delta=delta,
                        customer_mrr=running,
                        subscription_mrr=new,
                        plan_before=old_period.plan if old and old_period else None,
                        plan_after=now_period.plan if new and now_period else None,
                        quantity_before=old_period.quantity if old and old_period else 0,
                        quantity_after=now_period.quantity if new and now_period else 0,
                        customers_delta=1 if starts else (-1 if stops else 0),
                    )
                )
        if total > 0:
            ever_paid = True
    timeline = Timeline(
        moments=tuple(moments),
        totals=tuple(totals),
        subscription_moments=tuple(tuple(m) for m in sub_moments),
        subscription_totals=tuple(tuple(t) for t in sub_totals),
        coverage=tuple(tuple((p.start, p.end) for p in sub.periods) for sub in subscriptions),
        customer_since=since,
        live=tuple(lives),
    )
    return History(movements=tuple(movements), timeline=timeline)


def customer_status(timeline: Timeline, now: int, lead_status: str) -> tuple[int, str]:
    """The customer's MRR and status at ``now``.

    ``Active``: paying, and every paying subscription has a service period covering now.
    ``Past Due``: paying, and a payment of the current billing period failed and was not
    followed by a successful one (help article 212811009: "Past Due" means a past-due payment
    in the most recent billing period: an invoice whose period covers now, ``bills``); or
    some paying subscription's last period ended (its renewal never came).
    ``Active`` too: pays nothing, but some subscription is live (a free plan, a 100% discount:
    Free Customer Handling, help article 15384089786524).
    ``Cancelled``: paid before, pays nothing now. Otherwise the lead status it was given.
    """
    mrr = timeline.customer_mrr_at(now)
    if mrr > 0:
        if any(bill.past_due(now) for bill in timeline.bills):
            return mrr, "Past Due"
        for s in range(len(timeline.coverage)):
            if timeline.subscription_mrr_at(s, now) > 0 and not timeline.covered(s, now):
                return mrr, "Past Due"
        return mrr, "Active"
    if timeline.live_at(now):
        return mrr, "Active"
    if timeline.customer_since is not None and timeline.customer_since <= now:
        return mrr, "Cancelled"
    return mrr, lead_status


def describe(
    kind: Kind,
    plan_before: str | None,
    plan_after: str | None,
    quantity_before: int,
    quantity_after: int,
) -> str:
    """The activity's ``description``.

    Recorded wordings: "purchased the Gold annual plan" (new_biz), "cancelled their Gold annual
    plan" (churn), "switched plan from Yellow to Blue" (expansion). The wordings for
    reactivation, quantity and price changes were not found in any source and are chosen.
    """
    if kind is Kind.NEW_BIZ or (plan_before is None and plan_after is not None):
        if kind is Kind.REACTIVATION:
            return f"reactivated their {plan_after} plan"
        return f"purchased the {plan_after} plan"
    if kind is Kind.CHURN or plan_after is None:
        return f"cancelled their {plan_before} plan"
    if plan_before != plan_after:
        return f"switched plan from {plan_before} to {plan_after}"
    if quantity_before != quantity_after:
        quantities = f"from {quantity_before} to {quantity_after}"
        return f"changed quantity {quantities} on their {plan_after} plan"
    verb = "increased" if kind is Kind.EXPANSION else "decreased"
    return f"{verb} the price of their {plan_after} plan"
