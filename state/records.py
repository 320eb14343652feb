"""The plain values the rest of cmsync exchanges with the store.

SQLModel rows never leave the store: every method takes and returns these frozen dataclasses
(and enums), converted at the store's edge. An ``...Item`` is something to add; the matching
``...Entry`` is what the store holds, with its id, status and timestamps. JSON payloads are
mappings of wire values (they become request bodies); everything else is typed. All times are
timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "AccountLink",
    "AccountState",
    "AuditEntry",
    "AuditItem",
    "BudgetSnapshot",
    "Command",
    "CommandKind",
    "CommandStatus",
    "CursorValue",
    "DealStatus",
    "FieldWrite",
    "Heartbeat",
    "JobResult",
    "JobRun",
    "MatchMethod",
    "MinuteCount",
    "OutboxCounts",
    "OutboxDead",
    "OutboxEntry",
    "OutboxItem",
    "OutboxRetry",
    "OutboxStatus",
    "PendingMatch",
    "QuarantineEntry",
    "QuarantineItem",
    "QuarantineKind",
    "QuarantineStatus",
    "RecordRef",
    "SignalRef",
    "StageSummary",
    "System",
]


class System(StrEnum):
    """An external system: where a record came from or where a write goes."""

    CHARTMOGUL = "chartmogul"
    SALESFORCE = "salesforce"


class MatchMethod(StrEnum):
    """How a ChartMogul customer was linked to a Salesforce Account (the README: matching)."""

    STORED = "stored"
    UUID_FIELD = "uuid_field"  # the Account's CM_Customer_UUID__c
    EXTERNAL_ID = "external_id"  # the customer's external id is the Account Id
    CONTACT_EMAIL = "contact_email"
    DOMAIN = "domain"
    OPERATOR = "operator"  # chosen on the dashboard


class QuarantineKind(StrEnum):
    AMBIGUOUS_MATCH = "ambiguous_match"
    BAD_RECORD = "bad_record"
    # Opened by earlier versions only (the lifecycle now converges on what ChartMogul reports):
    # kept so that an old store's entries are still read, retried and skipped.
    ILLEGAL_TRANSITION = "illegal_transition"
    # A Closed-Won deal that was imported, then left Closed Won or was deleted: its invoice
    # still counts in ChartMogul until an operator voids it or keeps it.
    DEAL_UNWOUND = "deal_unwound"
    # A value a Salesforce field cannot hold, left out of the writes: one entry per object,
    # field and cause, listing the records it was left out of (``state.fieldfit``).
    FIELD_LIMIT = "field_limit"


class QuarantineStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    SKIPPED = "skipped"


class DealStatus(StrEnum):
    """An imported Closed-Won deal: live -> unwound -> voided | kept."""

    LIVE = "live"  # won, its invoice counts in ChartMogul
    UNWOUND = "unwound"  # left Closed Won or deleted: a problem is open for an operator
    VOIDED = "voided"  # its invoice was deleted in ChartMogul
    KEPT = "kept"  # an operator chose to keep its invoice: never raised again


class OutboxStatus(StrEnum):
    """pending -> in_flight -> done | pending (retry) | dead; dead -> pending | skipped."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DONE = "done"
    DEAD = "dead"
    SKIPPED = "skipped"  # a dead row an operator chose to give up on


class JobResult(StrEnum):
    OK = "ok"
    ERROR = "error"
    SKIPPED = "skipped"


class CommandKind(StrEnum):
    RETRY = "retry"
    SKIP = "skip"
    RESOLVE_MATCH = "resolve_match"
    VOID = "void"  # an unwound deal: delete its invoice in ChartMogul
    KEEP = "keep"  # an unwound deal: leave its invoice, and do not raise it again
    UNLINK = "unlink"  # target link:<customer uuid>
    RELINK = "relink"  # target link:<customer uuid>, args {"account": <Account Id>}


class CommandStatus(StrEnum):
    NEW = "new"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CursorValue:
    name: str
    value: str  # opaque to the store; by convention JSON written by the cursor's owner
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AccountLink:
    customer_uuid: str
    account_id: str
    matched_by: MatchMethod
    matched_at: datetime


@dataclass(frozen=True, slots=True)
class PendingMatch:
    customer_uuid: str
    reason: str
    attempts: int
    first_seen_at: datetime
    last_tried_at: datetime


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    kind: QuarantineKind
    source: System
    record_key: str
    reason: str
    candidates: tuple[str, ...] = ()
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    id: int
    kind: QuarantineKind
    source: System
    record_key: str
    reason: str
    candidates: tuple[str, ...]
    payload: Mapping[str, Any]
    status: QuarantineStatus
    resolution: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AccountState:
    """One ChartMogul customer's lifecycle state and last known figures.

    ``revision`` is the revision the state was read at (0 for a customer the store has never
    seen). Writing it back succeeds only if nobody wrote in between; the stored revision then
    becomes ``revision + 1``.
    """

    customer_uuid: str
    lifecycle_state: str
    mrr_cents: int = 0
    arr_cents: int = 0
    currency: str | None = None
    plan: str | None = None
    status: str | None = None
    customer_since: datetime | None = None
    churn_risk: str | None = None
    last_activity_at: datetime | None = None
    # The lifecycle machine's own memory (flags, open invoice ids, ...): opaque JSON here,
    # typed again by whoever converts between this and the machine's account object.
    memo: Mapping[str, Any] = field(default_factory=dict)
    revision: int = 0
    updated_at: datetime | None = None  # when it was last written; the store sets it


@dataclass(frozen=True, slots=True)
class SignalRef:
    """The natural key of a signal applied to a customer (never an activity uuid)."""

    customer_uuid: str
    key: str


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """An effect to send. Its idempotency key is derived from the signal that caused it."""

    idempotency_key: str
    kind: str
    target_system: System
    target_object: str
    target_key: str  # a record id, or the external-id value an upsert is keyed on
    payload: Mapping[str, Any]
    reason: str = ""  # why the effect exists, in words (goes to the audit trail)
    not_before: datetime | None = None  # None: due at once
    key_field: str | None = None  # the External ID field target_key is a value of, if any


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    idempotency_key: str
    kind: str
    target_system: System
    target_object: str
    target_key: str
    key_field: str | None
    payload: Mapping[str, Any]
    reason: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    merged_keys: str = ""  # the keys of the effects merged into this row, "; " between them


@dataclass(frozen=True, slots=True)
class OutboxRetry:
    """An in-flight row that failed transiently: try again at ``at``."""

    id: int
    at: datetime
    error: str


@dataclass(frozen=True, slots=True)
class OutboxDead:
    """An in-flight row that failed permanently, with the reason an operator will read."""

    id: int
    reason: str


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    pending: int = 0  # includes the retrying ones
    retrying: int = 0  # pending rows that have failed at least once
    in_flight: int = 0
    dead: int = 0
    done: int | None = None  # None: not counted (see ``Queries.outbox_counts``)
    skipped: int | None = None


@dataclass(frozen=True, slots=True)
class RecordRef:
    """A record in an external system: its object (``Account``) and id or external-id value."""

    object: str
    record_id: str


@dataclass(frozen=True, slots=True)
class FieldWrite:
    """One field value sent to a record; remembered so an unchanged value is not re-sent."""

    object: str
    record_id: str
    field: str
    value: Any

    @property
    def record(self) -> RecordRef:
        return RecordRef(self.object, self.record_id)


@dataclass(frozen=True, slots=True)
class JobRun:
    id: int
    job: str
    started_at: datetime
    finished_at: datetime | None
    result: JobResult | None  # None while running (or if the daemon died during the run)
    detail: str
    duration_s: float | None


@dataclass(frozen=True, slots=True)
class Command:
    id: int
    kind: CommandKind
    target: str
    args: Mapping[str, Any]
    status: CommandStatus
    result: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AuditItem:
    system: System
    object: str
    record_id: str
    action: str  # create, update, upsert, ...
    fields: Mapping[str, Any]
    reason: str  # why, in words (``state.words``)
    at: datetime | None = None  # None: the transaction's time
    keys: str = ""  # the outbox rows' idempotency keys, "; " between them


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    system: System
    object: str
    record_id: str
    action: str
    fields: Mapping[str, Any]
    reason: str  # why, in words
    keys: str = ""  # the idempotency keys of the rows it carried out (none before 0006)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pid: int
    started_at: datetime
    beat_at: datetime
    target: str  # what the daemon points at, e.g. "sandbox" or "production"
    stopped_at: datetime | None = None  # set by a clean shutdown; None while it runs
    # The daemon's monotonic clock at the beat, and the boot it was read in: how old the beat
    # is, judged on the same machine without trusting a wall clock that may have stepped.
    monotonic: float | None = None
    boot_id: str | None = None


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    system: System
    used: int
    max: int
    share: float  # the fraction of ``max`` cmsync may spend
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StageSummary:
    lifecycle_state: str
    accounts: int
    mrr_cents: int


@dataclass(frozen=True, slots=True)
class MinuteCount:
    minute: datetime
    writes: int
