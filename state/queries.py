"""Read-side queries for the dashboard and ``cmsync status``.

Each is bounded by an index (see ``tables.py``) and a ``limit``, so they stay fast with
100,000 accounts and a million outbox and audit rows: recent rows come from the end of an id
index, per-status rows from ``(status, id)``, the lifecycle summary from a covering index, and
writes per minute from a range of the ``at`` index. The two that visit every row of an index
(finished outbox rows, on request; accounts per stage) read only the index, never the table.
Use them inside ``ReadOnlyStore.snapshot()`` (or ``tx.queries`` in a writer transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, func, select

from state import convert
from state.jobhealth import JobHealthRecord
from state.outbox import count_outbox
from state.records import (
    AuditEntry,
    BudgetSnapshot,
    Command,
    CursorValue,
    Heartbeat,
    JobRun,
    MinuteCount,
    OutboxCounts,
    OutboxEntry,
    OutboxStatus,
    QuarantineEntry,
    QuarantineStatus,
    StageSummary,
)
from state.tables import (
    ApiBudgetRow,
    AuditRow,
    CommandRow,
    CursorRow,
    HeartbeatRow,
    JobHealthRow,
    JobRunRow,
    OutboxRow,
    PendingMatchRow,
    QuarantineRow,
    StageTotalRow,
    table_of,
)

__all__ = ["Queries"]

_AUDIT = table_of(AuditRow)
_OUT = table_of(OutboxRow)
_Q = table_of(QuarantineRow)
_TOTAL = table_of(StageTotalRow)
_CURSOR = table_of(CursorRow)
_RUN = table_of(JobRunRow)
_CMD = table_of(CommandRow)
_BEAT = table_of(HeartbeatRow)
_HEALTH = table_of(JobHealthRow)
_BUDGET = table_of(ApiBudgetRow)
_PENDING = table_of(PendingMatchRow)

_MINUTE = 16  # len("2024-05-01T12:00"): stored timestamps are fixed-width ISO text


class Queries:
    """Reads over one connection; every method is one or two indexed statements."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def outbox_counts(self, *, finished: bool = False) -> OutboxCounts:
        """Pending, retrying, in flight, dead; done and skipped too if ``finished``.

        Counting finished rows reads their whole index range (about 80 ms per million rows):
        ask for them in ``cmsync status``, not on every dashboard refresh.
        """
        return count_outbox(self._conn, finished=finished)

    def dead_letters(self, limit: int = 200) -> list[OutboxEntry]:
        """Dead outbox rows, newest first."""
        rows = self._conn.execute(
            select(_OUT)
            .where(_OUT.c.status == OutboxStatus.DEAD.value)
            .order_by(_OUT.c.id.desc())
            .limit(limit)
        )
        return [convert.outbox_entry(row) for row in rows]

    def quarantine(
        self, status: QuarantineStatus = QuarantineStatus.OPEN, limit: int = 200
    ) -> list[QuarantineEntry]:
        """Quarantine entries with ``status``, newest first."""
        rows = self._conn.execute(
            select(_Q).where(_Q.c.status == status.value).order_by(_Q.c.id.desc()).limit(limit)
        )
        return [convert.quarantine_entry(row) for row in rows]

    def recent_audit(self, limit: int = 50) -> list[AuditEntry]:
        """The latest writes, newest first."""
        rows = self._conn.execute(select(_AUDIT).order_by(_AUDIT.c.id.desc()).limit(limit))
        return [convert.audit_entry(row) for row in rows]

    def audit_after(self, after_id: int, limit: int = 500) -> list[AuditEntry]:
        """Writes recorded after entry ``after_id``, oldest first (a live feed's next rows)."""
        rows = self._conn.execute(
            select(_AUDIT).where(_AUDIT.c.id > after_id).order_by(_AUDIT.c.id).limit(limit)
        )
        return [convert.audit_entry(row) for row in rows]

    def record_history(self, object_name: str, record_id: str, limit: int = 50) -> list[AuditEntry]:
        """What was written to one record, newest first."""
        rows = self._conn.execute(
            select(_AUDIT)
            .where(_AUDIT.c.object == object_name, _AUDIT.c.record_id == record_id)
            .order_by(_AUDIT.c.id.desc())
            .limit(limit)
        )
        return [convert.audit_entry(row) for row in rows]

    def writes_per_minute(self, since: datetime) -> list[MinuteCount]:
        """Audit entries per minute from ``since`` on (minutes without writes are absent)."""
        minute = func.substr(_AUDIT.c.at, 1, _MINUTE).label("minute")
        rows = self._conn.execute(
            select(minute, func.count())
            .where(_AUDIT.c.at >= since)
            .group_by(minute)
            .order_by(minute)
        )
        return [
            MinuteCount(datetime.fromisoformat(f"{text}:00+00:00"), int(count))
            for text, count in rows
        ]

    def stage_summary(self) -> list[StageSummary]:
        """Accounts and their MRR per lifecycle state, by state name (kept by triggers)."""
        rows = self._conn.execute(
            select(_TOTAL.c.lifecycle_state, _TOTAL.c.accounts, _TOTAL.c.mrr_cents)
            .where(_TOTAL.c.accounts > 0)
            .order_by(_TOTAL.c.lifecycle_state)
        )
        return [StageSummary(state, int(n), int(mrr)) for state, n, mrr in rows]

    def pending_match_count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(_PENDING)).scalar_one())

    def cursors(self) -> list[CursorValue]:
        rows = self._conn.execute(select(_CURSOR).order_by(_CURSOR.c.name))
        return [CursorValue(row.name, row.value, row.updated_at) for row in rows]

    def latest_job_runs(self) -> list[JobRun]:
        """The most recent run of each job, by job name."""
        latest = select(func.max(_RUN.c.id)).group_by(_RUN.c.job).scalar_subquery()
        rows = self._conn.execute(select(_RUN).where(_RUN.c.id.in_(latest)).order_by(_RUN.c.job))
        return [convert.job_run(row) for row in rows]

    def job_runs(self, job: str, limit: int = 20) -> list[JobRun]:
        """One job's runs, newest first."""
        rows = self._conn.execute(
            select(_RUN).where(_RUN.c.job == job).order_by(_RUN.c.id.desc()).limit(limit)
        )
        return [convert.job_run(row) for row in rows]

    def recent_commands(self, limit: int = 50) -> list[Command]:
        rows = self._conn.execute(select(_CMD).order_by(_CMD.c.id.desc()).limit(limit))
        return [convert.command(row) for row in rows]

    def heartbeat(self) -> Heartbeat | None:
        row = self._conn.execute(select(_BEAT)).first()
        return None if row is None else convert.heartbeat(row)

    def job_health(self) -> list[JobHealthRecord]:
        """Each scheduled job's health as the daemon last wrote it, by job name."""
        rows = self._conn.execute(select(_HEALTH).order_by(_HEALTH.c.job))
        return [convert.job_health(row) for row in rows]

    def quarantine_count(self, status: QuarantineStatus = QuarantineStatus.OPEN) -> int:
        """Entries with ``status``, counted on the ``(status, id)`` index."""
        return int(
            self._conn.execute(
                select(func.count()).select_from(_Q).where(_Q.c.status == status.value)
            ).scalar_one()
        )

    def newest_id(self, kind: Literal["dead", "quarantine", "audit"]) -> int:
        """The id of the newest dead letter, open quarantine entry or audit entry, 0 if none:
        what alerts compare to tell new items from old, and where a writes count begins."""
        if kind == "audit":
            found = self._conn.execute(select(func.max(_AUDIT.c.id))).scalar_one()
            return int(found or 0)
        if kind == "dead":
            table, where = _OUT, _OUT.c.status == OutboxStatus.DEAD.value
        else:
            table, where = _Q, _Q.c.status == QuarantineStatus.OPEN.value
        found = self._conn.execute(select(func.max(table.c.id)).where(where)).scalar_one()
        return int(found or 0)

    def writes_after(self, after_id: int) -> tuple[int, list[tuple[str, str, str, int]]]:
        """Audit entries after ``after_id`` counted per (system, object, action), and the
        newest id counted: the metrics' writes counter reads only what is new each time."""
        newest = self._conn.execute(select(func.max(_AUDIT.c.id))).scalar_one()
        if newest is None or newest <= after_id:
            return after_id, []
        rows = self._conn.execute(
            select(_AUDIT.c.system, _AUDIT.c.object, _AUDIT.c.action, func.count())
            .where(_AUDIT.c.id > after_id, _AUDIT.c.id <= newest)
            .group_by(_AUDIT.c.system, _AUDIT.c.object, _AUDIT.c.action)
        )
        return int(newest), [(s, o, a, int(n)) for s, o, a, n in rows]

    def budgets(self) -> list[BudgetSnapshot]:
        rows = self._conn.execute(select(_BUDGET).order_by(_BUDGET.c.system))
        return [convert.budget(row) for row in rows]
