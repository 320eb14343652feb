"""KPI report periods and the snapshot row each one becomes (pure).

A period is a calendar day, week (Monday to Sunday: ChartMogul's default ``week_start_on``,
which the sandbox uses) or month, in UTC. Its key, ``<period>:<start date>`` (e.g.
``month:2026-11-01``), is the snapshot object's External ID, so each period has one row that
every report upserts. ChartMogul dates each metrics entry at the end of its interval, the last
one at the report's ``end-date`` (today, for the period still running); an entry belongs to the
period whose days contain its date.

The snapshot's field names are the catalogue's (``CM_Metric_Snapshot__c``); the settings name
only the object and its key field. Money goes through ``wire`` (cents to a currency amount);
the rates are percentages already (``1.71`` is 1.71 %), as percent fields take them.

A figure its field cannot hold (beyond the field's digits, or not a finite number) is left out
of the row, which is written with the rest, and named in the row's ``left_out``: Salesforce
refuses a whole record for one such value (``NUMBER_OUTSIDE_VALID_RANGE``), so one absurd
figure would otherwise keep the company's whole row from being written, every run.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from cmsync.chartmogul.records import MetricsEntry
from cmsync.pipeline.translate import wire
from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE
from state.effects import Money

__all__ = [
    "MONEY_FIELDS",
    "Period",
    "SnapshotRow",
    "Span",
    "digest",
    "recent_spans",
    "snapshot_rows",
    "span_of",
]

Period = Literal["day", "week", "month"]

# Snapshot field <- MetricsEntry attribute, in integer cents.
MONEY_FIELDS = {
    "CM_MRR__c": "mrr",
    "CM_ARR__c": "arr",
    "CM_ARPA__c": "arpa",
    "CM_ASP__c": "asp",
    "CM_LTV__c": "ltv",
    "CM_MRR_New_Business__c": "mrr_new_business",
    "CM_MRR_Expansion__c": "mrr_expansion",
    "CM_MRR_Contraction__c": "mrr_contraction",
    "CM_MRR_Churn__c": "mrr_churn",
    "CM_MRR_Reactivation__c": "mrr_reactivation",
}
_PLAIN_FIELDS = {
    "CM_Customers__c": "customers",
    "CM_Customer_Churn_Rate__c": "customer_churn_rate",
    "CM_MRR_Churn_Rate__c": "mrr_churn_rate",
}
_MOVEMENTS = ("mrr_new_business", "mrr_expansion", "mrr_contraction", "mrr_churn",
              "mrr_reactivation")  # fmt: skip


@dataclass(frozen=True, order=True)
class Span:
    """One calendar period: its first and last day."""

    start: date
    end: date
    period: Period

    @property
    def key(self) -> str:
        return f"{self.period}:{self.start.isoformat()}"

    @property
    def name(self) -> str:
        """The record's Name, as a person reads it in a list view."""
        if self.period == "day":
            return f"Day {self.start.isoformat()}"
        if self.period == "week":
            return f"Week {self.start.isoformat()} to {self.end.isoformat()}"
        return f"Month {self.start.strftime('%Y-%m')}"

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def _month_after(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def span_of(period: Period, day: date) -> Span:
    """The period of this kind that contains ``day``."""
    if period == "day":
        return Span(day, day, period)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return Span(start, start + timedelta(days=6), period)
    start = day.replace(day=1)
    return Span(start, _month_after(start) - timedelta(days=1), period)


def recent_spans(period: Period, today: date, count: int) -> list[Span]:
    """The ``count`` latest periods, oldest first; the last is the one containing ``today``."""
    if count < 1:
        raise ValueError("count must be at least 1")
    spans = [span_of(period, today)]
    while len(spans) < count:
        spans.append(span_of(period, spans[-1].start - timedelta(days=1)))
    return spans[::-1]


@dataclass(frozen=True)
class SnapshotRow:
    """One period's snapshot fields (API name -> wire value)."""

    span: Span
    fields: Mapping[str, Any]
    left_out: tuple[str, ...] = ()  # "<field>: <why>" for each figure the row goes without

    @property
    def digest(self) -> str:
        return digest(self.fields)


def digest(fields: Mapping[str, Any]) -> str:
    """A short fingerprint of the values (order does not matter)."""
    text = json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_SNAPSHOT = DEFAULT_CATALOGUE["CM_Metric_Snapshot__c"]


def _unfit(name: str, value: float | Decimal) -> str | None:
    """Why field ``name`` cannot hold ``value`` (None if it can).

    A number field of precision p and scale s holds values below 10**(p - s) in magnitude,
    once rounded to s decimals (Salesforce Help, "Custom Field Types": Number, Currency and
    Percent take a length and decimal places, 18 digits in all).
    """
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a number Salesforce can store"
    spec = _SNAPSHOT.field(name)
    if spec is None or not spec.precision:
        return None
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-spec.scale), ROUND_HALF_UP)
    if abs(rounded) < Decimal(10) ** (spec.precision - spec.scale):
        return None
    return f"{value} is beyond the field's {spec.precision - spec.scale} digits before the point"


def _fields(
    span: Span, entry: MetricsEntry, movements: MetricsEntry | None
) -> tuple[dict[str, Any], list[str]]:
    left_out: list[str] = []
    values: dict[str, Any] = {
        "Name": span.name,
        "CM_Period__c": span.period,
        "CM_Period_Start__c": span.start.isoformat(),
        "CM_Period_End__c": span.end.isoformat(),
    }
    merged = entry
    if movements is not None:
        merged = entry.model_copy(update={m: getattr(movements, m) for m in _MOVEMENTS})
    for name, attribute in MONEY_FIELDS.items():
        cents = getattr(merged, attribute)
        if cents is None:  # a metric the report lacks is left as it is, not blanked
            continue
        # Exact for any int (a float of huge cents would overflow); LTV may be a float.
        why = _unfit(name, Decimal(cents) / 100 if isinstance(cents, int) else cents / 100)
        if why is None:
            values[name] = wire(Money(round(cents)))  # LTV may come as a float of cents
        else:
            left_out.append(f"{name}: {why}")
    for name, attribute in _PLAIN_FIELDS.items():
        value = getattr(merged, attribute)
        if value is None:
            continue
        why = _unfit(name, value)
        if why is None:
            values[name] = value
        else:
            left_out.append(f"{name}: {why}")
    return values, left_out


def _by_span(spans: Sequence[Span], entries: Iterable[MetricsEntry]) -> dict[Span, MetricsEntry]:
    found: dict[Span, MetricsEntry] = {}
    for entry in entries:
        span = next((s for s in spans if s.contains(entry.date)), None)
        if span is not None:
            found[span] = entry  # the latest entry of a period wins (there is one per period)
    return found


def snapshot_rows(
    spans: Sequence[Span], metrics: Iterable[MetricsEntry], movements: Iterable[MetricsEntry]
) -> list[SnapshotRow]:
    """A row for each span the ``/metrics/all`` entries cover, with ``/metrics/mrr``'s
    movements where that report has the span too; spans without an entry get no row."""
    key_metrics = _by_span(spans, metrics)
    moves = _by_span(spans, movements)
    rows: list[SnapshotRow] = []
    for span in spans:
        if span in key_metrics:
            values, left_out = _fields(span, key_metrics[span], moves.get(span))
            rows.append(SnapshotRow(span, values, tuple(left_out)))
    return rows
