"""KPI reports: ChartMogul's key metrics into one Salesforce row per period.

For each configured period (day, week, month) the job reads the last ``backfill`` periods from
``/metrics/all`` (MRR, ARR, ARPA, ASP, LTV, customers, both churn rates) and ``/metrics/mrr``
(the MRR movements, which ``/all`` does not carry): two calls per period kind. Each period
becomes one upsert on the snapshot object, keyed on its period key (``report_periods``). The
running period is written too; the next run updates it, and ChartMogul's revisions of past
periods (backfills move them) are picked up while they are within ``backfill``.

Theory of operation: each row is compared with what the period's record holds as far as
cmsync knows: the values last written to it, overlaid by any upsert for it still waiting in
the outbox. Equal, nothing is enqueued, so a re-run with unchanged figures adds no row (and
the dispatcher sends nothing). Different, a row is enqueued whose idempotency key names the
period, a digest of its values and the run. The run is in the key because the same values can
be wanted again after others (A, then B, then A once more must write A again); the comparison,
not the key, is what keeps a re-run from enqueueing twice.

Contained per figure and per row: a figure the snapshot field cannot hold is left out of its
row (``report_periods``), which is written with the rest, and the period is put in quarantine
naming the figure; a row cmsync fails on is quarantined alone (``contain``) and the other
periods are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cmsync.config import ReportSettings
from cmsync.pipeline.contain import contained
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.streams.report_periods import SnapshotRow, recent_spans, snapshot_rows
from cmsync.storeio import in_store
from state import (
    OutboxItem,
    QuarantineItem,
    QuarantineKind,
    RecordRef,
    System,
    Transaction,
)
from state.writeplan import Operation

__all__ = ["ReportStats", "write_reports"]

_UNSET = object()  # a field the record is not known to hold: never equal to a value


@dataclass
class ReportStats:
    """What a report run read and enqueued."""

    dry_run: bool = False
    periods: tuple[str, ...] = ()
    rows: int = 0  # period rows computed from the metrics
    unchanged: int = 0  # rows equal to what their record holds (or is about to)
    enqueued: int = 0
    uncovered: int = 0  # periods the metrics API had no entry for
    left_out: int = 0  # figures left out of their row: the field cannot hold them
    quarantined: int = 0  # rows cmsync failed on (``contain``)
    changed: list[SnapshotRow] = field(default_factory=list)  # rows enqueued (or that would be)

    def describe(self) -> str:
        """One line: the periods, and how many rows were unchanged or (to be) written."""
        prefix = "dry run: " if self.dry_run else ""
        if not self.periods:
            return f"{prefix}reports disabled"
        verb = "would enqueue" if self.dry_run else "enqueued"
        count = len(self.changed) if self.dry_run else self.enqueued
        problems = "".join(
            f" {name}={n}"
            for name, n in (("left_out", self.left_out), ("quarantined", self.quarantined))
            if n
        )
        return (
            f"{prefix}periods={','.join(self.periods)} rows={self.rows} "
            f"unchanged={self.unchanged} {verb}={count} uncovered={self.uncovered}{problems}"
        )


def _known(
    tx: Transaction, settings: ReportSettings, rows: Sequence[SnapshotRow]
) -> dict[str, dict[str, Any]]:
    """Period key -> the values its record holds as far as cmsync knows (see the module doc)."""
    refs = [RecordRef(settings.object, row.span.key) for row in rows]
    known = {ref.record_id: dict(values) for ref, values in tx.last_written.get_many(refs).items()}
    wanted = {row.span.key for row in rows}
    waiting = tx.outbox.pending(target_system=System.SALESFORCE, kinds=(Operation.UPSERT.value,))
    for entry in waiting:  # id order: later rows win, as the dispatcher merges them
        if (
            entry.target_object == settings.object
            and entry.key_field == settings.period_key
            and entry.target_key in wanted
        ):
            known.setdefault(entry.target_key, {}).update(entry.payload)
    return known


def _left_out(tx: Transaction, rows: Sequence[SnapshotRow]) -> None:
    """A quarantine entry per period whose row goes without a figure, naming each."""
    for row in rows:
        if row.left_out:
            tx.quarantine.add(
                QuarantineItem(
                    kind=QuarantineKind.BAD_RECORD,
                    source=System.CHARTMOGUL,
                    record_key=f"Metrics:{row.span.key}",
                    reason=(
                        "ChartMogul metrics figures no snapshot field can hold, left out of "
                        f"the row (the rest is written): {'; '.join(row.left_out)}"[:2000]
                    ),
                    payload={"period": row.span.key, "written": dict(row.fields)},
                )
            )


def _plan(
    tx: Transaction,
    settings: ReportSettings,
    rows: Sequence[SnapshotRow],
    run_id: str,
    dry_run: bool,
) -> tuple[list[SnapshotRow], int, int]:
    """The rows that change their record, how many were enqueued (none in a dry run), and
    how many rows were quarantined instead."""
    known = _known(tx, settings, rows)
    changed = [
        row
        for row in rows
        if any(known.get(row.span.key, {}).get(n, _UNSET) != v for n, v in row.fields.items())
    ]
    if dry_run:
        return changed, 0, 0
    _left_out(tx, rows)  # unchanged rows too: the figure is missing from their record

    def enqueue(tx: Transaction, batch: Sequence[SnapshotRow]) -> int:
        return tx.outbox.enqueue(_items(settings, batch, run_id))

    done = contained(
        tx, changed, enqueue,
        key=lambda row: f"Metrics:{row.span.key}",
        payload=lambda row: {"period": row.span.key, "fields": repr(dict(row.fields))[:2000]},
    )  # fmt: skip
    return changed, sum(done.results), done.quarantined


def _items(settings: ReportSettings, rows: Sequence[SnapshotRow], run_id: str) -> list[OutboxItem]:
    return [
        OutboxItem(
            idempotency_key=f"report|{row.span.key}|{row.digest}|{run_id}",
            kind=Operation.UPSERT.value,
            target_system=System.SALESFORCE,
            target_object=settings.object,
            target_key=row.span.key,
            key_field=settings.period_key,
            payload=dict(row.fields),
            reason=f"KPI snapshot: {row.span.name} (ChartMogul metrics)",
        )
        for row in rows
    ]


async def write_reports(poll: PollContext, *, now: datetime) -> ReportStats:
    """Upsert a snapshot row for each of the last ``backfill`` periods of each configured
    kind (``poll.settings.reports``) whose figures differ from what the row holds; a dry run
    only says which."""
    chartmogul, store, settings = poll.chartmogul, poll.store, poll.settings.reports
    dry_run = poll.dry_run
    if not settings.enabled:
        return ReportStats(dry_run=dry_run)
    periods = tuple(dict.fromkeys(settings.periods))
    stats = ReportStats(dry_run=dry_run, periods=periods)
    today = now.astimezone(UTC).date()
    rows: list[SnapshotRow] = []
    for period in periods:
        spans = recent_spans(period, today, settings.backfill)
        start = spans[0].start
        key_metrics = await chartmogul.metrics(start, today, period)
        movements = await chartmogul.metrics(start, today, period, metric="mrr")
        found = snapshot_rows(spans, key_metrics.entries, movements.entries)
        stats.uncovered += len(spans) - len(found)
        rows.extend(found)
    stats.rows = len(rows)
    if rows:
        run_id = now.isoformat()
        stats.changed, stats.enqueued, stats.quarantined = await in_store(
            store, lambda tx: _plan(tx, settings, rows, run_id, dry_run)
        )
    stats.unchanged = stats.rows - len(stats.changed)
    stats.left_out = sum(len(row.left_out) for row in rows)
    return stats
