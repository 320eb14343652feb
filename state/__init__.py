"""What cmsync remembers: the SQLite store and the plain records it exchanges.

Open with ``Store.open(path)`` (the daemon; read-write, migrates) or ``Store.open_readonly``
(the dashboard). Every read and write of the daemon goes through ``with store.transaction() as
tx:``, which commits everything done through ``tx`` at once or nothing at all.
"""

from __future__ import annotations

from state.deals import ImportedDeal
from state.errors import (
    LinkConflictError,
    NotAStoreError,
    OutboxTransitionError,
    SchemaTooNewError,
    SchemaTooOldError,
    StaleStateError,
    StoreBusyError,
    StoreError,
    StoreUnwritableError,
)
from state.jobhealth import JobHealthRecord
from state.queries import Queries
from state.records import (
    AccountLink,
    AccountState,
    AuditEntry,
    AuditItem,
    BudgetSnapshot,
    Command,
    CommandKind,
    CommandStatus,
    CursorValue,
    DealStatus,
    FieldWrite,
    Heartbeat,
    JobResult,
    JobRun,
    MatchMethod,
    MinuteCount,
    OutboxCounts,
    OutboxDead,
    OutboxEntry,
    OutboxItem,
    OutboxRetry,
    OutboxStatus,
    PendingMatch,
    QuarantineEntry,
    QuarantineItem,
    QuarantineKind,
    QuarantineStatus,
    RecordRef,
    SignalRef,
    StageSummary,
    System,
)
from state.schema import head_revision
from state.store import Clock, ReadOnlyStore, Store
from state.transaction import Transaction

__all__ = [
    "AccountLink",
    "AccountState",
    "AuditEntry",
    "AuditItem",
    "BudgetSnapshot",
    "Clock",
    "Command",
    "CommandKind",
    "CommandStatus",
    "CursorValue",
    "DealStatus",
    "FieldWrite",
    "Heartbeat",
    "ImportedDeal",
    "JobHealthRecord",
    "JobResult",
    "JobRun",
    "LinkConflictError",
    "MatchMethod",
    "MinuteCount",
    "NotAStoreError",
    "OutboxCounts",
    "OutboxDead",
    "OutboxEntry",
    "OutboxItem",
    "OutboxRetry",
    "OutboxStatus",
    "OutboxTransitionError",
    "PendingMatch",
    "QuarantineEntry",
    "QuarantineItem",
    "QuarantineKind",
    "QuarantineStatus",
    "Queries",
    "ReadOnlyStore",
    "RecordRef",
    "SchemaTooNewError",
    "SchemaTooOldError",
    "SignalRef",
    "StageSummary",
    "StaleStateError",
    "Store",
    "StoreBusyError",
    "StoreError",
    "StoreUnwritableError",
    "System",
    "Transaction",
    "head_revision",
]
