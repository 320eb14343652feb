"""What the dashboard shows, read from the store in one short read transaction.

Theory of operation. ``DataSource.poll`` runs in a thread worker once a second. It first asks
SQLite for ``PRAGMA data_version``, which changes only when another connection (the daemon, or
the dashboard's own command writer) has committed since the last look. If it is unchanged the
previous ``DashboardData`` is returned as it is: most polls cost one tiny query. Otherwise every
figure is read inside ONE ``snapshot()`` (one read transaction, so the panels agree with each
other) and the transaction ends at once, because a long reader holds back WAL checkpoints.
Every query is bounded by an index and a limit (see ``state.queries``), so a refresh stays
cheap with 100,000 accounts and a million outbox and audit rows.

The version is taken before the snapshot: a commit landing in between is read now or on the
next poll, never missed.

A daemon whose store refuses writes commits nothing, so ``data_version`` stands still: the
note it writes beside the store (``state.storehealth``) is read on every poll instead, a
small file, and shown with the last data.

A full read is a few tens of milliseconds on a big store, but counting a backlog of a million
pending outbox rows takes several hundred, and a busy daemon commits every second. So after a
read slower than ``SLOW_READ`` the timer's polls keep showing the last data for ``BACK_OFF``
times as long as that read took: the dashboard then costs at most about a fifth of a core,
and an operator's explicit refresh (``eager``) still reads at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from state import (
    AuditEntry,
    BudgetSnapshot,
    Command,
    CursorValue,
    Heartbeat,
    JobHealthRecord,
    JobRun,
    MinuteCount,
    OutboxCounts,
    OutboxEntry,
    QuarantineEntry,
    Queries,
    ReadOnlyStore,
    StageSummary,
    Store,
)
from state.storehealth import StoreHealthNote, read_note

__all__ = [
    "BACK_OFF",
    "SLOW_READ",
    "SPARK_MINUTES",
    "DashboardData",
    "DataSource",
    "Limits",
    "Source",
    "read_dashboard",
    "spark_start",
]

SPARK_MINUTES = 30  # the writes-per-minute sparkline's window
SLOW_READ = 0.1  # seconds; a full read slower than this makes the timer's polls back off
BACK_OFF = 5.0  # ... for this many times the read's duration


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Limits:
    """How many rows of each list one refresh reads (the tables show no more)."""

    feed: int = 50
    quarantine: int = 200
    dead_letters: int = 200
    commands: int = 100


@dataclass(frozen=True, slots=True)
class DashboardData:
    """Everything on screen, as of one read transaction."""

    read_at: datetime
    data_version: int
    heartbeat: Heartbeat | None = None
    jobs: tuple[JobRun, ...] = ()
    health: tuple[JobHealthRecord, ...] = ()  # per scheduled job, as the daemon last beat
    cursors: tuple[CursorValue, ...] = ()
    outbox: OutboxCounts = field(default_factory=OutboxCounts)
    writes_per_minute: tuple[MinuteCount, ...] = ()
    budgets: tuple[BudgetSnapshot, ...] = ()
    stages: tuple[StageSummary, ...] = ()
    pending_matches: int = 0
    feed: tuple[AuditEntry, ...] = ()  # newest first
    quarantine: tuple[QuarantineEntry, ...] = ()  # open entries, newest first
    dead_letters: tuple[OutboxEntry, ...] = ()  # newest first
    commands: tuple[Command, ...] = ()  # newest first
    store_note: StoreHealthNote | None = None  # the daemon cannot write the store: why

    @property
    def total_accounts(self) -> int:
        return sum(stage.accounts for stage in self.stages)

    @property
    def total_mrr_cents(self) -> int:
        return sum(stage.mrr_cents for stage in self.stages)


def read_dashboard(
    queries: Queries, *, now: datetime, data_version: int, limits: Limits = Limits()
) -> DashboardData:
    """All figures from ``queries`` (call inside one snapshot)."""
    return DashboardData(
        read_at=now,
        data_version=data_version,
        heartbeat=queries.heartbeat(),
        jobs=tuple(queries.latest_job_runs()),
        health=tuple(queries.job_health()),
        cursors=tuple(queries.cursors()),
        outbox=queries.outbox_counts(),
        writes_per_minute=tuple(queries.writes_per_minute(spark_start(now))),
        budgets=tuple(queries.budgets()),
        stages=tuple(queries.stage_summary()),
        pending_matches=queries.pending_match_count(),
        feed=tuple(queries.recent_audit(limits.feed)),
        quarantine=tuple(queries.quarantine(limit=limits.quarantine)),
        dead_letters=tuple(queries.dead_letters(limits.dead_letters)),
        commands=tuple(queries.recent_commands(limits.commands)),
    )


def spark_start(now: datetime) -> datetime:
    """The first minute of the sparkline's window ending with the current minute."""
    return now.replace(second=0, microsecond=0) - timedelta(minutes=SPARK_MINUTES - 1)


class Source(Protocol):
    """Where the dashboard's data comes from (a ``DataSource``, or a fake in tests)."""

    def poll(self, *, eager: bool = False) -> DashboardData: ...


class DataSource:
    """The store seen read-only, re-read only when someone committed.

    Opened on first use, so a dashboard started before the daemon ever ran shows "no store
    yet" and recovers by itself once the file appears. Safe to call from worker threads: polls
    are serialised. ``reads`` counts full re-reads (tests use it to see the short-circuit).
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], datetime] = _utc_now,
        limits: Limits = Limits(),
        busy_timeout: float = 5.0,
        slow_read: float = SLOW_READ,
        back_off: float = BACK_OFF,
    ) -> None:
        self.path = path
        self.reads = 0
        self._clock = clock
        self._limits = limits
        self._busy_timeout = busy_timeout
        self._slow_read = slow_read
        self._back_off = back_off
        self._store: ReadOnlyStore | None = None
        self._last: DashboardData | None = None
        self._quiet_until = 0.0  # time.monotonic() before which timer polls do not re-read
        self._lock = threading.Lock()

    def poll(self, *, eager: bool = False) -> DashboardData:
        """The latest data: the previous read if nothing was committed since.

        ``eager`` (an operator asked) ignores the back-off after a slow read, never the
        ``data_version`` check.
        """
        with self._lock:
            data = self._poll(eager)
            note = read_note(self.path)
            if data.store_note != note:
                data = replace(data, store_note=note)
                self._last = data
            return data

    def _poll(self, eager: bool) -> DashboardData:
        store = self._open()
        version = store.data_version()
        last = self._last
        if last is not None and last.data_version == version:
            return last
        if last is not None and not eager and time.monotonic() < self._quiet_until:
            return last
        started = time.monotonic()
        with store.snapshot() as queries:
            data = read_dashboard(
                queries, now=self._clock(), data_version=version, limits=self._limits
            )
        took = time.monotonic() - started
        self._quiet_until = started + self._back_off * took if took > self._slow_read else 0.0
        self.reads += 1
        self._last = data
        return data

    def _open(self) -> ReadOnlyStore:
        if self._store is None:
            self._store = Store.open_readonly(self.path, busy_timeout=self._busy_timeout)
        return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
