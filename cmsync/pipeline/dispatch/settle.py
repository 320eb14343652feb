"""What a sent batch means for its outbox rows: done, retried later, or dead (pure).

Theory of operation. A planned record covers one or more outbox rows (its pending field
updates, merged); a record is written as one, so its rows share its fate:

- success: every row is done, the fields sent become the record's last-written values, and
  one audit entry records the write with the reasons (signals) of the rows behind it, and
  what fitting cut (``RecordWrite.notes``: "CM_Plan__c cut from 10000 to 255 characters");
- a transient failure (a locked row, a server hiccup): every row is retried later, after an
  exponential backoff with jitter grown from the most-tried row's attempts (the rows of one
  record stay due together, so they are merged again on the next try); a row that has used
  up ``max_attempts`` goes dead instead, saying it gave up and why;
- a permanent failure (validation, unknown field): every row is dead with Salesforce's reason;
- a record that can no longer be written at all (``UNWRITABLE_CODES``: a converted Lead,
  which Salesforce refuses to update, CANNOT_UPDATE_CONVERTED_LEAD): every row is dropped,
  done with an audit entry (action ``dropped``) saying why, never retried. Conversion cannot
  be undone, so a retry would fail the same way and a dead letter would ask an operator for
  a fix there is none of; the person is enriched through the Contact it became instead.
  Only rows queued before cmsync stopped writing converted Leads can meet this.
- a record refused because an Account it writes or names is deleted (``ENTITY_IS_DELETED``,
  ``gone_targets``): left to the dispatcher, which follows the merge or drops the rows
  (``cmsync.pipeline.dispatch.vanished``) when it can ask Salesforce, and is otherwise dead as
  before.

``settle_results`` handles a call's per-record results, ``settle_failure`` a whole call that
failed. Both return a ``Settlement``: plain data that ``apply`` writes in one transaction, so
a batch's rows, audit entries and last-written values commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cmsync.retry import row_backoff_seconds
from cmsync.salesforce.collections import CHUNK_SIZE, RecordResult
from state import (
    AuditItem,
    FieldWrite,
    OutboxDead,
    OutboxEntry,
    OutboxRetry,
    System,
    Transaction,
)
from state.owners import INACTIVE_OWNER
from state.vanished import ENTITY_IS_DELETED
from state.writeplan import Batch, Operation, RecordWrite

__all__ = [
    "UNWRITABLE_CODES",
    "DispatchPolicy",
    "Settlement",
    "audit_keys",
    "audit_reason",
    "gone_targets",
    "owner_refused",
    "settle_failure",
    "settle_results",
    "settle_retry",
]

# Per-record codes meaning the record itself will never accept the write: dropped, not dead.
# CANNOT_UPDATE_CONVERTED_LEAD: Salesforce Help article 000384333 (a converted Lead cannot be
# updated without "View and Edit Converted Leads").
UNWRITABLE_CODES = frozenset({"CANNOT_UPDATE_CONVERTED_LEAD"})

_REASONS_SHOWN = 5
_REASON_CHARS = 500
_KEYS_CHARS = 2000  # a batch merges many rows into one write; the audit keeps their keys, cut


@dataclass(frozen=True)
class DispatchPolicy:
    """How the dispatcher paces itself and when it gives up on a row."""

    # Rows claimed per window. Merged in the outbox, a row is a whole record: a window holds
    # ten calls' worth, and part-filled batches carry over, so windows cost no extra calls;
    # 10,000 (every claimed row, its fields and plan in memory at once) was the dispatcher's
    # largest allocation in a catch-up.
    window: int = 2_000
    chunk: int = CHUNK_SIZE  # records per collections call
    slow_delay: float = 2.0  # seconds between calls while the API budget is near its share
    backoff_base: float = 30.0  # seconds before the first retry of a failed row
    backoff_cap: float = 3600.0  # longest wait between retries
    max_attempts: int = 10  # failed attempts after which a row goes dead

    def __post_init__(self) -> None:
        if self.window < 1 or not 1 <= self.chunk <= CHUNK_SIZE:
            raise ValueError(f"window must be >= 1 and chunk within 1..{CHUNK_SIZE}")
        if self.max_attempts < 1 or self.backoff_base <= 0 or self.backoff_cap < self.backoff_base:
            raise ValueError("max_attempts >= 1 and 0 < backoff_base <= backoff_cap")

    def backoff(self, attempts: int, retry_after: float | None = None) -> timedelta:
        """The wait after a row's ``attempts + 1``-th failure (``cmsync.retry``: equal jitter,
        a server's ``Retry-After`` as a floor)."""
        seconds = row_backoff_seconds(
            self.backoff_base, self.backoff_cap, attempts + 1, retry_after
        )
        return timedelta(seconds=seconds)


@dataclass
class Settlement:
    """The fates of one batch's rows and what the successful writes leave behind."""

    done: list[int] = field(default_factory=list)
    retries: list[OutboxRetry] = field(default_factory=list)
    dead: list[OutboxDead] = field(default_factory=list)
    written: list[FieldWrite] = field(default_factory=list)
    audit: list[AuditItem] = field(default_factory=list)

    def apply(self, tx: Transaction) -> None:
        """Record it all in ``tx`` (one transaction per batch)."""
        tx.outbox.mark_done(self.done)
        tx.outbox.retry_later(self.retries)
        tx.outbox.mark_dead(self.dead)
        tx.last_written.put_many(self.written)
        tx.audit.append(self.audit)


def audit_keys(rows: Sequence[OutboxEntry]) -> str:
    """The rows' idempotency keys (the signals they came from), bounded for the audit trail:
    kept beside the words, for whoever traces a write back to what caused it."""
    text = "; ".join(k for r in rows for k in (r.idempotency_key, r.merged_keys) if k)
    return text if len(text) <= _KEYS_CHARS else text[: _KEYS_CHARS - 1] + "…"


def audit_reason(rows: Sequence[OutboxEntry]) -> str:
    """The rows' reasons (in words), each once, in order, bounded for the audit trail."""
    reasons = list(dict.fromkeys(r.reason for r in rows if r.reason))
    text = "; ".join(reasons[:_REASONS_SHOWN])
    if len(reasons) > _REASONS_SHOWN:
        text += f" (+{len(reasons) - _REASONS_SHOWN} more)"
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"


def _action(record: RecordWrite, result: RecordResult) -> str:
    if record.operation is Operation.UPDATE:
        return "update"
    return "upsert:created" if result.created else "upsert:updated"


def _retry_or_give_up(
    out: Settlement,
    rows: Sequence[OutboxEntry],
    error: str,
    now: datetime,
    policy: DispatchPolicy,
    retry_after: float | None,
) -> None:
    at = now + policy.backoff(max(r.attempts for r in rows), retry_after)
    for row in rows:
        tried = row.attempts + 1
        if tried >= policy.max_attempts:
            out.dead.append(OutboxDead(row.id, f"gave up after {tried} attempts: {error}"))
        else:
            out.retries.append(OutboxRetry(row.id, at, error))


def settle_results(
    batch: Batch,
    results: Sequence[RecordResult],
    rows: Mapping[int, OutboxEntry],
    *,
    now: datetime,
    policy: DispatchPolicy,
    skip: Collection[int] = (),
) -> Settlement:
    """Each record's result applied to the rows it covers (``rows``: the claimed rows by id).

    The records at the indexes in ``skip`` are left in flight for the caller to settle.
    """
    by_index = {r.index: r for r in results}
    out = Settlement()
    for index, record in enumerate(batch.records):
        if index in skip:
            continue
        covered = [rows[i] for i in record.outbox_ids]
        result = by_index.get(index)
        if result is None:  # the writer guarantees one result per record; never guess
            _retry_or_give_up(out, covered, "no result for this record", now, policy, None)
        elif result.success:
            out.done.extend(record.outbox_ids)
            out.written.extend(
                FieldWrite(record.sobject, record.key, name, value)
                for name, value in record.fields.items()
            )
            out.audit.append(
                AuditItem(
                    system=System.SALESFORCE,
                    object=record.sobject,
                    record_id=result.id or record.key,
                    action=_action(record, result),
                    fields=dict(record.fields),
                    reason="; ".join(r for r in (audit_reason(covered), *record.notes) if r),
                    keys=audit_keys(covered),
                )
            )
        elif result.transient:
            _retry_or_give_up(out, covered, result.reason, now, policy, None)
        elif result.errors and all(e.code in UNWRITABLE_CODES for e in result.errors):
            out.done.extend(record.outbox_ids)
            out.audit.append(
                AuditItem(
                    system=System.SALESFORCE,
                    object=record.sobject,
                    record_id=record.key,
                    action="dropped",
                    fields=dict(record.fields),
                    reason=f"not writable ({result.reason}), dropped: {audit_reason(covered)}",
                    keys=audit_keys(covered),
                )
            )
        else:
            reason = result.reason or "refused without a reason"
            out.dead.extend(OutboxDead(row.id, reason) for row in covered)
    return out


def gone_targets(results: Sequence[RecordResult]) -> set[int]:
    """Indexes of the records refused because a record they write or name is deleted."""
    return {
        r.index
        for r in results
        if not r.success and any(e.code == ENTITY_IS_DELETED for e in r.errors)
    }


def owner_refused(results: Sequence[RecordResult]) -> set[int]:
    """Indexes of the records refused because their owner is an inactive user."""
    return {
        r.index
        for r in results
        if not r.success and any(e.code == INACTIVE_OWNER for e in r.errors)
    }


def settle_retry(
    rows: Sequence[OutboxEntry], error: str, *, now: datetime, policy: DispatchPolicy
) -> Settlement:
    """Rows to try again later with ``error`` (or dead, past ``max_attempts``)."""
    out = Settlement()
    if rows:
        _retry_or_give_up(out, rows, error, now, policy, None)
    return out


def settle_failure(
    batch: Batch,
    rows: Mapping[int, OutboxEntry],
    error: str,
    *,
    transient: bool,
    now: datetime,
    policy: DispatchPolicy,
    retry_after: float | None = None,
) -> Settlement:
    """A whole call failed: every record of the batch shares ``error``."""
    out = Settlement()
    for record in batch.records:
        covered = [rows[i] for i in record.outbox_ids]
        if transient:
            _retry_or_give_up(out, covered, error, now, policy, retry_after)
        else:
            out.dead.extend(OutboxDead(row.id, error) for row in covered)
    return out
