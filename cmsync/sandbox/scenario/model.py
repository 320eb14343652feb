"""The scenario as plain data: what to create in both emulators, and the ground truth.

Keys (``acct-0007``, ``cus-0007``) stand in for ids that only exist once records are created;
the seeder resolves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

__all__ = [
    "IMPORT_SOURCE",
    "PAYPAL_SOURCE",
    "AccountPlan",
    "ContactPlan",
    "CustomerPlan",
    "DataSourceSpec",
    "InvoicePlan",
    "LeadPlan",
    "LineItemPlan",
    "LinkKind",
    "OpportunityPlan",
    "PlanSpec",
    "Scenario",
    "UserPlan",
]


class LinkKind(StrEnum):
    """How (or whether) a ChartMogul customer can be matched to its Salesforce Account."""

    LINKED = "linked"  # the Account already holds CM_Customer_UUID__c
    EXTERNAL_ID = "external_id"  # the customer's external id is the Account Id
    CONTACT_EMAIL = "contact_email"  # the customer's email is a Contact's of the Account
    DOMAIN = "domain"  # only the email's domain equals the Account's website domain
    AMBIGUOUS = "ambiguous"  # the email is a Contact's on two Accounts: never guess
    NO_EMAIL = "no_email"  # nothing to match on
    FREEMAIL = "freemail"  # a gmail-style address: domain matching must not apply
    CM_ONLY = "cm_only"  # no Account exists for this customer


@dataclass(frozen=True)
class DataSourceSpec:
    """A billing data source of the company and how far its processing lags.

    ``processing_delay_seconds`` None follows the sandbox's default (``--processing-delay``).
    ChartMogul processes each source on its own schedule: Import API data within a few minutes
    (help.chartmogul.com, article 360002155580), webhook-driven billing systems about ten
    minutes, PayPal hours behind, the app stores daily (``cmsync.sandbox.chartmogul.processing``).
    """

    key: str
    name: str
    processing_delay_seconds: int | None = None


IMPORT_SOURCE = DataSourceSpec("import", "cmsync sandbox billing")
PAYPAL_SOURCE = DataSourceSpec("paypal", "PayPal", processing_delay_seconds=3 * 3600)


@dataclass(frozen=True)
class PlanSpec:
    key: str
    name: str
    interval_count: int
    interval_unit: str  # day | month | year
    unit_price_cents: int  # per seat per billing period

    @property
    def period_months(self) -> int:
        return self.interval_count * (12 if self.interval_unit == "year" else 1)


@dataclass(frozen=True)
class UserPlan:
    key: str
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class AccountPlan:
    key: str
    name: str
    website: str | None
    owner: str  # UserPlan key
    success_manager: str | None
    country: str
    link: LinkKind | None  # None: an Account with no ChartMogul customer


@dataclass(frozen=True)
class ContactPlan:
    key: str
    account: str
    first_name: str
    last_name: str
    email: str | None


@dataclass(frozen=True)
class LeadPlan:
    key: str
    first_name: str
    last_name: str
    company: str
    email: str | None
    converted_account: str | None
    converted_contact: str | None
    converted_on: date | None


@dataclass(frozen=True)
class OpportunityPlan:
    key: str
    account: str
    name: str
    stage: str
    amount: float
    close_date: date
    type: str


@dataclass(frozen=True)
class LineItemPlan:
    subscription: str  # subscription external id
    plan: str  # PlanSpec key
    start: datetime
    end: datetime
    quantity: int
    amount_cents: int


@dataclass(frozen=True)
class InvoicePlan:
    external_id: str
    date: datetime
    line_items: tuple[LineItemPlan, ...]
    payment: str  # successful | failed | recovered (failed, then successful days later)


@dataclass(frozen=True)
class CustomerPlan:
    key: str
    account: str | None
    link: LinkKind
    name: str
    company: str
    email: str | None
    country: str
    lead_created_at: datetime
    free_trial_started_at: datetime | None
    invoices: tuple[InvoicePlan, ...]
    cancellations: tuple[tuple[str, datetime], ...]  # (subscription external id, cancelled_at)
    currency: str = "USD"  # what its invoices are in (ChartMogul converts to the account's)
    source: str = IMPORT_SOURCE.key  # DataSourceSpec key


@dataclass(frozen=True)
class Scenario:
    seed: int
    now: datetime
    plans: tuple[PlanSpec, ...]
    users: tuple[UserPlan, ...]
    accounts: tuple[AccountPlan, ...]
    contacts: tuple[ContactPlan, ...]
    leads: tuple[LeadPlan, ...]
    opportunities: tuple[OpportunityPlan, ...]
    customers: tuple[CustomerPlan, ...]
    notes: dict[str, int] = field(default_factory=dict)
    # The first is the Import API source cmsync imports Closed-Won deals into.
    data_sources: tuple[DataSourceSpec, ...] = (IMPORT_SOURCE, PAYPAL_SOURCE)
