"""The daemon's figures as Prometheus metrics, on a registry of their own.

Most figures live in the store, so a custom collector reads them there at each scrape (or
textfile write), through a read-only connection of its own: a scrape sees what ``cmsync
status`` would, with the same cheap indexed reads (job health, latest step runs, cursors,
outbox counts, the open quarantine's count, the budgets). What the store does not hold is
kept in process: each job's last duration (set by the daemon as a run ends) and the writes
per system, object and operation, counted from the audit entries added since this process
started (one grouped read of the new entries per scrape; a counter that restarts with the
process, as Prometheus counters do and ``rate()`` expects).

A dedicated ``CollectorRegistry``, never the global one: the process-wide default would also
export the Python runtime's collectors into every test and would be shared by two daemons in
one test process.

Metric names (all prefixed ``cmsync_``; a timestamp in seconds since the epoch):
``job_failures_in_a_row{job}``, ``job_last_success_timestamp_seconds{job}``,
``job_last_duration_seconds{job}``, ``step_last_duration_seconds{step,result}``,
``cursor_lag_seconds{cursor}``, ``cursor_updated_timestamp_seconds{cursor}``,
``outbox_rows{status}`` (pending, retrying, in_flight, dead), ``quarantine_open``,
``unmatched_customers``, ``api_budget_used_calls{system}``,
``api_budget_remaining_calls{system}`` (of cmsync's share), ``api_budget_daily_max_calls{system}``,
``writes_total{system,object,operation}``, ``heartbeat_timestamp_seconds``, ``store_readable``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cmsync.status import cursor_lag
from state import Store

__all__ = ["StoreCollector", "metrics_registry"]

log = logging.getLogger("cmsync.metrics")

PREFIX = "cmsync_"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, labels=list(labels))


class StoreCollector(Collector):
    """Reads the store at each collection; ``start_writes_after`` sets where the writes
    counter begins (the newest audit id when the daemon started)."""

    def __init__(self, path: Path, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()  # a scrape and a textfile write may run together
        self._audit_seen = 0
        self._writes: dict[tuple[str, str, str], int] = {}

    def start_writes_after(self, audit_id: int) -> None:
        with self._lock:
            self._audit_seen = audit_id

    def collect(self) -> Iterator[Metric]:
        try:
            store = Store.open_readonly(self.path)
        except Exception as exc:  # no store yet, or one being migrated: said as a figure
            log.debug("metrics: the store cannot be read: %s", exc)
            readable = _gauge("store_readable", "1 when the store could be read for metrics.")
            readable.add_metric([], 0)
            yield readable
            return
        try:
            with store.snapshot() as q, self._lock:
                beat = q.heartbeat()
                health = q.job_health()
                runs = q.latest_job_runs()
                cursors = q.cursors()
                counts = q.outbox_counts()
                quarantined = q.quarantine_count()
                unmatched = q.pending_match_count()
                budgets = q.budgets()
                self._audit_seen, new = q.writes_after(self._audit_seen)
                for system, obj, action, count in new:
                    key = (system, obj, action)
                    self._writes[key] = self._writes.get(key, 0) + count
                writes = dict(self._writes)
        finally:
            store.close()
        now = self.clock()

        readable = _gauge("store_readable", "1 when the store could be read for metrics.")
        readable.add_metric([], 1)
        yield readable
        if beat is not None:
            stamp = _gauge("heartbeat_timestamp_seconds", "When the daemon last beat.")
            stamp.add_metric([], beat.beat_at.timestamp())
            yield stamp

        failures = _gauge(
            "job_failures_in_a_row", "Failed runs in a row of each scheduled job (0: up).", ("job",)
        )
        success = _gauge(
            "job_last_success_timestamp_seconds",
            "When each scheduled job last ran clean.",
            ("job",),
        )
        for record in health:
            failures.add_metric([record.job], record.failures)
            if record.last_success_at is not None:
                success.add_metric([record.job], record.last_success_at.timestamp())
        yield failures
        yield success

        steps = _gauge(
            "step_last_duration_seconds",
            "How long each sync step's latest finished run took, by its result.",
            ("step", "result"),
        )
        for run in runs:
            if run.duration_s is not None and run.result is not None:
                steps.add_metric([run.job, run.result.value], run.duration_s)
        yield steps

        lag = _gauge(
            "cursor_lag_seconds",
            "How far behind now the newest record each incremental cursor read is.",
            ("cursor",),
        )
        polled = _gauge(
            "cursor_updated_timestamp_seconds", "When each cursor last moved.", ("cursor",)
        )
        for cursor in cursors:
            polled.add_metric([cursor.name], cursor.updated_at.timestamp())
            behind = cursor_lag(cursor.value, now)
            if behind is not None:
                lag.add_metric([cursor.name], behind)
        yield lag
        yield polled

        outbox = _gauge("outbox_rows", "Outbox rows by status.", ("status",))
        for status, count in (
            ("pending", counts.pending),
            ("retrying", counts.retrying),
            ("in_flight", counts.in_flight),
            ("dead", counts.dead),
        ):
            outbox.add_metric([status], count)
        yield outbox

        quarantine = _gauge("quarantine_open", "Records held in quarantine, not yet resolved.")
        quarantine.add_metric([], quarantined)
        yield quarantine
        pending = _gauge("unmatched_customers", "ChartMogul customers matched to no Account.")
        pending.add_metric([], unmatched)
        yield pending

        used = _gauge("api_budget_used_calls", "API calls used in the rolling day.", ("system",))
        left = _gauge(
            "api_budget_remaining_calls",
            "API calls cmsync may still use in the rolling day (its share of the maximum).",
            ("system",),
        )
        top = _gauge("api_budget_daily_max_calls", "The daily API call allocation.", ("system",))
        for budget in budgets:
            system = budget.system.value
            used.add_metric([system], budget.used)
            left.add_metric([system], max(0.0, budget.max * budget.share - budget.used))
            top.add_metric([system], budget.max)
        yield used
        yield left
        yield top

        written = CounterMetricFamily(
            PREFIX + "writes",
            "Writes recorded in the audit since this process started, by system, object and "
            "operation.",
            labels=["system", "object", "operation"],
        )
        for (system, obj, action), count in sorted(writes.items()):
            written.add_metric([system, obj, action], count)
        yield written


def metrics_registry(collector: StoreCollector) -> tuple[CollectorRegistry, Gauge]:
    """A registry of the store's figures and the in-process job durations (the gauge the
    daemon sets as each run ends)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    durations = Gauge(
        PREFIX + "job_last_duration_seconds",
        "How long each scheduled job's last run took, in this process.",
        ["job"],
        registry=registry,
    )
    return registry, durations
