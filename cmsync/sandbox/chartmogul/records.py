"""The emulator's stored records: slotted dataclasses, linked by reference.

Moments are UTC epoch seconds (``int``). Records are mutable where the API can change them
(customers, plans, subscriptions) and compared by identity (``eq=False``), which is what the
sorted feed index needs to remove exactly the activity it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cmsync.sandbox.chartmogul.engine import Kind, Timeline

__all__ = [
    "Activity",
    "Customer",
    "DataSource",
    "Invoice",
    "LineItem",
    "Plan",
    "Subscription",
    "Transaction",
]


@dataclass(slots=True, eq=False)
class DataSource:
    uuid: str
    name: str
    system: str
    created_at: int


@dataclass(slots=True, eq=False)
class Plan:
    uuid: str
    external_id: str
    name: str
    interval_count: int
    interval_unit: str
    data_source: DataSource
    seq: int


@dataclass(slots=True, eq=False)
class Customer:
    id: int
    uuid: str
    data_source: DataSource
    external_id: str
    created_at: int
    name: str = ""
    email: str = ""
    company: str = ""
    country: str | None = None
    state: str | None = None
    city: str | None = None
    zip: str | None = None
    lead_created_at: int | None = None
    free_trial_started_at: int | None = None
    website_url: str | None = None
    owner: str | None = None
    lead_status: str = "New Lead"
    tags: list[str] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)
    primary_contact: dict[str, Any] | None = None
    subscriptions: dict[str, Subscription] = field(default_factory=dict)  # by external id
    invoices: list[Invoice] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)  # ascending by position
    timeline: Timeline | None = None  # what the last rebuild derived (MRR, status, since)
    # Customers merged into this one (``POST /v1/customers/merges``), oldest first: their
    # external ids and data sources are listed with this customer's own.
    merged: list[Customer] = field(default_factory=list)

    @property
    def external_ids(self) -> list[str]:
        return list(dict.fromkeys([self.external_id, *(m.external_id for m in self.merged)]))

    @property
    def data_source_uuids(self) -> list[str]:
        sources = [self.data_source, *(m.data_source for m in self.merged)]
        return list(dict.fromkeys(ds.uuid for ds in sources))


@dataclass(slots=True, eq=False)
class Subscription:
    uuid: str  # sub_… (import view)
    metrics_uuid: str  # bare uuid (metrics view)
    id: int
    external_id: str
    set_external_id: str
    customer: Customer
    data_source: DataSource
    plan: Plan
    created_at: int
    index: int = 0  # position among the customer's subscriptions, as the engine sees them
    cancellation_dates: list[int] = field(default_factory=list)
    line_items: list[LineItem] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Invoice:
    uuid: str
    external_id: str
    customer: Customer
    data_source: DataSource
    date: int
    due_date: int | None
    currency: str
    seq: int
    line_items: list[LineItem] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class LineItem:
    uuid: str
    external_id: str | None
    type: str  # subscription | one_time | trial
    invoice: Invoice
    amount_in_cents: int
    quantity: int
    subscription: Subscription | None = None
    plan: Plan | None = None
    service_period_start: int | None = None
    service_period_end: int | None = None
    cancelled_at: int | None = None
    prorated: bool = False
    proration_type: str | None = None
    description: str | None = None
    discount_code: str = ""
    discount_amount_in_cents: int = 0
    discount_description: str | None = None
    tax_amount_in_cents: int = 0
    transaction_fees_in_cents: int = 0
    transaction_fees_currency: str | None = None
    account_code: str = ""
    event_order: int | None = None


@dataclass(slots=True, eq=False)
class Transaction:
    uuid: str
    external_id: str | None
    invoice: Invoice
    type: str  # payment | refund
    date: int
    result: str  # successful | failed
    amount_in_cents: int | None = None
    transaction_fees_in_cents: int | None = None
    transaction_fees_currency: str | None = None


@dataclass(slots=True, eq=False)
class Activity:
    """One MRR movement in the feed; its uuid is derived from ``position`` when rendered."""

    position: int  # (epoch seconds << 32) | feed sequence number: the sort key
    customer: Customer
    subscription: Subscription
    kind: Kind
    delta: int
    customer_mrr: int
    subscription_mrr: int
    plan_before: Plan | None
    plan_after: Plan | None
    quantity_before: int
    quantity_after: int
    customers_delta: int

    @property
    def at(self) -> int:
        return self.position >> 32
