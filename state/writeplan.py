"""Planning Salesforce writes from pending outbox rows: coalesce, diff, batch (pure).

Theory of operation. The outbox holds one row per intended write, in the order they were
decided. Many rows often touch the same record (ten activities for one Account set its MRR ten
times), so before anything is sent:

1. rows are grouped by target record (object, operation, External ID field, key) and their
   fields merged, the newest row winning per field. ``Outbox.enqueue`` merges too, and both
   are needed. This one keeps a record to one write per call: upserts, updates due later,
   and updates added behind a row in flight or waiting on a retry stay rows of their own,
   a window claims a record's rows together, and Salesforce refuses an Id twice in one
   call. The enqueue's merge of waiting updates only keeps a catch-up's outbox to about one
   row per record instead of five, which the dispatcher claims and settles at a fraction of
   the cost (without it the calls are the same and the dispatch step takes several times
   as long);
2. fields whose value equals what cmsync last wrote to that record are dropped (like the best
   reverse-ETL tools: send only what changed); a record left with nothing to send is not sent,
   and its rows are done;
3. the remaining records are cut into batches of at most ``chunk`` (200: one sObject
   Collections call each), per object and operation, since an upsert call takes one object
   type and one External ID field.

No upsert batch holds two keys Salesforce would take for one: it fails every record of an
External ID value given twice in one call (DUPLICATE_VALUE, "Duplicate external id
specified"), comparing values case-insensitively unless the field is case-sensitive. Keys
that differ only by case are two outbox records (merging is per exact key), so the second
(in outbox order) goes into a later batch of its own round, sent after the first; never
merged, since a fold coarser than Salesforce's would then lose a record's write, where here
it costs one call at most. ``key_identity`` is that comparison (``casefold``).

Each planned record remembers the outbox rows it covers, so a per-record result can settle
every row behind it.

Given the fields' limits (``limits``), each record's merged fields are fitted to them before
the diff (``state.fieldfit``): text too long is cut, a value a field cannot hold is left out
and listed in ``WritePlan.unfit`` with the record it was meant for. Fitting before the diff
compares the cut value with the one last written, so a cut value is sent once, not on every
pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from state.fieldfit import LimitsBook, Unfit, fit_fields

__all__ = [
    "Batch",
    "LeftOut",
    "Operation",
    "PendingWrite",
    "RecordWrite",
    "WritePlan",
    "key_identity",
    "plan_writes",
]

JsonValue = Any  # a JSON-ready value (str, number, bool, None)


class Operation(StrEnum):
    UPDATE = "update"  # by record Id
    UPSERT = "upsert"  # on an External ID field


@dataclass(frozen=True)
class PendingWrite:
    """One outbox row's write, as the dispatcher reads it."""

    outbox_id: int
    sobject: str
    operation: Operation
    key: str  # the record Id (update) or the External ID value (upsert)
    fields: Mapping[str, JsonValue]
    external_id_field: str | None = None


@dataclass(frozen=True)
class RecordWrite:
    sobject: str
    operation: Operation
    external_id_field: str | None
    key: str
    fields: Mapping[str, JsonValue]
    outbox_ids: tuple[int, ...]
    notes: tuple[str, ...] = ()  # what fitting the fields changed, for the audit

    def body(self) -> dict[str, JsonValue]:
        """The record as sent in a collection call (without ``attributes``)."""
        if self.operation is Operation.UPDATE:
            return {"Id": self.key, **self.fields}
        assert self.external_id_field is not None
        return {self.external_id_field: self.key, **self.fields}


@dataclass(frozen=True)
class Batch:
    sobject: str
    operation: Operation
    external_id_field: str | None
    records: tuple[RecordWrite, ...]


@dataclass(frozen=True)
class LeftOut:
    """A value left out of a record's write, the field unable to hold it."""

    sobject: str
    key: str  # the record Id or External ID value
    unfit: Unfit


@dataclass(frozen=True)
class WritePlan:
    batches: tuple[Batch, ...]
    unchanged: tuple[int, ...]  # outbox rows with nothing left to send: done as they are
    unfit: tuple[LeftOut, ...] = ()  # values left out of the writes (``limits``)

    @property
    def record_count(self) -> int:
        return sum(len(b.records) for b in self.batches)


LastWritten = Mapping[tuple[str, str, str], JsonValue]  # (sobject, key, field) -> value
# (object, External ID field) pairs whose values Salesforce compares case-sensitively.
CaseSensitive = AbstractSet[tuple[str, str]]


def key_identity(
    sobject: str,
    operation: Operation,
    external_id_field: str | None,
    key: str,
    case_sensitive: CaseSensitive = frozenset(),
) -> str:
    """``key`` as Salesforce compares it within one call: folded unless case-sensitive.

    Record Ids (updates) are compared as given. ``case_sensitive`` names fields as the
    catalogue spells them; a field it does not name is taken as case-insensitive, the
    Salesforce default and the safe side here (a needless split costs a call, not a write).
    """
    if operation is Operation.UPDATE or external_id_field is None:
        return key
    if not case_sensitive:
        return key.casefold()
    named = {(o.casefold(), f.casefold()) for o, f in case_sensitive}
    if (sobject.casefold(), external_id_field.casefold()) in named:
        return key
    return key.casefold()


def plan_writes(
    pending: Sequence[PendingWrite],
    last_written: LastWritten,
    chunk: int = 200,
    *,
    case_sensitive: CaseSensitive = frozenset(),
    limits: LimitsBook | None = None,
) -> WritePlan:
    """The batches that bring Salesforce up to date with ``pending``, and the no-op rows."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    merged: dict[tuple[str, Operation, str | None, str], dict[str, JsonValue]] = {}
    covers: dict[tuple[str, Operation, str | None, str], list[int]] = {}
    for row in sorted(pending, key=lambda r: r.outbox_id):
        target = (row.sobject, row.operation, row.external_id_field, row.key)
        merged.setdefault(target, {}).update(row.fields)
        covers.setdefault(target, []).append(row.outbox_id)

    # Per call group, the records of each round: round n holds a key's (n+1)-th spelling.
    groups: dict[tuple[str, Operation, str | None], list[list[RecordWrite]]] = {}
    spellings: Counter[tuple[str, Operation, str | None, str]] = Counter()
    unchanged: list[int] = []
    left_out: list[LeftOut] = []
    for target, fields in merged.items():
        sobject, operation, ext_field, key = target
        notes: Mapping[str, str] = {}
        if limits is not None:
            fitted = fit_fields(sobject, fields, limits)
            fields, notes = dict(fitted.fields), fitted.notes
            left_out.extend(LeftOut(sobject, key, unfit) for unfit in fitted.unfit)
        changed = {
            name: value
            for name, value in fields.items()
            if last_written.get((sobject, key, name), _MISSING) != value
        }
        # An upsert that finds nothing changed still must have happened once: a record never
        # written has no last-written values, so it is never dropped here.
        if not changed:
            unchanged.extend(covers[target])
            continue
        identity = key_identity(sobject, operation, ext_field, key, case_sensitive)
        round_ = spellings[(sobject, operation, ext_field, identity)]
        spellings[(sobject, operation, ext_field, identity)] += 1
        rounds = groups.setdefault((sobject, operation, ext_field), [])
        if len(rounds) <= round_:
            rounds.append([])
        rounds[round_].append(
            RecordWrite(
                sobject, operation, ext_field, key, changed, tuple(covers[target]),
                tuple(note for name, note in notes.items() if name in changed),
            )
        )  # fmt: skip

    batches = [
        Batch(sobject, operation, ext_field, tuple(records[i : i + chunk]))
        for (sobject, operation, ext_field), rounds in sorted(
            groups.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or "")
        )
        for records in rounds
        for i in range(0, len(records), chunk)
    ]
    return WritePlan(tuple(batches), tuple(sorted(unchanged)), tuple(left_out))


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()
