"""Claiming a window of outbox rows and planning the calls that send them.

Theory of operation. A window is one transaction: it claims the due Salesforce rows of the
records due first, each record with all its due rows (``Outbox.claim_records``: a record's
changes are written once, not once per window they would straddle in id order); they become
in flight, and before anything is sent

1. holds back rows whose record still has an older row waiting for its retry: sending the
   newer values now would let the older row overwrite them when its retry comes. A held row
   goes back to pending, due when the older one is, so both are claimed and merged together;
2. turns each row into a ``PendingWrite`` (a row that cannot be one is dead, with why);
3. plans the writes against what was last written (``state.writeplan.plan_writes``), each
   record's fields fitted to the limits of the org's fields (``state.fieldfit``: text cut,
   a value a field cannot hold left out and reported as a problem, ``field_problems``):
   rows left with nothing to send are done at once; upsert keys Salesforce would take for
   one (differing only by case) go into separate calls, the older row's first;
4. when the window was full (more rows may be due than it holds), carries each object's last,
   partly filled batch over to the next window, so records are not sent in two half-empty
   calls; unless that would leave nothing to send (the drain must make progress).

``plan_pending`` plans without claiming anything: the dry run's view of the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cmsync.pipeline.dispatch.field_problems import report_left_out
from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE
from cmsync.salesforce.collections import CHUNK_SIZE
from cmsync.salesforce.field_limits import catalogue_limits
from state import OutboxDead, OutboxEntry, RecordRef, Store, System, Transaction
from state.fieldfit import LimitsBook
from state.writeplan import Batch, Operation, PendingWrite, WritePlan, plan_writes

__all__ = [
    "KINDS",
    "Window",
    "claim_window",
    "outbox_ids",
    "plan_pending",
    "preview",
    "to_pending",
]

KINDS = tuple(op.value for op in Operation)  # the outbox kinds this dispatcher sends

_Target = tuple[str, str, str | None, str]  # object, kind, External ID field, key
# External ID fields whose values Salesforce compares case-sensitively: a batch may hold keys
# that differ only by case on these alone (``plan_writes`` splits them elsewhere). A field
# mapped to another name is not in the catalogue, so it is split too: one call more at most.
CASE_SENSITIVE_KEYS = frozenset(
    (spec.name, f.name) for spec in DEFAULT_CATALOGUE for f in spec.fields
    if f.external_id and f.case_sensitive
)  # fmt: skip
_KEYS_PER_QUERY = 500
CATALOGUE_LIMITS = catalogue_limits()  # until the org's describe is read


@dataclass(frozen=True)
class Window:
    """A claimed window: the batches to send and the rows behind them (still in flight)."""

    rows: Mapping[int, OutboxEntry]
    batches: tuple[Batch, ...]
    claimed: int  # rows claimed, including those settled or handed back at once
    unchanged: int  # done: nothing left to send
    malformed: int  # dead: not a write this dispatcher can send
    held: int  # back to pending behind an older row of the same record
    carried: int  # back to pending, due now, to fill the next window's calls


def to_pending(entry: OutboxEntry) -> PendingWrite | str:
    """The row as a write, or why it cannot be one."""
    try:
        operation = Operation(entry.kind)
    except ValueError:
        return f"unknown outbox kind {entry.kind!r} for Salesforce"
    if not entry.target_key:
        return "no target key"
    if not isinstance(entry.payload, Mapping) or not all(isinstance(k, str) for k in entry.payload):
        return "the payload is not a JSON object of field names"
    # The body is built as {key name: key, **payload}: the payload must not set the key.
    reserved = {"attributes"}
    if operation is Operation.UPDATE:
        reserved.add("id")
    elif not entry.key_field:
        return "an upsert without its External ID field (key_field)"
    else:
        reserved.add(entry.key_field.casefold())
    clash = sorted(k for k in entry.payload if k.casefold() in reserved)
    if clash:
        return f"the payload sets {', '.join(clash)}, which the key already decides"
    return PendingWrite(
        outbox_id=entry.id,
        sobject=entry.target_object,
        operation=operation,
        key=entry.target_key,
        fields=entry.payload,
        external_id_field=entry.key_field if operation is Operation.UPSERT else None,
    )


def _target(entry: OutboxEntry) -> _Target:
    return (entry.target_object, entry.kind, entry.key_field, entry.target_key)


def _plan(
    tx: Transaction, entries: Sequence[OutboxEntry], chunk: int, limits: LimitsBook
) -> tuple[WritePlan, list[OutboxDead]]:
    writes: list[PendingWrite] = []
    malformed: list[OutboxDead] = []
    for entry in entries:
        write = to_pending(entry)
        if isinstance(write, str):
            malformed.append(OutboxDead(entry.id, f"malformed outbox row: {write}"))
        else:
            writes.append(write)
    found = tx.last_written.get_many(RecordRef(w.sobject, w.key) for w in writes)
    last: dict[tuple[str, str, str], Any] = {
        (ref.object, ref.record_id, name): value
        for ref, values in found.items()
        for name, value in values.items()
    }
    plan = plan_writes(writes, last, chunk, case_sensitive=CASE_SENSITIVE_KEYS, limits=limits)
    return plan, malformed


def _hold_behind_older(
    tx: Transaction, claimed: Sequence[OutboxEntry]
) -> tuple[list[OutboxEntry], dict[datetime, list[int]]]:
    """Split the claim into rows to plan and rows to hand back, by when they are due."""
    # The claim took every due row of its records, so their rows still pending are the ones
    # not due yet (waiting for a retry).
    keys = list(dict.fromkeys(e.target_key for e in claimed))
    waiting: list[OutboxEntry] = []
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        part = keys[start : start + _KEYS_PER_QUERY]
        waiting += tx.outbox.pending(target_system=System.SALESFORCE, kinds=KINDS, target_keys=part)
    first: dict[_Target, tuple[int, datetime]] = {}  # lowest waiting id, latest due time
    for older in waiting:
        target = _target(older)
        low, due = first.get(target, (older.id, older.next_attempt_at))
        first[target] = (min(low, older.id), max(due, older.next_attempt_at))
    keep: list[OutboxEntry] = []
    held: dict[datetime, list[int]] = {}
    for entry in claimed:
        found = first.get(_target(entry))
        if found is not None and found[0] < entry.id:  # an older row of its record waits
            held.setdefault(found[1], []).append(entry.id)
        else:
            keep.append(entry)
    return keep, held


def _carry_partial(batches: Sequence[Batch], chunk: int) -> tuple[tuple[Batch, ...], list[int]]:
    last: dict[tuple[str, Operation, str | None], int] = {}
    for index, batch in enumerate(batches):
        last[(batch.sobject, batch.operation, batch.external_id_field)] = index
    partial = {i for i in last.values() if len(batches[i].records) < chunk}
    if len(partial) == len(batches):  # nothing full to send: send what there is
        return tuple(batches), []
    carried = outbox_ids(batches[i] for i in sorted(partial))
    return tuple(b for i, b in enumerate(batches) if i not in partial), carried


def claim_window(
    tx: Transaction, limit: int, *, chunk: int, limits: LimitsBook = CATALOGUE_LIMITS
) -> Window:
    """Claim up to ``limit`` due rows and settle what needs no call (see the module doc)."""
    claimed, full = tx.outbox.claim_records(limit, target_system=System.SALESFORCE, kinds=KINDS)
    if not claimed:
        return Window({}, (), 0, 0, 0, 0, 0)
    entries, held = _hold_behind_older(tx, claimed)
    for at, ids in held.items():
        tx.outbox.release(ids, at)
    plan, malformed = _plan(tx, entries, chunk, limits)
    report_left_out(tx, plan.unfit)
    tx.outbox.mark_dead(malformed)
    tx.outbox.mark_done(plan.unchanged)
    batches, carried = plan.batches, list[int]()
    if full:
        batches, carried = _carry_partial(batches, chunk)
        tx.outbox.release(carried)
    in_flight = set(outbox_ids(batches))
    return Window(
        rows={e.id: e for e in entries if e.id in in_flight},
        batches=batches,
        claimed=len(claimed),
        unchanged=len(plan.unchanged),
        malformed=len(malformed),
        held=sum(len(ids) for ids in held.values()),
        carried=len(carried),
    )


def plan_pending(
    tx: Transaction,
    *,
    limit: int | None = None,
    due_only: bool = False,
    limits: LimitsBook = CATALOGUE_LIMITS,
) -> WritePlan:
    """The plan for the pending Salesforce rows (all, or only the due ones), claiming nothing.

    Rows are merged in id order as a drain would eventually merge them; rows that cannot be
    sent are left out.
    """
    entries = tx.outbox.pending(
        target_system=System.SALESFORCE, kinds=KINDS, due_only=due_only, limit=limit
    )
    plan, _ = _plan(tx, entries, CHUNK_SIZE, limits)
    return plan


def preview(store: Store, *, limit: int | None = None, due_only: bool = False) -> WritePlan:
    """``plan_pending`` in a transaction of its own.

    Blocking: from async code use ``await in_store(store, lambda tx: plan_pending(tx))``.
    """
    with store.transaction() as tx:
        return plan_pending(tx, limit=limit, due_only=due_only)


def outbox_ids(batches: Iterable[Batch]) -> list[int]:
    """Every row the batches cover."""
    return [oid for b in batches for r in b.records for oid in r.outbox_ids]
