"""What happened and what was asked: job runs, dashboard commands, and the audit trail.

Commands are the dashboard's only way to act: it adds a row (retry, skip, resolve a match),
the daemon reads the new ones, carries each out and finishes it with a result, usually in the
same transaction as the action itself, so a command is done exactly when its effect is
committed. Job runs are kept for a retention period (``purge``); the audit trail is the record
of every write and is not purged here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from state import convert
from state.records import AuditItem, Command, CommandKind, CommandStatus, JobResult, JobRun
from state.sql import Part
from state.tables import AuditRow, CommandRow, JobRunRow, table_of

__all__ = ["ALREADY_HANDLED", "Audit", "Commands", "JobRuns"]

# How a command's result begins when its record was handled first by another command (a
# second operator's skip of a dead letter already skipped): it did nothing, and says so.
ALREADY_HANDLED = "already handled: "

_RUN = table_of(JobRunRow)
_CMD = table_of(CommandRow)
_AUDIT = table_of(AuditRow)


class JobRuns(Part):
    def start(self, job: str) -> int:
        """A run of ``job`` begins now; its id, for ``finish``."""
        result = self._conn.execute(
            insert(_RUN).values(job=job, started_at=self._now, detail="").returning(_RUN.c.id)
        )
        return int(result.scalar_one())

    def finish(self, run_id: int, result: JobResult, detail: str = "") -> JobRun:
        """The run ended now with ``result``; its duration is measured from its start."""
        started = self._conn.execute(
            select(_RUN.c.started_at).where(_RUN.c.id == run_id)
        ).scalar_one_or_none()
        if started is None:
            raise KeyError(f"no job run {run_id}")
        row = self._conn.execute(
            update(_RUN)
            .where(_RUN.c.id == run_id)
            .values(
                finished_at=self._now,
                result=result.value,
                detail=detail,
                duration_s=max(0.0, (self._now - started).total_seconds()),
            )
            .returning(*_RUN.c)
        ).one()
        return convert.job_run(row)

    def last_ok(self, job: str) -> datetime | None:
        """When the latest run of ``job`` that succeeded started (None: none did)."""
        stmt = (
            select(_RUN.c.started_at)
            .where(_RUN.c.job == job, _RUN.c.result == JobResult.OK.value)
            .order_by(_RUN.c.id.desc())
            .limit(1)
        )
        started: datetime | None = self._conn.execute(stmt).scalar_one_or_none()
        return started

    def purge(self, before: datetime) -> int:
        """Delete runs started before ``before``; how many."""
        return self._conn.execute(delete(_RUN).where(_RUN.c.started_at < before)).rowcount


class Commands(Part):
    def add(self, kind: CommandKind, target: str, args: Mapping[str, Any] | None = None) -> int:
        """Ask the daemon to do something; the command's id."""
        result = self._conn.execute(
            insert(_CMD)
            .values(
                kind=kind.value,
                target=target,
                args=dict(args or {}),
                status=CommandStatus.NEW.value,
                result=None,
                created_at=self._now,
                updated_at=self._now,
            )
            .returning(_CMD.c.id)
        )
        return int(result.scalar_one())

    def get(self, command_id: int) -> Command | None:
        row = self._conn.execute(select(_CMD).where(_CMD.c.id == command_id)).first()
        return None if row is None else convert.command(row)

    def new(self, limit: int = 100) -> list[Command]:
        """Commands not yet carried out, oldest first."""
        rows = self._conn.execute(
            select(_CMD)
            .where(_CMD.c.status == CommandStatus.NEW.value)
            .order_by(_CMD.c.id)
            .limit(limit)
        )
        return [convert.command(row) for row in rows]

    def handled(self, target: str, before: int) -> Command | None:
        """The newest command on ``target`` older than command ``before`` that was carried
        out: who acted on the record first, when a later command finds it handled already.
        Asked only for such a stale command (rare), so it needs no index of its own."""
        row = self._conn.execute(
            select(_CMD)
            .where(
                _CMD.c.target == target,
                _CMD.c.id < before,
                _CMD.c.status == CommandStatus.DONE.value,
            )
            .order_by(_CMD.c.id.desc())
            .limit(1)
        ).first()
        return None if row is None else convert.command(row)

    def finish(self, command_id: int, status: CommandStatus, result: str = "") -> bool:
        """Record the outcome of a new command; False if it was not new any more."""
        if status is CommandStatus.NEW:
            raise ValueError("a command finishes as done or failed")
        updated = self._conn.execute(
            update(_CMD)
            .where(_CMD.c.id == command_id, _CMD.c.status == CommandStatus.NEW.value)
            .values(status=status.value, result=result, updated_at=self._now)
        )
        return updated.rowcount > 0


class Audit(Part):
    def append(self, items: Iterable[AuditItem]) -> int:
        """Record writes made to an external system; how many entries were added."""
        params = [
            {
                "at": item.at or self._now,
                "system": item.system.value,
                "object": item.object,
                "record_id": item.record_id,
                "action": item.action,
                "fields": dict(item.fields),
                "reason": item.reason,
                "keys": item.keys,
            }
            for item in items
        ]
        if params:
            self._conn.execute(insert(_AUDIT), params)
        return len(params)
