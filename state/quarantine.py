"""Records an operator must look at: ambiguous matches, bad records, unwound Closed-Won deals,
values a Salesforce field cannot hold. (Illegal transitions are entries of earlier versions
only: the lifecycle now converges on what ChartMogul reports and opens none; the kind stays so
that an old store's entries can still be read, retried and skipped.)

At most one entry per (record key, kind, source) is open at a time (a partial unique index).
Adding it again while it is open refreshes the reason, candidates and payload with the latest
evidence and keeps its id, so a customer that stays ambiguous pass after pass is one row, not
one per pass. Once resolved or skipped, a new occurrence opens a new entry.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, text, update
from sqlalchemy.dialects.sqlite import insert as upsert

from state import convert
from state.records import QuarantineEntry, QuarantineItem, QuarantineKind, QuarantineStatus
from state.sql import Part, chunks, unique
from state.tables import QuarantineRow, table_of

__all__ = ["Quarantine"]

_Q = table_of(QuarantineRow)
_OPEN = QuarantineStatus.OPEN.value


# Built once (as a statement per call, building and keying it cost more than the write).
_UPSERT = upsert(_Q)
_ADD = _UPSERT.on_conflict_do_update(
    index_elements=[_Q.c.record_key, _Q.c.kind, _Q.c.source],
    index_where=text("status = 'open'"),
    set_={
        "reason": _UPSERT.excluded.reason,
        "candidates": _UPSERT.excluded.candidates,
        "payload": _UPSERT.excluded.payload,
        "updated_at": _UPSERT.excluded.updated_at,
    },
).returning(_Q.c.id)


class Quarantine(Part):
    def add(self, item: QuarantineItem) -> int:
        """Open (or refresh the open) entry for this record; its id."""
        params = {
            "kind": item.kind.value,
            "source": item.source.value,
            "record_key": item.record_key,
            "reason": item.reason,
            "candidates": list(item.candidates),
            "payload": dict(item.payload),
            "status": _OPEN,
            "resolution": None,
            "created_at": self._now,
            "updated_at": self._now,
        }
        return int(self._conn.execute(_ADD, params).scalar_one())

    def open_entry(self, record_key: str, kind: QuarantineKind) -> QuarantineEntry | None:
        """The open entry of that kind for ``record_key``, if any (to add to its evidence)."""
        row = self._conn.execute(
            select(_Q).where(
                _Q.c.record_key == record_key, _Q.c.kind == kind.value, _Q.c.status == _OPEN
            )
        ).first()
        return None if row is None else convert.quarantine_entry(row)

    def get(self, entry_id: int) -> QuarantineEntry | None:
        row = self._conn.execute(select(_Q).where(_Q.c.id == entry_id)).first()
        return None if row is None else convert.quarantine_entry(row)

    def open_for(self, record_key: str) -> list[QuarantineEntry]:
        """The open entries about one record (of any kind and source)."""
        rows = self._conn.execute(
            select(_Q).where(_Q.c.record_key == record_key, _Q.c.status == _OPEN)
        )
        return [convert.quarantine_entry(row) for row in rows]

    def open_keys(self, record_keys: Iterable[str]) -> set[str]:
        """Those of ``record_keys`` with an open entry of any kind: write nothing for them."""
        found: set[str] = set()
        for part in chunks(unique(record_keys)):
            rows = self._conn.execute(
                select(_Q.c.record_key).where(_Q.c.record_key.in_(part), _Q.c.status == _OPEN)
            )
            found.update(row.record_key for row in rows)
        return found

    def resolve(self, entry_id: int, resolution: str) -> bool:
        """Close an open entry as resolved, saying how; False if it was not open."""
        return self._close(entry_id, QuarantineStatus.RESOLVED, resolution)

    def resolve_open(self, record_key: str, kind: QuarantineKind, resolution: str) -> bool:
        """Close the open entry of this kind for the record, if there is one, as resolved."""
        result = self._conn.execute(
            update(_Q)
            .where(_Q.c.record_key == record_key, _Q.c.kind == kind.value, _Q.c.status == _OPEN)
            .values(status=QuarantineStatus.RESOLVED.value, resolution=resolution,
                    updated_at=self._now)
        )  # fmt: skip
        return result.rowcount > 0

    def skip(self, entry_id: int, note: str = "skipped by an operator") -> bool:
        """Close an open entry without acting on it; False if it was not open."""
        return self._close(entry_id, QuarantineStatus.SKIPPED, note)

    def _close(self, entry_id: int, status: QuarantineStatus, resolution: str) -> bool:
        result = self._conn.execute(
            update(_Q)
            .where(_Q.c.id == entry_id, _Q.c.status == _OPEN)
            .values(status=status.value, resolution=resolution, updated_at=self._now)
        )
        return result.rowcount > 0
