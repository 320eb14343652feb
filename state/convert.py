"""Rows to records: the store's edge, where SQLAlchemy rows become frozen dataclasses.

Shared by the write-side parts and the read-side queries so that a record looks the same
whichever way it was read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from state.jobhealth import JobHealthRecord
from state.records import (
    AccountLink,
    AccountState,
    AuditEntry,
    BudgetSnapshot,
    Command,
    CommandKind,
    CommandStatus,
    Heartbeat,
    JobResult,
    JobRun,
    MatchMethod,
    OutboxEntry,
    PendingMatch,
    QuarantineEntry,
    QuarantineKind,
    QuarantineStatus,
    SignalRef,
    System,
)
from state.rowcodec import RowCodec
from state.tables import (
    AccountLinkRow,
    AccountStateRow,
    AppliedSignalRow,
    OutboxRow,
    table_of,
)

__all__ = [
    "APPLIED",
    "LINK",
    "OUTBOX",
    "STATE",
    "account_state",
    "audit_entry",
    "budget",
    "command",
    "heartbeat",
    "job_health",
    "job_run",
    "link",
    "outbox_entry",
    "pending_match",
    "quarantine_entry",
]


def link(row: Row[Any]) -> AccountLink:
    return AccountLink(
        customer_uuid=row.customer_uuid,
        account_id=row.account_id,
        matched_by=MatchMethod(row.matched_by),
        matched_at=row.matched_at,
    )


def pending_match(row: Row[Any]) -> PendingMatch:
    return PendingMatch(
        customer_uuid=row.customer_uuid,
        reason=row.reason,
        attempts=row.attempts,
        first_seen_at=row.first_seen_at,
        last_tried_at=row.last_tried_at,
    )


def quarantine_entry(row: Row[Any]) -> QuarantineEntry:
    return QuarantineEntry(
        id=row.id,
        kind=QuarantineKind(row.kind),
        source=System(row.source),
        record_key=row.record_key,
        reason=row.reason,
        candidates=tuple(row.candidates),
        payload=row.payload,
        status=QuarantineStatus(row.status),
        resolution=row.resolution,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# account_state's one definition (``tables.AccountStateRow``) read into ``AccountState``: the
# hot per-page read is plain SQL through ``STATE.read``, the typed reads ``account_state``.
STATE: RowCodec[AccountState] = RowCodec(table_of(AccountStateRow), AccountState)
account_state = STATE.read_typed


# The signals applied, by natural key (``tables.AppliedSignalRow``).
APPLIED: RowCodec[SignalRef] = RowCodec(
    table_of(AppliedSignalRow), SignalRef, renames={"key": "signal_key"}
)

# The links (``tables.AccountLinkRow``): every page of the feed reads its customers' links,
# plain SQL through ``LINK.read``.
LINK: RowCodec[AccountLink] = RowCodec(table_of(AccountLinkRow), AccountLink)

# The outbox's rows as entries, from the one definition (``tables.OutboxRow``).
OUTBOX: RowCodec[OutboxEntry] = RowCodec(table_of(OutboxRow), OutboxEntry)
outbox_entry = OUTBOX.read_typed


def job_run(row: Row[Any]) -> JobRun:
    return JobRun(
        id=row.id,
        job=row.job,
        started_at=row.started_at,
        finished_at=row.finished_at,
        result=None if row.result is None else JobResult(row.result),
        detail=row.detail,
        duration_s=None if row.duration_s is None else float(row.duration_s),
    )


def command(row: Row[Any]) -> Command:
    return Command(
        id=row.id,
        kind=CommandKind(row.kind),
        target=row.target,
        args=row.args,
        status=CommandStatus(row.status),
        result=row.result,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def audit_entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        system=System(row.system),
        object=row.object,
        record_id=row.record_id,
        action=row.action,
        fields=row.fields,
        reason=row.reason,
        keys=row.keys,
    )


def heartbeat(row: Row[Any]) -> Heartbeat:
    return Heartbeat(
        pid=row.pid,
        started_at=row.started_at,
        beat_at=row.beat_at,
        target=row.target,
        stopped_at=row.stopped_at,
        monotonic=row.beat_monotonic,
        boot_id=row.boot_id,
    )


def job_health(row: Row[Any]) -> JobHealthRecord:
    return JobHealthRecord(
        job=row.job,
        failures=int(row.failures),
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
    )


def budget(row: Row[Any]) -> BudgetSnapshot:
    return BudgetSnapshot(
        system=System(row.system),
        used=row.used,
        max=row.max,
        share=row.share,
        updated_at=row.updated_at,
    )
