"""Cursors, the last value written per field, and the daemon's heartbeat, jobs' health and
API budgets.

Last written: the dispatcher merges a record's pending field updates, asks ``get_many`` what
each field last held, and sends only the fields whose value differs; after a successful write
it records the values with ``put_many`` (in the same transaction that marks the outbox rows
done). Values are compared as decoded JSON, so send them as they go on the wire (ISO dates,
numbers), not as Python objects JSON cannot hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import TextualSelect, delete, select, text, update
from sqlalchemy.dialects.sqlite import insert as upsert

from state import convert
from state.alerting import Sent
from state.jobhealth import JobHealthRecord
from state.records import BudgetSnapshot, FieldWrite, Heartbeat, RecordRef, System
from state.sql import PAIRS, Part, chunks, pair_params, pairs_where, unique
from state.tables import (
    AlertSentRow,
    ApiBudgetRow,
    CursorRow,
    HeartbeatRow,
    JobHealthRow,
    LastWrittenRow,
    table_of,
)

__all__ = ["Cursors", "DaemonStatus", "LastWritten"]

_CURSOR = table_of(CursorRow)
_LAST = table_of(LastWrittenRow)
_BEAT = table_of(HeartbeatRow)
_BUDGET = table_of(ApiBudgetRow)
_HEALTH = table_of(JobHealthRow)
_ALERT = table_of(AlertSentRow)


class Cursors(Part):
    """Named positions in a source feed; the value is opaque text its owner defines."""

    def get(self, name: str) -> str | None:
        value = self._conn.execute(select(_CURSOR.c.value).where(_CURSOR.c.name == name))
        found = value.scalar_one_or_none()
        return None if found is None else str(found)

    def set(self, name: str, value: str) -> None:
        self._conn.execute(_SET_CURSOR, {"name": name, "value": value, "updated_at": self._now})


# Built once: built per call, the statement cost 0.2 ms to build and key for the
# compiled-statement cache (8x the write itself), on every page of every poller.
_UPSERT_CURSOR = upsert(_CURSOR)
_SET_CURSOR = _UPSERT_CURSOR.on_conflict_do_update(
    index_elements=[_CURSOR.c.name],
    set_={"value": _UPSERT_CURSOR.excluded.value, "updated_at": _UPSERT_CURSOR.excluded.updated_at},
)


_UPSERT_HEALTH = upsert(_HEALTH)
_PUT_HEALTH = _UPSERT_HEALTH.on_conflict_do_update(
    index_elements=[_HEALTH.c.job],
    set_={
        name: _UPSERT_HEALTH.excluded[name]
        for name in ("failures", "last_success_at", "last_error", "last_error_at", "updated_at")
    },
)

_UPSERT_LAST = upsert(_LAST)
_PUT_LAST = _UPSERT_LAST.on_conflict_do_update(
    index_elements=[_LAST.c.object, _LAST.c.record_id, _LAST.c.field],
    set_={"value": _UPSERT_LAST.excluded.value, "written_at": _UPSERT_LAST.excluded.written_at},
)


@lru_cache(maxsize=PAIRS)
def _last_query(count: int) -> TextualSelect:
    where = pairs_where("object", "record_id", count)
    columns = (_LAST.c.object, _LAST.c.record_id, _LAST.c.field, _LAST.c.value)
    names = ", ".join(f'"{c.name}"' for c in columns)
    sql = f"SELECT {names} FROM {_LAST.name} WHERE {where}"  # noqa: S608 (names only; values are bound)
    return text(sql).columns(*columns)


class LastWritten(Part):
    """(object, record id, field) -> the value last sent there."""

    def get_many(self, records: Iterable[RecordRef]) -> dict[RecordRef, dict[str, Any]]:
        """Each asked-for record that has any remembered field, with its fields' values."""
        found: dict[RecordRef, dict[str, Any]] = {}
        wanted = unique((r.object, r.record_id) for r in records)
        for part in chunks(wanted, PAIRS):
            rows = self._conn.execute(_last_query(len(part)), pair_params(part))
            for row in rows:
                found.setdefault(RecordRef(row.object, row.record_id), {})[row.field] = row.value
        return found

    def put_many(self, writes: Iterable[FieldWrite]) -> None:
        params = [
            {
                "object": w.object,
                "record_id": w.record_id,
                "field": w.field,
                "value": w.value,
                "written_at": self._now,
            }
            for w in writes
        ]
        if not params:
            return
        self._conn.execute(_PUT_LAST, params)

    def forget(self, records: Iterable[RecordRef]) -> int:
        """Drop what is remembered for these records (their next write sends every field).

        For when the remembered values are known to be wrong, e.g. reconciliation found
        someone edited the record by hand.
        """
        wanted = unique((r.object, r.record_id) for r in records)
        removed = 0
        for part in chunks(wanted, PAIRS):
            where = pairs_where("object", "record_id", len(part))
            sql = f"DELETE FROM {_LAST.name} WHERE {where}"  # noqa: S608 (names only; values are bound)
            result = self._conn.execute(text(sql), pair_params(part))
            removed += result.rowcount
        return removed


class DaemonStatus(Part):
    """The one heartbeat row and the API budget snapshots the dashboard shows."""

    def beat(
        self,
        pid: int,
        started_at: datetime,
        target: str,
        *,
        monotonic: float | None = None,
        boot_id: str | None = None,
    ) -> None:
        """``monotonic``, ``boot_id``: the daemon's monotonic clock and boot (state.liveness)."""
        values = {
            "pid": pid,
            "started_at": started_at,
            "beat_at": self._now,
            "stopped_at": None,
            "target": target,
            "beat_monotonic": monotonic,
            "boot_id": boot_id,
        }
        stmt = upsert(_BEAT).values(id=1, **values)
        self._conn.execute(stmt.on_conflict_do_update(index_elements=[_BEAT.c.id], set_=values))

    def stopped(self) -> None:
        """Record a clean shutdown, so the dashboard says "stopped" rather than "stale"."""
        self._conn.execute(update(_BEAT).values(stopped_at=self._now))

    def heartbeat(self) -> Heartbeat | None:
        row = self._conn.execute(select(_BEAT)).first()
        return None if row is None else convert.heartbeat(row)

    def put_health(self, records: Iterable[JobHealthRecord], *, complete: bool = False) -> None:
        """Jobs' health as the daemon holds it now. ``complete``: these are all its jobs, and a
        job it no longer runs is dropped (a renamed or removed job must not stay on the
        dashboard as failing forever)."""
        rows = [
            {
                "job": r.job,
                "failures": r.failures,
                "last_success_at": r.last_success_at,
                "last_error": r.last_error,
                "last_error_at": r.last_error_at,
                "updated_at": self._now,
            }
            for r in records
        ]
        if complete:
            jobs = [row["job"] for row in rows]
            self._conn.execute(delete(_HEALTH).where(_HEALTH.c.job.not_in(jobs)))
        if rows:
            self._conn.execute(_PUT_HEALTH, rows)

    def health(self) -> list[JobHealthRecord]:
        rows = self._conn.execute(select(_HEALTH).order_by(_HEALTH.c.job))
        return [convert.job_health(row) for row in rows]

    def alerts_sent(self) -> dict[str, Sent]:
        """The alerts sent and not yet cleared, by condition (``state.alerting``)."""
        rows = self._conn.execute(select(_ALERT))
        return {row.condition: Sent(row.condition, int(row.mark), row.text) for row in rows}

    def alert_sent(self, sent: Sent) -> None:
        values = {"mark": sent.mark, "text": sent.text, "sent_at": self._now}
        stmt = upsert(_ALERT).values(condition=sent.key, **values)
        self._conn.execute(
            stmt.on_conflict_do_update(index_elements=[_ALERT.c.condition], set_=values)
        )

    def alert_cleared(self, key: str) -> None:
        self._conn.execute(delete(_ALERT).where(_ALERT.c.condition == key))

    def put_budget(self, snapshot: BudgetSnapshot) -> None:
        values = {
            "used": snapshot.used,
            "max": snapshot.max,
            "share": snapshot.share,
            "updated_at": snapshot.updated_at or self._now,
        }
        stmt = upsert(_BUDGET).values(system=snapshot.system.value, **values)
        self._conn.execute(
            stmt.on_conflict_do_update(index_elements=[_BUDGET.c.system], set_=values)
        )

    def budget(self, system: System) -> BudgetSnapshot | None:
        row = self._conn.execute(select(_BUDGET).where(_BUDGET.c.system == system.value)).first()
        return None if row is None else convert.budget(row)
