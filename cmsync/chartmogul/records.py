"""Typed records for what ChartMogul sends: pydantic models with the wire names as aliases.

ChartMogul mixes kebab-case (``activity-mrr-movement``, ``customer-since``) and snake_case
keys; each field names its wire spelling once here. Unknown fields are tolerated (the API adds
fields over time); a missing or mistyped required field raises ``RecordError`` naming the
record and the field. Money is integer cents in the account currency, as sent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from cmsync.errors import SkippableRecordError

__all__ = [
    "CENTS_LIMIT",
    "EARLIEST",
    "LATEST",
    "Account",
    "Activity",
    "ActivityType",
    "Customer",
    "CustomerSubscription",
    "DataSource",
    "Invoice",
    "LineItem",
    "MetricsEntry",
    "MetricsReport",
    "Page",
    "Plan",
    "RecordError",
    "Rejected",
    "Transaction",
    "parse_record",
    "record_key",
]

ActivityType = Literal["new_biz", "expansion", "contraction", "churn", "reactivation"]
# The moments Salesforce can hold: 1700-01-01T00:00:00Z to 4000-12-31T00:00:00Z (Data Loader
# Guide, "Data Import Dates"; Salesforce Help article 000383587). A time outside them can be
# written nowhere, and near the ends of Python's calendar (years 1 and 9999) the arithmetic on
# it (a lookback, a conversion to UTC) overflows in whatever step meets it.
EARLIEST = datetime(1700, 1, 1, tzinfo=UTC)
LATEST = datetime(4000, 12, 31, tzinfo=UTC)


# The years whose every moment lies between the two whatever its offset (under a day): one
# look at the year decides nearly every time read, where comparing aware datetimes calls
# both zones' ``utcoffset`` (a catch-up validates a million dates; the comparisons were a
# fourteenth of its reading thread).
_INSIDE_YEARS = range(EARLIEST.year + 2, LATEST.year - 1)


def _plausible(moment: datetime) -> datetime:
    if moment.year in _INSIDE_YEARS:
        return moment
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(
            f"outside {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}, the dates Salesforce holds"
        )
    return moment


# ChartMogul sends every time with a zone (``Z`` or an offset). A zone-less one is malformed:
# compared with the zone-aware times everywhere else, it would crash the step that read it.
Instant = Annotated[AwareDatetime, AfterValidator(_plausible)]
# Money is kept in the store's INTEGER columns, signed 64-bit in SQLite. ChartMogul takes more
# (an invoice line of 10**20 cents is imported and reported as is); such a figure is refused
# here, as a malformed record naming its value, rather than failing the page that writes it.
CENTS_LIMIT = 2**63 - 1
Cents = Annotated[int, Field(ge=-CENTS_LIMIT, le=CENTS_LIMIT)]


def _not_negative(cents: int) -> int:
    if cents < 0:
        raise ValueError(f"{cents} cents: a negative MRR or ARR cannot be true")
    return cents


# MRR and ARR (a customer's, or after an activity) are sums of what is billed; negative, they
# are corrupt data (a refund or credit imported as a subscription line), refused here so that
# they are quarantined as a bad record and never written to Salesforce. Movements may be
# negative (contractions, churn).
Figure = Annotated[Cents, AfterValidator(_not_negative)]


class RecordError(SkippableRecordError, ValueError):
    """A record from ChartMogul that does not have the shape cmsync relies on."""

    def __init__(self, record: str, key: str, problems: list[str]) -> None:
        self.record = record
        self.key = key
        self.problems = problems
        super().__init__(f"{record} {key}: " + "; ".join(problems))


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Activity(_Record):
    uuid: str
    date: Instant
    type: ActivityType
    description: str = ""
    activity_mrr: Figure = Field(alias="activity-mrr")
    activity_mrr_movement: Cents = Field(alias="activity-mrr-movement")
    activity_arr: Figure = Field(alias="activity-arr")
    currency: str
    customer_uuid: str = Field(alias="customer-uuid")
    customer_name: str | None = Field(default=None, alias="customer-name")
    customer_external_id: str | None = Field(default=None, alias="customer-external-id")
    subscription_external_id: str | None = Field(default=None, alias="subscription-external-id")
    subscription_set_external_id: str | None = Field(
        default=None, alias="subscription-set-external-id"
    )
    plan_external_id: str | None = Field(default=None, alias="plan-external-id")
    billing_connector_uuid: str | None = Field(default=None, alias="billing-connector-uuid")


class Customer(_Record):
    uuid: str
    id: int | None = None
    external_id: str | None = None
    external_ids: list[str] = Field(default_factory=list)
    data_source_uuid: str | None = None
    data_source_uuids: list[str] = Field(default_factory=list)
    name: str | None = None
    email: str | None = None
    company: str | None = None
    status: str | None = None
    customer_since: Instant | None = Field(default=None, alias="customer-since")
    lead_created_at: Instant | None = None
    free_trial_started_at: Instant | None = None
    country: str | None = None
    mrr: Figure = 0
    arr: Figure = 0
    currency: str | None = None
    chartmogul_url: str | None = Field(default=None, alias="chartmogul-url")
    website_url: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class CustomerSubscription(_Record):
    uuid: str
    id: int | None = None
    external_id: str | None = None
    subscription_set_external_id: str | None = None
    plan: str | None = None
    quantity: int | None = None
    mrr: Cents = 0
    arr: Cents = 0
    status: str | None = None
    billing_cycle: str | None = Field(default=None, alias="billing-cycle")
    billing_cycle_count: int | None = Field(default=None, alias="billing-cycle-count")
    start_date: Instant | None = Field(default=None, alias="start-date")
    end_date: Instant | None = Field(default=None, alias="end-date")
    currency: str | None = None


class LineItem(_Record):
    uuid: str | None = None
    external_id: str | None = None
    type: Literal["subscription", "one_time", "trial"]
    subscription_uuid: str | None = None
    subscription_external_id: str | None = None
    plan_uuid: str | None = None
    service_period_start: Instant | None = None
    service_period_end: Instant | None = None
    amount_in_cents: Cents
    quantity: int | None = None


class Transaction(_Record):
    uuid: str | None = None
    external_id: str | None = None
    type: Literal["payment", "refund"]
    date: Instant
    result: Literal["successful", "failed"]


class Invoice(_Record):
    uuid: str
    external_id: str | None = None
    date: Instant
    due_date: Instant | None = None
    currency: str
    customer_uuid: str | None = None
    line_items: list[LineItem] = Field(default_factory=list)
    transactions: list[Transaction] = Field(default_factory=list)


class Account(_Record):
    """``GET /v1/account``: the currency every figure ChartMogul reports is in (invoices in
    other currencies are converted into it), and the account's time zone."""

    currency: str
    name: str | None = None
    time_zone: str | None = None


class DataSource(_Record):
    uuid: str
    name: str
    system: str | None = None
    status: str | None = None
    created_at: Instant | None = None


class Plan(_Record):
    uuid: str
    data_source_uuid: str | None = None
    name: str
    interval_count: int
    interval_unit: Literal["day", "month", "year"]
    external_id: str | None = None


class MetricsEntry(_Record):
    """One interval of a ``/v1/metrics/*`` report; each metric may be absent from a report."""

    date: date
    mrr: int | None = None
    arr: int | None = None
    arpa: int | None = None
    asp: int | None = None
    customers: int | None = None
    customer_churn_rate: float | None = Field(default=None, alias="customer-churn-rate")
    mrr_churn_rate: float | None = Field(default=None, alias="mrr-churn-rate")
    ltv: float | None = None
    # The MRR movements of the interval; ``/metrics/mrr`` carries them, ``/metrics/all`` not.
    mrr_new_business: int | None = Field(default=None, alias="mrr-new-business")
    mrr_expansion: int | None = Field(default=None, alias="mrr-expansion")
    mrr_contraction: int | None = Field(default=None, alias="mrr-contraction")
    mrr_churn: int | None = Field(default=None, alias="mrr-churn")
    mrr_reactivation: int | None = Field(default=None, alias="mrr-reactivation")


class MetricsReport(_Record):
    entries: list[MetricsEntry]
    summary: dict[str, Any] = Field(default_factory=dict)


T = TypeVar("T", bound=_Record)


@dataclass(frozen=True)
class Rejected:
    """An entry of a page that did not parse: kept whole for quarantine, with the reason."""

    raw: Any
    error: RecordError


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a cursor-paginated listing: the good entries, the rejected ones, the cursor.

    A malformed entry does not sink its page: it is set aside in ``rejected`` so the caller can
    quarantine it and still advance past it.
    """

    entries: tuple[T, ...]
    rejected: tuple[Rejected, ...] = ()
    cursor: str | None = None
    has_more: bool = False
    # The listing's page count, where the answer says it: ChartMogul's legacy pagination
    # fields (``total_pages``) come on the first page of a customer or invoice listing only.
    total_pages: int | None = None


_KEY_CHARS = 80  # longer identifiers are shown cut, with a digest of the whole


def _digest(raw: Any) -> str:
    text = json.dumps(raw, sort_keys=True, default=repr, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_key(raw: Any) -> str:
    """What names a record in errors and quarantine: its uuid or external id, else a digest.

    Every bad record must get an entry of its own, so a record without a usable identifier
    (missing, not a string, empty) is named by a digest of its content (``sha256:…``). An
    identifier is shown as sent unless it is long or holds control characters: then it is
    cut, made printable, and suffixed with a digest that keeps it unique.
    """
    if isinstance(raw, dict):
        for name in ("uuid", "external_id"):
            value = raw.get(name)
            if isinstance(value, str) and value.strip():
                if len(value) <= _KEY_CHARS and value.isprintable():
                    return value
                shown = value[:_KEY_CHARS].encode("unicode_escape").decode("ascii")
                return f"{shown[:_KEY_CHARS]}…sha256:{_digest(value)}"
    return f"sha256:{_digest(raw)}"


_SHOWN_CHARS = 60


def _shown(value: Any) -> str:
    """The offending value, when it is one (the operator fixes the record by it), cut short."""
    if isinstance(value, dict | list | tuple) or value is None:
        return ""
    text = repr(value)
    return f", got {text[:_SHOWN_CHARS]}{'…' if len(text) > _SHOWN_CHARS else ''}"


def parse_record(model: type[T], raw: Any) -> T:
    """``raw`` as a ``model``; RecordError names the record and each bad field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}{_shown(e['input'])}"
            for e in exc.errors()
        ]
        raise RecordError(model.__name__, record_key(raw), problems) from None
