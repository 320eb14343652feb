"""The metrics API, computed from the activity feed.

Theory of operation
-------------------
Every metric is either a *stock* read at a moment (MRR, ARR, customers, ARPA) or a *flow*
summed over an interval (movement sums, churned and new customers). One ordered pass over the
feed yields cumulative totals at each requested boundary; a flow over [a, b) is the difference
of the totals at b and a, a stock is the total at the boundary. Entries are calendar intervals
(weeks start on Monday, the account's ``week_start_on``) dated at their end, the last one
clamped to ``end-date``. The summary's ``current`` is the value now (the sandbox clock), not at
``end-date``, and ``previous`` the value one interval earlier [REAL: the recorded summaries do
not equal the last entry].

Definitions, from ChartMogul's help centre (where a choice was needed, it says so):

- ARPA = MRR / customers (integer cents).
- ASP = new-business MRR of the interval / customers who became new business in it. (Chosen:
  ChartMogul describes ASP as the average MRR of new sales; per new customer here.)
- Customer churn rate = customers churned in the interval / customers at its start, in %.
- MRR churn rate (net) = (churn + contraction - expansion - reactivation MRR) / MRR at the
  start, in %; negative when expansion outweighs losses.
- LTV = ARPA / (customer churn rate / 100), the rate rounded to 2 decimals first, which
  reproduces the recorded figures (656170 / 0.0056 = 117173214). With no churn it is 0
  (chosen: the real figure would be unbounded and the official client needs a number).
- ``percentage-change`` = (value - previous) / |previous| * 100, 0.0 when there is no previous
  or it is 0 [matches the recorded -0.17 -> -74.52 giving -43735.29].

``geo`` keeps customers whose country is listed; ``plans`` keeps the MRR of subscriptions on
the listed plans (names, uuids or external ids), re-typing the movements at that level.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cmsync.sandbox.chartmogul.engine import Kind
from cmsync.sandbox.chartmogul.errors import bad_parameter, missing_parameter
from cmsync.sandbox.chartmogul.records import Activity, Plan
from cmsync.sandbox.chartmogul.registry import Registry
from cmsync.sandbox.chartmogul.timefmt import DAY, day_start, from_ts, parse_date

__all__ = ["ENDPOINTS", "Totals", "metrics_report", "totals_at"]

INTERVALS = ("day", "week", "month", "quarter", "year")
MAX_ENTRIES = 3660
# The /all summary lists the metrics in this order [REAL].
ALL_METRICS = (
    "mrr",
    "arr",
    "customer-churn-rate",
    "mrr-churn-rate",
    "ltv",
    "customers",
    "asp",
    "arpa",
)
# endpoint -> the metric key its entries carry
ENDPOINTS = {
    "mrr": "mrr",
    "arr": "arr",
    "arpa": "arpa",
    "asp": "asp",
    "customer-count": "customers",
    "customer-churn-rate": "customer-churn-rate",
    "mrr-churn-rate": "mrr-churn-rate",
    "ltv": "ltv",
}


@dataclass(frozen=True, slots=True)
class Totals:
    """Cumulative figures before one boundary."""

    mrr: int = 0
    customers: int = 0
    new_biz: int = 0
    expansion: int = 0
    contraction: int = 0
    churn: int = 0
    reactivation: int = 0
    churned: int = 0
    new_customers: int = 0


@dataclass(frozen=True, slots=True)
class Filters:
    countries: frozenset[str] | None = None
    plans: frozenset[Plan] | None = None

    @property
    def active(self) -> bool:
        return self.countries is not None or self.plans is not None


class _Running:
    """The running totals of one pass (mutable, unlike the snapshots it hands out)."""

    __slots__ = ("by_kind", "churned", "customers", "mrr", "new_customers")

    def __init__(self) -> None:
        self.mrr = self.customers = self.churned = self.new_customers = 0
        self.by_kind = dict.fromkeys(Kind, 0)

    def add(self, kind: Kind, amount: int, customers: int) -> None:
        self.mrr += amount
        self.by_kind[kind] += amount
        self.customers += customers
        if customers < 0:
            self.churned += 1
        elif customers > 0 and kind is Kind.NEW_BIZ:
            self.new_customers += 1

    def snapshot(self) -> Totals:
        k = self.by_kind
        return Totals(
            mrr=self.mrr,
            customers=self.customers,
            new_biz=k[Kind.NEW_BIZ],
            expansion=k[Kind.EXPANSION],
            contraction=k[Kind.CONTRACTION],
            churn=k[Kind.CHURN],
            reactivation=k[Kind.REACTIVATION],
            churned=self.churned,
            new_customers=self.new_customers,
        )


def _filtered_amount(activity: Activity, plans: frozenset[Plan] | None) -> int:
    """The activity's effect on the MRR of the subscriptions on the filtered plans."""
    if plans is None:
        return activity.delta
    after = activity.subscription_mrr if activity.plan_after in plans else 0
    before = activity.subscription_mrr - activity.delta if activity.plan_before in plans else 0
    return after - before


def totals_at(
    activities: Iterable[Activity], boundaries: list[int], filters: Filters
) -> list[Totals]:
    """Cumulative totals of the activities dated before each boundary (ascending).

    Unfiltered, the movements count as the feed typed them. Filtered, a customer's MRR is
    only what passes the filters, and each change is re-typed at that level (a customer whose
    filtered plan ends while another continues churns from that plan's point of view).
    """
    out: list[Totals] = []
    running = _Running()
    state: dict[int, int] = {}  # customer id -> its MRR under the filters
    paid: set[int] = set()
    b = 0
    for activity in activities:
        while b < len(boundaries) and activity.at >= boundaries[b]:
            out.append(running.snapshot())
            b += 1
        if b == len(boundaries):
            break
        if not filters.active:
            running.add(activity.kind, activity.delta, activity.customers_delta)
            continue
        if filters.countries is not None and activity.customer.country not in filters.countries:
            continue
        amount = _filtered_amount(activity, filters.plans)
        if not amount:
            continue
        key = activity.customer.id
        before = state.get(key, 0)
        after = state[key] = before + amount
        if before <= 0 < after:
            running.add(Kind.REACTIVATION if key in paid else Kind.NEW_BIZ, amount, 1)
            paid.add(key)
        elif after <= 0 < before:
            running.add(Kind.CHURN, amount, -1)
        else:
            running.add(Kind.EXPANSION if amount > 0 else Kind.CONTRACTION, amount, 0)
    final = running.snapshot()
    out.extend([final] * (len(boundaries) - len(out)))
    return out


def _rate(part: float, whole: int) -> float:
    return round(part / whole * 100, 2) if whole else 0.0


def _values(start: Totals, end: Totals) -> dict[str, float | int]:
    """Every metric for the interval [start, end)."""
    new_biz = end.new_biz - start.new_biz
    expansion = end.expansion - start.expansion
    contraction = end.contraction - start.contraction
    churn = end.churn - start.churn
    reactivation = end.reactivation - start.reactivation
    new_customers = end.new_customers - start.new_customers
    arpa = round(end.mrr / end.customers) if end.customers else 0
    customer_churn = _rate(end.churned - start.churned, start.customers)
    return {
        "mrr": end.mrr,
        "arr": 12 * end.mrr,
        "customers": end.customers,
        "arpa": arpa,
        "asp": round(new_biz / new_customers) if new_customers else 0,
        "customer-churn-rate": customer_churn,
        "mrr-churn-rate": _rate(-(churn + contraction + expansion + reactivation), start.mrr),
        "ltv": round(arpa / (customer_churn / 100)) if customer_churn else 0,
        "mrr-new-business": new_biz,
        "mrr-expansion": expansion,
        "mrr-contraction": contraction,
        "mrr-churn": churn,
        "mrr-reactivation": reactivation,
    }


def _change(value: float, previous: float | None) -> float:
    if not previous:
        return 0.0
    return round((value - previous) / abs(previous) * 100, 2)


def _add_months(day: date, months: int) -> date:
    # The sandbox keeps its own model of ChartMogul's month steps (clamped to the month's
    # last day), apart from cmsync's ``state.periods``: a model that shared cmsync's code
    # would agree with cmsync by construction and prove nothing.
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _period_start(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    if interval == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if interval == "year":
        return date(day.year, 1, 1)
    return day


def _step(day: date, interval: str) -> date:
    months = {"month": 1, "quarter": 3, "year": 12}.get(interval)
    if months is not None:
        return _add_months(day, months)
    return day + timedelta(days=7 if interval == "week" else 1)


def _periods(start: date, end: date, interval: str) -> list[tuple[date, date]]:
    """(first day, entry date) of each calendar interval meeting [start, end]."""
    periods = []
    first = _period_start(start, interval)
    while first <= end:
        following = _step(first, interval)
        periods.append((first, min(following - timedelta(days=1), end)))
        if len(periods) > MAX_ENTRIES:
            raise bad_parameter("interval")
        first = following
    return periods


def _filters(registry: Registry, query: Mapping[str, str]) -> Filters:
    countries = None
    if query.get("geo"):
        countries = frozenset(code.strip().upper() for code in query["geo"].split(","))
    plans = None
    if query.get("plans"):
        wanted = {name.strip() for name in query["plans"].split(",")}
        plans = frozenset(
            p for p in registry.plans.values() if {p.name, p.uuid, p.external_id} & wanted
        )
    return Filters(countries=countries, plans=plans)


def _date(query: Mapping[str, str], name: str) -> date:
    if name not in query:
        raise missing_parameter(name)
    parsed = parse_date(query[name])
    if parsed is None:
        raise bad_parameter(name)
    return parsed


def metrics_report(registry: Registry, endpoint: str, query: Mapping[str, str]) -> dict[str, Any]:
    """The body of ``GET /v1/metrics/{endpoint}`` (``all`` or a key of ``ENDPOINTS``)."""
    start, end = _date(query, "start-date"), _date(query, "end-date")
    if end < start:
        raise bad_parameter("end-date")
    interval = query.get("interval", "month")  # default month [third-party docs]
    if interval not in INTERVALS:
        raise bad_parameter("interval")
    periods = _periods(start, end, interval)
    now = registry.now()
    today = from_ts(now).date()
    back = {"day": 1, "week": 7}.get(interval)
    if back is not None:
        earlier, earliest = now - back * DAY, now - 2 * back * DAY
    else:
        months = {"month": 1, "quarter": 3, "year": 12}[interval]
        shift = day_start(today) - day_start(_add_months(today, -months))
        shift2 = day_start(today) - day_start(_add_months(today, -2 * months))
        earlier, earliest = now - shift, now - shift2
    boundaries = {now + 1, earlier + 1, earliest + 1}
    for first, last in periods:
        boundaries.update((day_start(first), day_start(last) + DAY))
    ordered = sorted(boundaries)
    at = dict(
        zip(ordered, totals_at(registry.feed, ordered, _filters(registry, query)), strict=True)
    )

    rows = [_values(at[day_start(first)], at[day_start(last) + DAY]) for first, last in periods]
    current = _values(at[earlier + 1], at[now + 1])
    previous = _values(at[earliest + 1], at[earlier + 1])
    entries: list[dict[str, Any]] = []
    if endpoint == "all":
        for n, ((_, last), row) in enumerate(zip(periods, rows, strict=True)):
            entry: dict[str, Any] = {"date": last.isoformat()}
            for metric in (
                "mrr",
                "arr",
                "customer-churn-rate",
                "mrr-churn-rate",
                "ltv",
                "customers",
                "asp",
                "arpa",
            ):
                entry[metric] = row[metric]
                entry[f"{metric}-percentage-change"] = _change(
                    row[metric], rows[n - 1][metric] if n else None
                )
            entries.append(entry)
        summary: dict[str, Any] = {}
        for metric in ALL_METRICS:
            summary[f"current-{metric}"] = current[metric]
            summary[f"previous-{metric}"] = previous[metric]
            summary[f"{metric}-percentage-change"] = _change(current[metric], previous[metric])
        return {"entries": entries, "summary": summary}
    key = ENDPOINTS[endpoint]
    for n, ((_, last), row) in enumerate(zip(periods, rows, strict=True)):
        entry = {"date": last.isoformat(), key: row[key]}
        entry["percentage-change"] = _change(row[key], rows[n - 1][key] if n else None)
        if endpoint == "mrr":
            for movement in (
                "mrr-new-business",
                "mrr-expansion",
                "mrr-contraction",
                "mrr-churn",
                "mrr-reactivation",
            ):
                entry[movement] = row[movement]
        entries.append(entry)
    return {
        "entries": entries,
        "summary": {
            "current": current[key],
            "previous": previous[key],
            "percentage-change": _change(current[key], previous[key]),
        },
    }
