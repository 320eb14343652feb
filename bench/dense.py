"""Dense billing histories for the benchmarks: many MRR movements per customer.

The sandbox's own scenario (``cmsync.sandbox.scenario.generate``) gives each customer about
1.7 movements: two years of monthly invoices with rare changes, which is realistic for a demo
but far too sparse to load the pipeline. ``dense_scenario`` keeps that scenario's Salesforce
side and its customers (names, emails, link kinds and traps, so matching works as in real
orgs) and replaces every customer's billing with a seat-based history of a chosen length.

Theory of operation. Each customer is given a number of movements (about ``activities`` /
customers, spread between half and one and a half times that, summing to ``activities``
exactly) and as many distinct moments, either on a half-monthly grid over ``months`` from
the customer's own billing anchor (a catch-up over history) or anywhere within ``recent``
before ``now``, more than an hour apart (fresh news: alerts fire).
Every moment changes the customer's MRR exactly once, so the feed holds one activity per
moment: the first is new business, later ones change seats (most), switch tier (some), churn
(a few, the subscription cancelled) or, after a churn, reactivate on a new subscription.

A subscription's MRR holds until the next change (ChartMogul keeps a subscription active until
it is cancelled), so one line item per moment is enough; its service period runs to the next
moment (or a month past ``now``), and its amount is the plan's monthly price times the seats.
Line items are billed on statements of ``months_per_invoice`` months (one invoice, several
line items), which keeps the invoice list, and so the payments poller's bootstrap, smaller
than the feed. Some invoices carry a failed payment (and a recovery, in history mode).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cmsync.sandbox.chartmogul.engine import REGROUP_SECONDS
from cmsync.sandbox.scenario.generate import PLANS, add_months, generate
from cmsync.sandbox.scenario.model import (
    CustomerPlan,
    InvoicePlan,
    LineItemPlan,
    PlanSpec,
    Scenario,
)

__all__ = ["Density", "dense_factory", "dense_scenario"]

_TIERS = tuple(p for p in PLANS if p.interval_unit == "month" and p.interval_count == 1)


@dataclass(frozen=True)
class Density:
    """The shape of the histories: how many movements, over how long, billed how."""

    activities: int  # movements over all customers: the activity feed's length
    months: int = 12  # history mode: the history ends now and starts this many months back
    recent: timedelta | None = None  # recent mode: every movement within this window
    months_per_invoice: int = 3  # history mode: line items per statement, in months
    churn: float = 0.04  # share of changes that cancel the subscription
    tier_change: float = 0.15  # share of changes that switch tier (the rest change seats)
    failed_payments: float = 0.04  # share of invoices whose first payment fails


def _counts(rng: random.Random, customers: int, total: int, cap: int) -> list[int]:
    """Movements per customer: each in [1, cap], spread around the mean, summing to total."""
    if total < customers or total > customers * cap:
        raise ValueError(f"{total} movements cannot be spread over {customers} customers")
    mean = total / customers
    low, high = max(1, round(mean * 0.5)), min(cap, max(1, round(mean * 1.5)))
    counts = [rng.randint(low, high) for _ in range(customers)]
    excess = sum(counts) - total
    while excess:
        i = rng.randrange(customers)
        if excess > 0 and counts[i] > 1:
            counts[i] -= 1
            excess -= 1
        elif excess < 0 and counts[i] < cap:
            counts[i] += 1
            excess += 1
    return counts


# Recent moments of one customer lie at least this far apart: ChartMogul regroups a customer's
# movements within an hour into one (Smart Activity Classification, as the emulator does), and
# every moment here must stay an activity of its own.
_RECENT_SLOT = REGROUP_SECONDS + 60


def _recent_slots(density: Density) -> int:
    assert density.recent is not None
    return (int(density.recent.total_seconds()) - 60) // _RECENT_SLOT


def _moments(rng: random.Random, count: int, density: Density, now: datetime) -> list[datetime]:
    if density.recent is not None:
        slots = rng.sample(range(_recent_slots(density)), count)
        # the newest a minute ago at least; a random second within each slot
        offsets = [60 + s * _RECENT_SLOT + rng.randrange(60) for s in slots]
        return sorted(now.replace(microsecond=0) - timedelta(seconds=s) for s in offsets)
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    first = add_months(this_month, -density.months)  # the last slot is in last month
    # Each customer bills on its own anchor (day and time of day), as billing systems do: a
    # feed where every movement shares a few instants is not what ChartMogul serves.
    day, second = rng.randint(1, 13), rng.randrange(86_400)
    slots = sorted(rng.sample(range(density.months * 2), count))
    return [
        add_months(first, s // 2).replace(day=day + 14 * (s % 2)) + timedelta(seconds=second)
        for s in slots
    ]


@dataclass
class _Subscription:
    key: str
    plan: PlanSpec
    seats: int


def _change(rng: random.Random, sub: _Subscription, density: Density) -> str:
    """Change ``sub`` in place so that its MRR moves; returns what happened."""
    roll = rng.random()
    if roll < density.churn:
        return "churn"
    tier = _TIERS.index(sub.plan)
    if roll < density.churn + density.tier_change:
        moves = [t for t in (tier - 1, tier + 1) if 0 <= t < len(_TIERS)]
        sub.plan = _TIERS[rng.choice(moves)]
        return "tier"
    step = rng.randint(1, 4)
    sub.seats = sub.seats + step if sub.seats <= step or rng.random() < 0.55 else sub.seats - step
    return "seats"


def _history(
    rng: random.Random, key: str, count: int, density: Density, now: datetime
) -> tuple[tuple[InvoicePlan, ...], tuple[tuple[str, datetime], ...]]:
    moments = _moments(rng, count, density, now)
    items: list[tuple[datetime, str, PlanSpec, int]] = []  # (start, subscription, plan, seats)
    cancellations: list[tuple[str, datetime]] = []
    subs = 1
    sub: _Subscription | None = _Subscription(f"{key}-sub-1", rng.choice(_TIERS), rng.randint(1, 9))
    for n, at in enumerate(moments):
        if sub is None:  # churned before: come back on a new subscription
            subs += 1
            sub = _Subscription(f"{key}-sub-{subs}", rng.choice(_TIERS), rng.randint(1, 9))
        elif n and _change(rng, sub, density) == "churn":
            cancellations.append((sub.key, at))
            sub = None
            continue
        items.append((at, sub.key, sub.plan, sub.seats))
    return _bill(rng, key, items, cancellations, density, now), tuple(cancellations)


def _bill(
    rng: random.Random,
    key: str,
    items: list[tuple[datetime, str, PlanSpec, int]],
    cancellations: list[tuple[str, datetime]],
    density: Density,
    now: datetime,
) -> tuple[InvoicePlan, ...]:
    ends: dict[int, datetime] = {}
    for i, (_, subscription, _, _) in enumerate(items):  # a period runs to the next change
        stops = [at for s, at in cancellations if s == subscription and at > items[i][0]]
        later = [at for at, s, _, _ in items[i + 1 :] if s == subscription]
        ends[i] = min([*stops, *later], default=add_months(now, 1))
    statements: dict[int, list[LineItemPlan]] = {}
    first = items[0][0] if items else now
    for i, (at, subscription, plan, seats) in enumerate(items):
        if density.recent is not None:
            statement = i  # fresh news: one invoice per change, imported as it happens
        else:
            months = (at.year - first.year) * 12 + at.month - first.month
            statement = months // density.months_per_invoice
        statements.setdefault(statement, []).append(
            LineItemPlan(subscription, plan.key, at, ends[i], seats, plan.unit_price_cents * seats)
        )
    invoices = []
    for number, (_, lines) in enumerate(sorted(statements.items()), start=1):
        payment = "successful"
        if rng.random() < density.failed_payments:
            # A recovery is dated three days on, which is in the future for recent news.
            payment = "failed" if density.recent or rng.random() < 0.3 else "recovered"
        invoices.append(
            InvoicePlan(f"{key}-inv-{number:03d}", lines[0].start, tuple(lines), payment)
        )
    return tuple(invoices)


def dense_scenario(seed: int, accounts: int, now: datetime, density: Density) -> Scenario:
    """The default scenario for (``seed``, ``accounts``) with dense histories (see above)."""
    base = generate(seed, accounts, now)
    rng = random.Random(seed * 7919 + 1)
    cap = _recent_slots(density) if density.recent is not None else density.months * 2
    counts = _counts(rng, len(base.customers), density.activities, cap)
    customers: list[CustomerPlan] = []
    for customer, count in zip(base.customers, counts, strict=True):
        invoices, cancellations = _history(rng, customer.key, count, density, now)
        first = min((i.date for i in invoices), default=now)
        lead = first - timedelta(days=rng.randint(5, 60))
        customers.append(
            replace(
                customer,
                invoices=invoices,
                cancellations=cancellations,
                lead_created_at=lead,
                free_trial_started_at=lead + timedelta(days=2),
            )
        )
    return replace(base, customers=tuple(customers))


def dense_factory(density: Density) -> Callable[[int, int, datetime], Scenario]:
    """``dense_scenario`` as the sandbox runner's scenario factory."""

    def factory(seed: int, accounts: int, now: datetime) -> Scenario:
        return dense_scenario(seed, accounts, now, density)

    return factory
