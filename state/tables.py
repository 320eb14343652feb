"""The store's SQLModel tables. Private to the store: rows never leave it.

The classes declare the schema (``create_all`` builds it, ``schema.py`` versions it); the store
reads and writes through SQLAlchemy Core on their ``Table`` objects, because the hot paths are
bulk ``executemany`` inserts and upserts (10,000 outbox rows in about 0.2 s) where the ORM
would build, track and flush an object per row. The hottest of those statements are plain SQL
on tuples, derived with their converters from these classes (``state.rowcodec``), so a column
is declared here once and nowhere else. Each index below names the query it serves; a
table without one is small or is only reached by primary key.

Tables whose rows are ordered by id (``outbox``, ``audit``, ...) use AUTOINCREMENT so an id is
never reused after a purge: "rows after id N" stays a correct incremental read. The narrow
key table ``last_written`` is WITHOUT ROWID: the primary key is the only b-tree, which keeps it
compact. ``applied_signal`` was too, until its random text key made every commit rewrite most
of it: its rows are now appended and found by a hash (``AppliedSignalRow``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Table, text
from sqlmodel import Field, SQLModel

from state.columns import JsonText, UTCDateTime
from state.records import (
    CommandStatus,
    DealStatus,
    JobResult,
    OutboxStatus,
    QuarantineStatus,
)

__all__ = [
    "ALL_TABLES",
    "STAGE_TOTAL_TRIGGERS",
    "AccountLinkRow",
    "AccountStateRow",
    "AlertSentRow",
    "ApiBudgetRow",
    "AppliedSignalRow",
    "AuditRow",
    "CommandRow",
    "CursorRow",
    "HeartbeatRow",
    "ImportedDealRow",
    "JobHealthRow",
    "JobRunRow",
    "LastWrittenRow",
    "MergedKeyRow",
    "OutboxRow",
    "PendingMatchRow",
    "QuarantineRow",
    "SchemaVersionRow",
    "StageTotalRow",
    "StoreInfoRow",
    "table_of",
]


# Status columns are checked (they drive state machines); open-ended labels such as a
# quarantine kind or a match method are not, so adding a label needs no table rebuild.
def _one_of(column: str, values: type[Any]) -> CheckConstraint:
    listed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"ck_{column}_known")


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, nullable=nullable, index=index)


def _json() -> Any:
    return Field(sa_type=JsonText, nullable=False)


class SchemaVersionRow(SQLModel, table=True):
    __tablename__ = "schema_version"
    __table_args__ = (CheckConstraint("id = 1", name="ck_single_row"),)
    id: int = Field(default=1, primary_key=True)
    version: int
    updated_at: datetime = _ts()


class StoreInfoRow(SQLModel, table=True):
    """Facts about the file itself: when it was made (written once, by the store's creation).

    ``created_at`` is NULL for a store made before this table existed (revision 0003 adds it
    to such a file): its creation was never recorded, and the file's ctime would not say it
    (Linux changes a ctime on every write and chmod), so it is shown as unknown.
    """

    __tablename__ = "store_info"
    __table_args__ = (CheckConstraint("id = 1", name="ck_single_row"),)
    id: int = Field(default=1, primary_key=True)
    created_at: datetime | None = _ts(nullable=True)


class CursorRow(SQLModel, table=True):
    __tablename__ = "cursor"
    name: str = Field(primary_key=True)
    value: str
    updated_at: datetime = _ts()


class AccountLinkRow(SQLModel, table=True):
    __tablename__ = "account_link"
    customer_uuid: str = Field(primary_key=True)
    account_id: str = Field(unique=True)  # find link by Account Id
    matched_by: str
    matched_at: datetime = _ts()
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class PendingMatchRow(SQLModel, table=True):
    __tablename__ = "pending_match"
    customer_uuid: str = Field(primary_key=True)
    reason: str
    attempts: int
    first_seen_at: datetime = _ts()
    last_tried_at: datetime = _ts(index=True)  # the least recently tried come first


class QuarantineRow(SQLModel, table=True):
    __tablename__ = "quarantine"
    __table_args__ = (
        _one_of("status", QuarantineStatus),
        # At most one open entry per record and kind: adding it again refreshes that entry.
        # Also serves "which of these records are quarantined" (leading record_key).
        Index(
            "ux_quarantine_open",
            "record_key",
            "kind",
            "source",
            unique=True,
            sqlite_where=text("status = 'open'"),
        ),
        Index("ix_quarantine_status_id", "status", "id"),  # the dashboard's table
        {"sqlite_autoincrement": True},
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    source: str
    record_key: str
    reason: str
    candidates: Any = _json()
    payload: Any = _json()
    status: str
    resolution: str | None = None
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class ImportedDealRow(SQLModel, table=True):
    """A Closed-Won Opportunity cmsync imported as a ChartMogul invoice, and what became of it."""

    __tablename__ = "imported_deal"
    __table_args__ = (_one_of("status", DealStatus),)
    opportunity_id: str = Field(primary_key=True)
    account_id: str
    customer_uuid: str
    invoice_uuid: str
    amount_in_cents: int
    currency: str
    status: str
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class AccountStateRow(SQLModel, table=True):
    __tablename__ = "account_state"
    customer_uuid: str = Field(primary_key=True)
    lifecycle_state: str
    mrr_cents: int
    arr_cents: int
    currency: str | None = None
    plan: str | None = None
    status: str | None = None
    customer_since: datetime | None = _ts(nullable=True)
    churn_risk: str | None = None
    last_activity_at: datetime | None = _ts(nullable=True)
    memo: Any = _json()
    revision: int
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class StageTotalRow(SQLModel, table=True):
    """Accounts and MRR per lifecycle state, kept by triggers on ``account_state``.

    The dashboard shows these on every refresh; counting 100,000 states each time (even over
    a covering index) was a fifth of its refresh budget, and the sums change only when a
    state or its MRR does. ``STAGE_TOTAL_TRIGGERS`` keep the rows; ``schema`` installs them.
    """

    __tablename__ = "stage_total"
    lifecycle_state: str = Field(primary_key=True)
    accounts: int
    mrr_cents: int


_ADD = """INSERT INTO stage_total (lifecycle_state, accounts, mrr_cents)
        VALUES (NEW.lifecycle_state, 1, NEW.mrr_cents)
        ON CONFLICT (lifecycle_state) DO UPDATE
        SET accounts = accounts + 1, mrr_cents = mrr_cents + excluded.mrr_cents;"""
_TAKE = """UPDATE stage_total SET accounts = accounts - 1, mrr_cents = mrr_cents - OLD.mrr_cents
        WHERE lifecycle_state = OLD.lifecycle_state;"""

# name -> body. Installed together (``schema.install_triggers``), or rebuilt with a backfill.
STAGE_TOTAL_TRIGGERS: dict[str, str] = {
    "tr_stage_total_insert": f"AFTER INSERT ON account_state BEGIN {_ADD} END",
    "tr_stage_total_delete": f"AFTER DELETE ON account_state BEGIN {_TAKE} END",
    "tr_stage_total_update": (
        "AFTER UPDATE OF lifecycle_state, mrr_cents ON account_state "
        "WHEN OLD.lifecycle_state IS NOT NEW.lifecycle_state OR OLD.mrr_cents IS NOT NEW.mrr_cents "
        f"BEGIN {_TAKE} {_ADD} END"
    ),
}


class AppliedSignalRow(SQLModel, table=True):
    """A signal's natural key, applied to a customer: kept so a replay changes nothing.

    Rows go in insertion order (the integer ``id``: appends, not inserts all over a b-tree of
    text pairs, which every commit of a catch-up rewrote) and are found by ``signal_hash``
    (``state.signalhash``), the pair compared exactly after. A pair is stored once: no unique
    index says so (it would be that b-tree again); ``AppliedSignals.mark`` leaves out the pairs
    already there, in the same transaction, and the store has one writer. Revision 0007.
    """

    __tablename__ = "applied_signal"
    __table_args__ = (
        # The lookup of a page's signals by hash, and one customer's range of it (carry).
        Index("ix_applied_signal_hash", "signal_hash"),
    )
    id: int | None = Field(default=None, primary_key=True)
    signal_hash: int
    customer_uuid: str
    signal_key: str
    applied_at: datetime = _ts()


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        _one_of("status", OutboxStatus),
        # Due pending rows in id order (status equality, then id order, next_attempt_at read
        # from the index), counts by status, and the dead-letter table.
        Index("ix_outbox_status_id", "status", "id", "next_attempt_at"),
        # "Retrying" (pending with attempts > 0) counted from the index, not the table.
        Index("ix_outbox_status_attempts", "status", "attempts"),
        # A record's rows, so the dispatcher can claim all of them at once (claim_records).
        Index("ix_outbox_target", "target_key", "status"),
        {"sqlite_autoincrement": True},
    )
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True)
    kind: str
    target_system: str
    target_object: str
    target_key: str
    key_field: str | None = None  # the External ID field of an upsert; None: a record Id
    payload: Any = _json()
    reason: str
    status: str
    attempts: int
    next_attempt_at: datetime = _ts()
    last_error: str | None = None
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    # The idempotency keys of the effects merged into this row ("; " between them), so the
    # audit entry of its write names every signal it carried out, beside the words. 0006.
    merged_keys: str = Field(default="", sa_column_kwargs={"server_default": text("''")})


class MergedKeyRow(SQLModel, table=True):
    """The idempotency keys of effects merged into an earlier outbox row (``Outbox.enqueue``).

    Their rows were never inserted, so without this a replay of such an effect would be
    merged again, possibly over newer values. Purged with the finished outbox rows.
    """

    __tablename__ = "merged_key"
    __table_args__ = ({"sqlite_with_rowid": False},)
    idempotency_key: str = Field(primary_key=True)
    created_at: datetime = _ts()


class LastWrittenRow(SQLModel, table=True):
    __tablename__ = "last_written"
    __table_args__ = ({"sqlite_with_rowid": False},)
    object: str = Field(primary_key=True)
    record_id: str = Field(primary_key=True)
    field: str = Field(primary_key=True)
    value: Any = _json()
    written_at: datetime = _ts()


class JobRunRow(SQLModel, table=True):
    __tablename__ = "job_run"
    __table_args__ = (
        CheckConstraint(
            "result IS NULL OR result IN ({})".format(", ".join(f"'{r.value}'" for r in JobResult)),
            name="ck_result_known",
        ),
        Index("ix_job_run_job_id", "job", "id"),  # recent runs per job
        {"sqlite_autoincrement": True},
    )
    id: int | None = Field(default=None, primary_key=True)
    job: str
    started_at: datetime = _ts(index=True)  # retention purge
    finished_at: datetime | None = _ts(nullable=True)
    result: str | None = None
    detail: str = ""
    duration_s: float | None = None


class CommandRow(SQLModel, table=True):
    __tablename__ = "command"
    __table_args__ = (
        _one_of("status", CommandStatus),
        Index("ix_command_status_id", "status", "id"),  # new commands in order
        {"sqlite_autoincrement": True},
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    target: str
    args: Any = _json()
    status: str
    result: str | None = None
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit"
    __table_args__ = (
        Index("ix_audit_record", "object", "record_id", "id"),  # one record's history
        {"sqlite_autoincrement": True},
    )
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(index=True)  # writes per minute
    system: str
    object: str
    record_id: str
    action: str
    fields: Any = _json()
    reason: str  # why, in words (``state.words``)
    # The idempotency keys of the outbox rows the write carried out ("; " between them): the
    # signal it came from, for whoever traces it. 0006; rows written before have none.
    keys: str = Field(default="", sa_column_kwargs={"server_default": text("''")})


class HeartbeatRow(SQLModel, table=True):
    __tablename__ = "heartbeat"
    __table_args__ = (CheckConstraint("id = 1", name="ck_single_row"),)
    id: int = Field(default=1, primary_key=True)
    pid: int
    started_at: datetime = _ts()
    beat_at: datetime = _ts()
    stopped_at: datetime | None = _ts(nullable=True)  # set by a clean shutdown
    target: str
    beat_monotonic: float | None = Field(default=None, nullable=True)  # revision 0002
    boot_id: str | None = Field(default=None, nullable=True)  # revision 0002


class JobHealthRow(SQLModel, table=True):
    """Each scheduled job's health (``state.jobhealth``), written with the heartbeat; revision
    0004. Per job, not per source: jobs sharing a service fail and recover on their own."""

    __tablename__ = "job_health"
    job: str = Field(primary_key=True)
    failures: int = 0  # consecutive failed runs
    last_success_at: datetime | None = _ts(nullable=True)
    last_error: str | None = None
    last_error_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts()


class AlertSentRow(SQLModel, table=True):
    """An alert sent and not yet cleared (``state.alerting``); revision 0005. Kept so a
    restarted daemon neither repeats it nor forgets to say when it clears."""

    __tablename__ = "alert_sent"
    condition: str = Field(primary_key=True)
    mark: int = 0  # the newest item (dead letter, quarantine entry) the alert covered
    text: str
    sent_at: datetime = _ts()


class ApiBudgetRow(SQLModel, table=True):
    __tablename__ = "api_budget"
    system: str = Field(primary_key=True)
    used: int
    max: int
    share: float
    updated_at: datetime = _ts()


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a SQLModel class."""
    # SQLModel sets __table__ when the class is created but does not declare it for typing.
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


ALL_TABLES: tuple[Table, ...] = tuple(
    table_of(model)
    for model in (
        SchemaVersionRow,
        CursorRow,
        AccountLinkRow,
        PendingMatchRow,
        QuarantineRow,
        ImportedDealRow,
        AccountStateRow,
        StageTotalRow,
        AppliedSignalRow,
        OutboxRow,
        MergedKeyRow,
        LastWrittenRow,
        JobRunRow,
        CommandRow,
        AuditRow,
        HeartbeatRow,
        ApiBudgetRow,
        StoreInfoRow,
        JobHealthRow,
        AlertSentRow,
    )
)
