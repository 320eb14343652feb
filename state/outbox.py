"""The outbox: effects waiting to be sent, and the dispatcher's moves between statuses.

Theory of operation. The pipeline enqueues effects in the same transaction as the state that
produced them; each has an idempotency key derived from its signal, and enqueueing a key that
exists already is a no-op, so replaying a page adds nothing. The dispatcher claims due rows
(``pending`` and ``next_attempt_at <= now``, lowest id first) which makes them ``in_flight``,
commits that, sends them outside any transaction (a unit of work is never held open across a
network call: it holds the write lock), then in one more transaction records each row's fate
together with the audit entries and last-written values the sends produced:

    pending --claim_due--> in_flight --mark_done--> done
                           in_flight --retry_later--> pending (attempts + 1, later)
                           in_flight --mark_dead--> dead (attempts + 1, reason)
                           in_flight --release--> pending (unsent: attempts, error kept)
    dead --retry_dead (operator)--> pending (attempts reset)
    dead --skip_dead (operator)--> skipped
    in_flight --requeue_in_flight (after a crash)--> pending

A fate for a row that is not in flight means the caller lost track of it (say a requeue ran
meanwhile): the whole transaction is refused with ``OutboxTransitionError`` rather than
guessing. ``requeue_in_flight`` is on demand, not automatic at open: the dashboard opens a
writer too (for commands), and must not requeue the rows a running daemon is sending. The
daemon calls it once at start-up, after it has made sure it is the only daemon.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)

from state import convert
from state.columns import utc_text
from state.errors import OutboxTransitionError
from state.records import (
    OutboxCounts,
    OutboxDead,
    OutboxEntry,
    OutboxItem,
    OutboxRetry,
    OutboxStatus,
    System,
)
from state.rowcodec import ParamsWriter, Statements
from state.sql import CHUNK, Part, chunks, marks, unique
from state.tables import MergedKeyRow, OutboxRow, table_of
from state.vanished import Repoint
from state.writeplan import Operation

__all__ = ["Outbox", "count_outbox"]

_OUT = table_of(OutboxRow)
_MERGED_KEY = table_of(MergedKeyRow)
_PENDING = OutboxStatus.PENDING.value
_IN_FLIGHT = OutboxStatus.IN_FLIGHT.value
_DEAD = OutboxStatus.DEAD.value
_SelectT = TypeVar("_SelectT", bound=Select[Any])
# The enqueue's three writes as plain executemany on tuples, converted as the column types
# would: a page of a catch-up enqueues ~150 rows, and SQLAlchemy's per-parameter processing of
# them was the largest part of ``enqueue``. The insert's columns, text and conversions come
# from the table's definition (``state.rowcodec``).
_ENQUEUE = ParamsWriter(_OUT, omit=("id",))
_ENQUEUE_SQL = _ENQUEUE.insert_sql(or_ignore=("idempotency_key",))
# New values joining a waiting row: its payload, reason and merged keys, by id.
_JOIN = ParamsWriter(_OUT, only=("updated_at", "payload", "reason", "merged_keys", "id"))
_JOIN_SQL = _JOIN.update_sql()
_ADD_MERGED_KEY = ParamsWriter(_MERGED_KEY)
_ADD_MERGED_KEYS_SQL = _ADD_MERGED_KEY.insert_sql()
_MERGED = Operation.UPDATE.value  # the kind whose rows merge: a set of field values
_REASON_CHARS = 500  # a merged row's reasons, joined, are cut to this
_KEYS_CHARS = 2000  # and its merged keys


def _mergeable(item: OutboxItem) -> bool:
    return (
        item.kind == _MERGED and item.target_system is System.SALESFORCE and item.not_before is None
    )


@dataclass(frozen=True, slots=True)
class _OpenRow:
    """A record's newest open row; ``payload`` is None unless new values may join it."""

    id: int
    payload: dict[str, Any] | None = None
    reason: str = ""
    merged_keys: str = ""


# The enqueue's reads, plain too (the IN lists vary in length on every page), their names
# from the tables' definitions; ``{0}`` stands for an IN list's placeholders.
# A record's open rows, with what a merge needs of them (payload, reason, merged keys) and
# whether new values may join it: waiting, never tried, due, an update. One statement: the
# rows' own page is read for their status anyway, and a catch-up merges into nearly every
# record's open row (a second read of those rows by id was a tenth of ``enqueue``). Not
# ordered: SQLite would sort the rows, payloads and all, in a temporary b-tree; the newest
# (highest id) is picked as they come.
_OPEN = Statements(
    _OUT,
    ("id", "target_system", "target_object", "target_key", "payload", "reason", "merged_keys"),
)
_JOINABLE = (
    f"({_OPEN.name('kind')} = ? AND {_OPEN.name('status')} = ? AND {_OPEN.name('attempts')} = 0"
    f" AND {_OPEN.name('next_attempt_at')} <= ?) AS joinable"
)
_OPEN_ROWS_SQL = _OPEN.select_in_sql(
    "target_key", computed=_JOINABLE, where=f"{_OPEN.name('status')} IN (?, ?)"
)
_READ_PAYLOAD = _OPEN.reader("payload")
_KEYS_SEEN_SQL = " UNION ALL ".join(
    Statements(table, ("idempotency_key",)).select_in_sql("idempotency_key")
    for table in (_OUT, _MERGED_KEY)
)


def _merge(into: dict[str, Any], item: OutboxItem, payload: str, reason: str) -> None:
    """``item``'s fields over those of the row ``into`` (insert or update parameters)."""
    into[payload] = {**into[payload], **item.payload}
    into[reason] = _joined(into[reason], item.reason)
    into["merged_keys"] = _joined(into["merged_keys"], item.idempotency_key, _KEYS_CHARS)


def _joined(reasons: str, reason: str, limit: int = _REASON_CHARS) -> str:
    if not reason or reason in reasons:
        return reasons
    text = f"{reasons}; {reason}" if reasons else reason
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _insert_params(item: OutboxItem, now: datetime) -> dict[str, Any]:
    return {
        "idempotency_key": item.idempotency_key,
        "kind": item.kind,
        "target_system": item.target_system.value,
        "target_object": item.target_object,
        "target_key": item.target_key,
        "key_field": item.key_field,
        "payload": dict(item.payload),
        "reason": item.reason,
        "status": _PENDING,
        "attempts": 0,
        "next_attempt_at": item.not_before or now,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
        "merged_keys": "",
    }


def count_outbox(conn: Connection, *, finished: bool = False) -> OutboxCounts:
    """Rows per status, each a range of the status index.

    Done and skipped rows are the bulk of a busy outbox (a million before a purge), so they
    are counted only when ``finished`` is asked for; otherwise those two counts are None and
    the cost is proportional to the rows still in play.
    """
    wanted = [_PENDING, _IN_FLIGHT, _DEAD]
    if finished:
        wanted += [OutboxStatus.DONE.value, OutboxStatus.SKIPPED.value]
    rows = conn.execute(
        select(_OUT.c.status, func.count()).where(_OUT.c.status.in_(wanted)).group_by(_OUT.c.status)
    )
    by_status: dict[str, int] = {status: int(n) for status, n in rows}
    retrying = conn.execute(
        select(func.count()).where(_OUT.c.status == _PENDING, _OUT.c.attempts > 0)
    ).scalar_one()
    return OutboxCounts(
        pending=by_status.get(_PENDING, 0),
        retrying=int(retrying),
        in_flight=by_status.get(_IN_FLIGHT, 0),
        dead=by_status.get(_DEAD, 0),
        done=by_status.get(OutboxStatus.DONE.value, 0) if finished else None,
        skipped=by_status.get(OutboxStatus.SKIPPED.value, 0) if finished else None,
    )


def _narrow(
    stmt: _SelectT, target_system: System | None, kinds: Collection[str] | None
) -> _SelectT:
    if target_system is not None:
        stmt = stmt.where(_OUT.c.target_system == target_system.value)
    if kinds is not None:
        stmt = stmt.where(_OUT.c.kind.in_(list(kinds)))
    return stmt


class Outbox(Part):
    def enqueue(self, items: Iterable[OutboxItem], *, remember_merged: bool = True) -> int:
        """Add effects; keys already present are ignored. Returns how many were accepted.

        A Salesforce field update for a record that already has one waiting (pending, never
        tried, due, and the record's newest open row) is merged into that row instead of
        added: its fields overwrite the older values, as the dispatcher's own merge would do
        at send time. A catch-up makes about five updates per Account; merged, the outbox
        holds one row per Account instead, which the dispatcher claims and settles at a
        fraction of the cost. A row already in flight or waiting on a retry is never
        touched: the new values get a row of their own behind it.

        A merged item's key is remembered (``merged_key``) so that enqueuing it again is
        ignored too. A caller that already makes that impossible in the same transaction
        passes ``remember_merged=False``: the lifecycle's effects are keyed by their signal,
        which it marks applied alongside, and a row per merged update was a quarter of a
        catch-up's disk writes (one random insert into a large index per activity).
        """
        batch = list(items)
        if not batch:
            return 0
        fresh = self._new_keys(batch)
        if not fresh:
            return 0
        now = self._now
        open_rows = self._open_rows([i.target_key for i in fresh if _mergeable(i)])
        merges: dict[int, dict[str, Any]] = {}
        inserts: list[dict[str, Any]] = []
        added: dict[tuple[str, str, str], dict[str, Any]] = {}  # target -> its insert
        for item in fresh:
            target = (item.target_system.value, item.target_object, item.target_key)
            if _mergeable(item):
                if target in added:  # a second update in this batch joins the first
                    _merge(added[target], item, "payload", "reason")
                    continue
                row = open_rows.get(target)
                if row is not None and row.payload is not None:
                    into = merges.setdefault(
                        row.id,
                        {
                            "id": row.id,
                            "payload": row.payload,
                            "reason": row.reason,
                            "merged_keys": row.merged_keys,
                        },
                    )
                    _merge(into, item, "payload", "reason")
                    continue
            params = _insert_params(item, now)
            if _mergeable(item):
                added[target] = params
            inserts.append(params)
        inserted = {p["idempotency_key"] for p in inserts}
        if remember_merged:
            merged = [i for i in fresh if i.idempotency_key not in inserted]
            if merged:
                rows = _ADD_MERGED_KEY.rows_of(merged, created_at=now)
                self._conn.exec_driver_sql(_ADD_MERGED_KEYS_SQL, rows)
        if merges:
            joins = _JOIN.rows(merges.values(), updated_at=now)
            self._conn.exec_driver_sql(_JOIN_SQL, joins)
        if inserts:
            self._conn.exec_driver_sql(_ENQUEUE_SQL, [_ENQUEUE.row(p) for p in inserts])
        return len(fresh)

    def _new_keys(self, batch: list[OutboxItem]) -> list[OutboxItem]:
        """The items whose keys the outbox has not seen (the first of repeats in ``batch``)."""
        seen: set[str] = set()
        for part in chunks(unique(i.idempotency_key for i in batch)):
            sql = _KEYS_SEEN_SQL.format(marks(len(part)))
            seen.update(key for (key,) in self._conn.exec_driver_sql(sql, (*part, *part)))
        fresh = []
        for item in batch:
            if item.idempotency_key not in seen:
                seen.add(item.idempotency_key)
                fresh.append(item)
        return fresh

    def _open_rows(self, keys: list[str]) -> dict[tuple[str, str, str], _OpenRow]:
        """Per (system, object, key) of those records, the newest pending or in-flight row:
        its id, and its payload, reason and merged keys if new values may join it."""
        newest: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        now = self._now
        for part in chunks(unique(keys)):
            sql = _OPEN_ROWS_SQL.format(marks(len(part)))
            params = (_MERGED, _PENDING, utc_text(now), *part, _PENDING, _IN_FLIGHT)
            for row in self._conn.exec_driver_sql(sql, params):
                target = (row[1], row[2], row[3])
                held = newest.get(target)
                if held is None or row[0] > held[0]:
                    newest[target] = row
        return {
            target: (
                _OpenRow(id_, dict(_READ_PAYLOAD(payload) or {}), reason, merged)
                if joins
                else _OpenRow(id_)
            )
            for target, (id_, _, _, _, payload, reason, merged, joins) in newest.items()
        }

    def get(self, entry_id: int) -> OutboxEntry | None:
        row = self._conn.execute(select(_OUT).where(_OUT.c.id == entry_id)).first()
        return None if row is None else convert.outbox_entry(row)

    def claim_due(
        self,
        limit: int,
        *,
        target_system: System | None = None,
        kinds: Collection[str] | None = None,
    ) -> list[OutboxEntry]:
        """Up to ``limit`` due pending rows, lowest id first, now ``in_flight``.

        ``target_system`` and ``kinds`` narrow the rows to one consumer's (None: any).
        """
        due = _narrow(
            select(_OUT.c.id).where(_OUT.c.status == _PENDING, _OUT.c.next_attempt_at <= self._now),
            target_system,
            kinds,
        )
        stmt = (
            update(_OUT)
            .where(_OUT.c.id.in_(due.order_by(_OUT.c.id).limit(limit).scalar_subquery()))
            .values(status=_IN_FLIGHT, updated_at=self._now)
            .returning(*_OUT.c)
        )
        rows = sorted(self._conn.execute(stmt), key=lambda row: int(row.id))
        return [convert.outbox_entry(row) for row in rows]

    def claim_records(
        self,
        limit: int,
        *,
        target_system: System | None = None,
        kinds: Collection[str] | None = None,
    ) -> tuple[list[OutboxEntry], bool]:
        """Every due row of the records due first, at most ``limit`` rows, now ``in_flight``;
        and whether due rows were left behind (the window is full).

        A record is a ``target_key`` (a record Id, or an upsert's External ID value). Records
        are taken in the order of their lowest due id, each with all of its due rows, while
        the rows fit in ``limit``: so a record's pending changes are claimed together and
        merged into one write, instead of being split across windows by id order (which
        wrote a busy Account once per window). A first record with more due rows than
        ``limit`` is the exception: its lowest ``limit`` rows are taken.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        due = _narrow(
            select(_OUT.c.id, _OUT.c.target_key).where(
                _OUT.c.status == _PENDING, _OUT.c.next_attempt_at <= self._now
            ),
            target_system,
            kinds,
        ).order_by(_OUT.c.id)
        chosen: dict[str, None] = {}  # target keys, in the order of their lowest due id
        taken, after, full, too_big = 0, 0, False, None
        while not full:
            page = self._conn.execute(due.where(_OUT.c.id > after).limit(CHUNK)).all()
            if not page:
                break
            after = int(page[-1].id)
            fresh = unique(row.target_key for row in page if row.target_key not in chosen)
            sizes = self._due_rows(fresh, target_system, kinds)
            for key in fresh:
                if taken + sizes[key] > limit:
                    full, too_big = True, key
                    break
                chosen[key] = None
                taken += sizes[key]
        if not chosen:
            if too_big is None:
                return [], False
            ids = due.where(_OUT.c.target_key == too_big).limit(limit).with_only_columns(_OUT.c.id)
            return self._claim(_OUT.c.id.in_(ids.scalar_subquery())), True
        entries: list[OutboxEntry] = []
        for part in chunks(list(chosen)):
            due_rows = _OUT.c.status == _PENDING, _OUT.c.next_attempt_at <= self._now
            narrowed = _narrow(select(_OUT.c.id).where(_OUT.c.target_key.in_(part), *due_rows),
                               target_system, kinds)  # fmt: skip
            entries.extend(self._claim(_OUT.c.id.in_(narrowed.scalar_subquery())))
        entries.sort(key=lambda entry: entry.id)
        return entries, full

    def _claim(self, which: ColumnElement[bool]) -> list[OutboxEntry]:
        stmt = (
            update(_OUT)
            .where(which)
            .values(status=_IN_FLIGHT, updated_at=self._now)
            .returning(*_OUT.c)
        )
        return [convert.outbox_entry(row) for row in self._conn.execute(stmt)]

    def _due_rows(
        self, keys: list[str], target_system: System | None, kinds: Collection[str] | None
    ) -> Counter[str]:
        counts: Counter[str] = Counter()
        for part in chunks(keys):
            stmt = _narrow(
                select(_OUT.c.target_key, func.count()).where(
                    _OUT.c.target_key.in_(part),
                    _OUT.c.status == _PENDING,
                    _OUT.c.next_attempt_at <= self._now,
                ),
                target_system,
                kinds,
            ).group_by(_OUT.c.target_key)
            counts.update({key: int(n) for key, n in self._conn.execute(stmt)})
        return counts

    def mark_done(self, ids: Iterable[int]) -> None:
        """In-flight rows that were delivered."""
        # Every row gets the same values, so one UPDATE ... IN per chunk rather than one per
        # row: a catch-up settles a hundred thousand rows, and per-row updates were half the
        # dispatcher's time.
        wanted = unique(ids)
        self._check_in_flight("mark done", wanted)
        for part in chunks(wanted):
            self._conn.execute(
                update(_OUT)
                .where(_OUT.c.id.in_(part))
                .values(status=OutboxStatus.DONE.value, updated_at=self._now)
            )

    def release(self, ids: Iterable[int], at: datetime | None = None) -> int:
        """In-flight rows handed back unsent: pending from ``at`` (None: now), attempts kept.

        For rows a dispatcher claimed but did not try (budget spent, auth refused, a batch
        left for the next window): not a failure of the row, so unlike ``retry_later`` it
        neither counts an attempt nor replaces the last error. Rows no longer in flight are
        left as they are (a requeue or a settlement got there first); returns how many moved.
        """
        moved = 0
        for part in chunks(unique(ids)):
            result = self._conn.execute(
                update(_OUT)
                .where(_OUT.c.id.in_(part), _OUT.c.status == _IN_FLIGHT)
                .values(status=_PENDING, next_attempt_at=at or self._now, updated_at=self._now)
            )
            moved += result.rowcount
        return moved

    def repoint(self, rows: Iterable[Repoint]) -> None:
        """In-flight rows aimed at a record that was merged away: the new target and payload,
        pending and due now. An attempt is counted and the why kept as the last error, so the
        dashboard shows that the row was re-aimed."""
        self._move(
            "repoint",
            [
                {
                    "b_id": r.id,
                    "b_key": r.target_key,
                    "b_payload": dict(r.payload),
                    "b_error": r.reason,
                }
                for r in rows
            ],
            {
                "status": _PENDING,
                "target_key": bindparam("b_key"),
                "payload": bindparam("b_payload", type_=_OUT.c.payload.type),
                "attempts": _OUT.c.attempts + 1,
                "next_attempt_at": self._now,
                "last_error": bindparam("b_error"),
                "updated_at": self._now,
            },
        )

    def retry_later(self, retries: Iterable[OutboxRetry]) -> None:
        """In-flight rows that failed transiently: pending again from each ``at``."""
        self._move(
            "retry",
            [{"b_id": r.id, "b_at": r.at, "b_error": r.error} for r in retries],
            {
                "status": _PENDING,
                "attempts": _OUT.c.attempts + 1,
                "next_attempt_at": bindparam("b_at", type_=_OUT.c.next_attempt_at.type),
                "last_error": bindparam("b_error"),
                "updated_at": self._now,
            },
        )

    def mark_dead(self, dead: Iterable[OutboxDead]) -> None:
        """In-flight rows that failed permanently; the reason is what an operator will read."""
        self._move(
            "mark dead",
            [{"b_id": d.id, "b_error": d.reason} for d in dead],
            {
                "status": _DEAD,
                "attempts": _OUT.c.attempts + 1,
                "last_error": bindparam("b_error"),
                "updated_at": self._now,
            },
        )

    def _check_in_flight(self, action: str, ids: list[int]) -> None:
        if len(set(ids)) != len(ids):
            raise ValueError(f"cannot {action}: the same outbox row is listed twice")
        in_flight: set[int] = set()
        for part in chunks(ids):
            in_flight.update(
                self._conn.execute(
                    select(_OUT.c.id).where(_OUT.c.id.in_(part), _OUT.c.status == _IN_FLIGHT)
                ).scalars()
            )
        if len(in_flight) != len(ids):
            raise OutboxTransitionError(action, set(ids) - in_flight, "in flight")

    def _move(self, action: str, params: list[dict[str, Any]], values: dict[str, Any]) -> None:
        self._check_in_flight(action, [p["b_id"] for p in params])
        if params:
            self._conn.execute(
                update(_OUT).where(_OUT.c.id == bindparam("b_id")).values(**values), params
            )

    def requeue_in_flight(self) -> int:
        """Rows a crashed dispatcher left in flight become pending and due now."""
        result = self._conn.execute(
            update(_OUT)
            .where(_OUT.c.status == _IN_FLIGHT)
            .values(status=_PENDING, next_attempt_at=self._now, updated_at=self._now)
        )
        return result.rowcount

    def retry_dead(self, ids: Iterable[int]) -> int:
        """An operator's retry: dead rows become pending, due now, attempts reset."""
        return self._from_dead(
            ids, status=_PENDING, attempts=0, next_attempt_at=self._now, updated_at=self._now
        )

    def skip_dead(self, ids: Iterable[int]) -> int:
        """An operator gives up on dead rows: they leave the dead-letter table."""
        return self._from_dead(ids, status=OutboxStatus.SKIPPED.value, updated_at=self._now)

    def _from_dead(self, ids: Iterable[int], **values: Any) -> int:
        moved = 0
        for part in chunks(unique(ids)):
            result = self._conn.execute(
                update(_OUT).where(_OUT.c.id.in_(part), _OUT.c.status == _DEAD).values(**values)
            )
            moved += result.rowcount
        return moved

    def counts(self, *, finished: bool = False) -> OutboxCounts:
        """Rows per status; done and skipped only if ``finished`` (see ``count_outbox``)."""
        return count_outbox(self._conn, finished=finished)

    def pending(
        self,
        *,
        target_system: System | None = None,
        kinds: Collection[str] | None = None,
        due_only: bool = False,
        before_id: int | None = None,
        limit: int | None = None,
        target_keys: Collection[str] | None = None,
    ) -> list[OutboxEntry]:
        """Pending rows in id order, read without claiming them (previews, ordering checks).

        ``due_only``: only those due now; ``before_id``: only ids below it; ``target_keys``:
        only rows for those records (at most ``CHUNK`` of them per call).
        """
        stmt = _narrow(select(_OUT).where(_OUT.c.status == _PENDING), target_system, kinds)
        if target_keys is not None:
            stmt = stmt.where(_OUT.c.target_key.in_(list(target_keys)))
        if due_only:
            stmt = stmt.where(_OUT.c.next_attempt_at <= self._now)
        if before_id is not None:
            stmt = stmt.where(_OUT.c.id < before_id)
        stmt = stmt.order_by(_OUT.c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [convert.outbox_entry(row) for row in self._conn.execute(stmt)]

    def next_due_at(
        self, *, target_system: System | None = None, kinds: Collection[str] | None = None
    ) -> datetime | None:
        """When the earliest pending row (of those asked for) falls due (None: none pending)."""
        stmt = select(func.min(_OUT.c.next_attempt_at)).where(_OUT.c.status == _PENDING)
        value = self._conn.execute(_narrow(stmt, target_system, kinds)).scalar_one_or_none()
        assert value is None or isinstance(value, datetime)
        return value

    def purge_finished(self, before: datetime) -> int:
        """Delete done and skipped rows last touched before ``before``; how many."""
        finished = (OutboxStatus.DONE.value, OutboxStatus.SKIPPED.value)
        self._conn.execute(delete(_MERGED_KEY).where(_MERGED_KEY.c.created_at < before))
        result = self._conn.execute(
            delete(_OUT).where(_OUT.c.status.in_(finished), _OUT.c.updated_at < before)
        )
        return result.rowcount

    def of_records(self, target_object: str, keys: Collection[str]) -> list[OutboxEntry]:
        """Every row, whatever its status, for those records of ``target_object`` (Salesforce
        ids or External ID values), in id order: what became of an alert before it is
        withdrawn."""
        rows: list[OutboxEntry] = []
        for part in chunks(unique(keys)):
            stmt = (
                select(_OUT)
                .where(_OUT.c.target_object == target_object, _OUT.c.target_key.in_(part))
                .order_by(_OUT.c.id)
            )
            rows.extend(convert.outbox_entry(row) for row in self._conn.execute(stmt))
        return rows

    def drop_unsent(self, ids: Iterable[int]) -> int:
        """Give up on rows that never reached Salesforce (pending and never tried, or dead):
        they become skipped. A row in flight, or tried already (a lost answer may hide a
        write that happened), is left alone. Returns how many were dropped."""
        dropped = 0
        for part in chunks(unique(ids)):
            unsent = or_(
                _OUT.c.status == _DEAD, and_(_OUT.c.status == _PENDING, _OUT.c.attempts == 0)
            )
            result = self._conn.execute(
                update(_OUT)
                .where(_OUT.c.id.in_(part), unsent)
                .values(status=OutboxStatus.SKIPPED.value, updated_at=self._now)
            )
            dropped += result.rowcount
        return dropped
