"""A Closed-Won Opportunity as cmsync reads it, and the ChartMogul bodies it becomes (pure).

Everything here is a function of the Opportunity row and the settings: no I/O, no clock.

- ``Deal.from_row`` reads the SOQL row (with its ``Account`` parent fields);
- ``refusal`` says why a deal cannot be imported (no Account, no Amount, not positive);
- ``plan_key`` picks the plan's external id: the ``plan_field`` value through
  ``plan_by_value``, else the Opportunity Type through ``plan_by_type``, else ``default_plan``;
- ``line_amount_cents`` prices one billing interval of the plan: the Amount pays for
  ``term_months``, so one interval of ``m`` months costs ``Amount * m / term_months``. With the
  defaults (ACV, a monthly plan) that is Amount / 12, which ChartMogul reports as the MRR. The
  product is computed exactly (``Fraction``) and rounded once, half up, to whole cents;
- ``new_customer`` and ``new_invoice`` build the bodies. Every external id is the
  Opportunity's or the Account's Id, so a repeated import is refused by ChartMogul rather than
  doubled: invoice ``<Opportunity Id>``, subscription ``<Opportunity Id>``, line item
  ``<Opportunity Id>-li``, payment ``<Opportunity Id>-tx``, customer ``<Account Id>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any

from cmsync.chartmogul.writes import NewCustomer, NewInvoice, NewLineItem, NewTransaction
from cmsync.config import ClosedWonSettings
from state import periods
from state.sftime import parse_datetime
from state.weburl import web_url

__all__ = [
    "Deal",
    "Era",
    "Horizon",
    "Interval",
    "interval_months",
    "line_amount_cents",
    "new_customer",
    "new_invoice",
    "period_end",
    "plan_key",
    "refusal",
]

# ChartMogul normalises a day plan by 365.25 / 12 days to the month (the MRR engine does too).
_DAYS_PER_MONTH = Fraction(1461, 48)


@dataclass(frozen=True)
class Interval:
    """A plan's billing interval."""

    count: int
    unit: str  # day, month or year

    def describe(self) -> str:
        return f"{self.count} {self.unit}{'s' if self.count != 1 else ''}"


@dataclass(frozen=True)
class Deal:
    """The fields of a won Opportunity (and of its Account) the import needs."""

    opportunity_id: str
    name: str
    account_id: str | None
    amount: Decimal | None
    close_date: date | None
    type: str | None
    plan_value: str | None  # the configured plan_field's value, if one is configured
    account_name: str | None
    country: str | None  # BillingCountry as given (may be a name, not a code)
    account_created: datetime | None
    website: str | None
    uuid_field: str | None  # the Account's CM_Customer_UUID__c

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, plan_field: str | None, uuid_field: str) -> Deal:
        account = row.get("Account") or {}
        created = account.get("CreatedDate")
        close = row.get("CloseDate")
        plan_value = row.get(plan_field) if plan_field else None
        return cls(
            opportunity_id=str(row["Id"]),
            name=str(row.get("Name") or row["Id"]),
            account_id=row.get("AccountId"),
            amount=_decimal(row.get("Amount")),
            close_date=date.fromisoformat(close) if isinstance(close, str) else None,
            type=row.get("Type"),
            plan_value=None if plan_value is None else str(plan_value),
            account_name=account.get("Name"),
            country=account.get("BillingCountry"),
            account_created=parse_datetime(created) if isinstance(created, str) else None,
            website=account.get("Website"),
            uuid_field=account.get(uuid_field) or None,
        )

    @property
    def starts(self) -> datetime:
        """The service period's start: the close date at midnight UTC."""
        assert self.close_date is not None, "refusal() first"
        return datetime.combine(self.close_date, time(), tzinfo=UTC)


class Era(StrEnum):
    """Where a deal's close date falls relative to when cmsync started importing deals."""

    HISTORY = "history"  # before the backfill window: never imported
    BACKFILL = "backfill"  # in the window before the start: imported for new customers only
    NEW = "new"  # on or after the start: always imported


@dataclass(frozen=True)
class Horizon:
    """The poller's start date (fixed at its first run) and the backfill window before it.

    Deals won before cmsync existed are already in ChartMogul if a billing system bills them,
    and a years-old deal imported today would be an active subscription that ended long ago.
    So a deal closed before ``since`` is imported only if it is recent (the backfill window)
    and its Account has no paying ChartMogul customer yet; older ones never are, even when
    someone edits them later. Deals closed from ``since`` on are always imported.
    """

    since: date
    backfill_days: int

    def era(self, close_date: date) -> Era:
        if close_date >= self.since:
            return Era.NEW
        if close_date >= self.since - timedelta(days=self.backfill_days):
            return Era.BACKFILL
        return Era.HISTORY


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        # str() first: a JSON float like 1392.1 must become Decimal("1392.1"), not its binary.
        return Decimal(str(value))
    except InvalidOperation:
        return None


def refusal(deal: Deal) -> str | None:
    """Why ``deal`` cannot become a subscription, or None if it can."""
    if not deal.account_id:
        return "the Opportunity has no Account: set its Account, then it is imported"
    if deal.close_date is None:
        return "the Opportunity has no Close Date"
    if deal.amount is None:
        return "the Opportunity has no Amount: set it, then it is imported"
    if not deal.amount.is_finite() or deal.amount <= 0:
        return f"the Opportunity's Amount must be positive (it is {deal.amount})"
    return None


def plan_key(deal: Deal, settings: ClosedWonSettings) -> tuple[str, str]:
    """The plan's external id, and where the choice came from (for messages)."""
    if settings.plan_field and deal.plan_value is not None:
        chosen = settings.plan_by_value.get(deal.plan_value)
        if chosen is not None:
            return chosen, f"{settings.plan_field} {deal.plan_value!r}"
    if deal.type is not None and deal.type in settings.plan_by_type:
        return settings.plan_by_type[deal.type], f"Type {deal.type!r}"
    return settings.default_plan, "the default plan"


def interval_months(interval: Interval) -> Fraction:
    """How many months one billing interval is, as ChartMogul normalises it."""
    match interval.unit:
        case "month":
            return Fraction(interval.count)
        case "year":
            return Fraction(12 * interval.count)
        case "day":
            return interval.count / _DAYS_PER_MONTH
    raise ValueError(f"unknown interval unit {interval.unit!r}")


def line_amount_cents(amount: Decimal, interval: Interval, term_months: int) -> int:
    """What one billing interval costs, in cents: Amount * interval months / term months."""
    exact = Fraction(amount) * 100 * interval_months(interval) / term_months
    return int(
        (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
    )


def period_end(start: datetime, interval: Interval) -> datetime:
    """The end of one billing interval from ``start``; month ends clamp (``state.periods``)."""
    return periods.period_end(start, interval.unit, interval.count)


def _country(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code, or None: ChartMogul refuses anything else.

    Orgs with State and Country Picklists hold codes; free-text BillingCountry values such as
    "United States" are left out rather than guessed.
    """
    if value is None:
        return None
    text = value.strip()
    return text.upper() if len(text) == 2 and text.isascii() and text.isalpha() else None


def new_customer(deal: Deal, email: str | None, data_source_uuid: str) -> NewCustomer:
    """The customer for the deal's Account, its external id being the Account Id."""
    assert deal.account_id is not None, "refusal() first"
    name = deal.account_name or deal.account_id
    # A lead cannot be created after it was won; Accounts imported into Salesforce later than
    # the deal (or backfilled) would say so otherwise.
    created = deal.account_created
    if created is None or created > deal.starts:
        created = deal.starts
    return NewCustomer(
        data_source_uuid=data_source_uuid,
        external_id=deal.account_id,
        name=name,
        company=name,
        email=email or None,
        country=_country(deal.country),
        lead_created_at=created,
        website_url=web_url(deal.website)[0],  # http and https only (``state.weburl``)
    )


def new_invoice(
    deal: Deal,
    *,
    plan_uuid: str,
    interval: Interval,
    settings: ClosedWonSettings,
    customer_external_id: str | None,
    data_source_uuid: str,
) -> NewInvoice:
    """One invoice for the first billing interval, paid, with one subscription line item."""
    assert deal.amount is not None, "refusal() first"
    start = deal.starts
    item = NewLineItem(
        type="subscription",
        subscription_external_id=deal.opportunity_id,
        subscription_set_external_id=deal.opportunity_id,
        plan_uuid=plan_uuid,
        service_period_start=start,
        service_period_end=period_end(start, interval),
        amount_in_cents=line_amount_cents(deal.amount, interval, settings.term_months),
        quantity=1,
        description=deal.name[:255],
        external_id=f"{deal.opportunity_id}-li",
    )
    payment = NewTransaction(
        type="payment", date=start, result="successful", external_id=f"{deal.opportunity_id}-tx"
    )
    return NewInvoice(
        external_id=deal.opportunity_id,
        date=start,
        currency=settings.currency,
        customer_external_id=customer_external_id,
        data_source_uuid=data_source_uuid,
        line_items=(item,),
        transactions=(payment,),
    )
