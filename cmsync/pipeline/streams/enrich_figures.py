"""What a Contact or Lead learns from its ChartMogul customer, and the update that writes it (pure).

The figures come from the customer record (MRR, status, UUID), the customer's account state
as cmsync keeps it for its Account (plan, customer since) and its invoices (lifetime value);
its subscriptions are read only when the account state cannot say.

- Plan tier and subscription start: the customer's as its Account shows them, one definition
  of "the customer's plan" across every record cmsync writes: the plan of its latest paid
  movement and the day it first paid (``customer since``), from the account state the
  activities step keeps (``lifecycle.Account``), the plan's external id written as its name.
  A customer with no paid movement (a lead, a trial, a free plan) has no plan there: its
  subscriptions say, read once (``main_subscriptions``): among the active ones (all of them if
  none is active) the one with the highest MRR, the latest start breaking ties, and the
  earliest start among those same subscriptions. A customer none of whose invoices has a
  subscription or trial line item has no subscription (ChartMogul makes subscriptions from
  those line items only: "Import Invoices", dev.chartmogul.com/reference/invoices/import), so
  it is not read: no plan, no start.
- Lifetime value: ChartMogul's API has no per-customer LTV (its LTV metric is account-wide,
  ARPA over churn), so cmsync writes what the customer has actually paid, net: the total of
  every invoice with a successful payment, less the total of every invoice with a successful
  refund. The invoice API gives no per-transaction amounts, so a refund counts as whole and a
  partial payment as full. Invoice amounts are in each invoice's own currency, while every
  figure cmsync writes is in the ChartMogul account's (the customer record's ``currency``):
  cmsync does not convert, so a customer billed in another currency gets no lifetime value
  (left out, as unknown) rather than euros written as dollars.
- MRR and status: the customer record's, the authority for them.

A value that is unknown (no subscription: no plan, no start) is left out of the update rather
than written as empty. The update's idempotency key carries a digest of its values, so reading
the same person again enqueues nothing, while changed figures make a new row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from cmsync.chartmogul.records import CustomerSubscription, Invoice
from cmsync.config import PersonFieldMap
from cmsync.pipeline.translate import wire
from state import AccountState, OutboxItem, System
from state.effects import Money
from state.writeplan import Operation

__all__ = [
    "CustomerRecord",
    "Paid",
    "PersonFigures",
    "figures_of",
    "lifetime_value",
    "main_subscriptions",
    "paid",
    "person_figures",
    "person_payload",
    "person_update",
    "reads_subscriptions",
    "subscription_facts",
]

_PLAN_LIMIT = 255  # the plan field is a Text(255)
_STATUS_LIMIT = 40
_EARLIEST = datetime.min.replace(tzinfo=UTC)


class CustomerRecord(Protocol):
    """What the figures take of the customer record: a ``Customer`` read, or ``Listed``."""

    @property
    def uuid(self) -> str: ...
    @property
    def mrr(self) -> int: ...
    @property
    def status(self) -> str | None: ...
    @property
    def currency(self) -> str | None: ...


@dataclass(frozen=True, slots=True)  # one per matched customer, kept for the run
class PersonFigures:
    customer_uuid: str
    mrr_cents: int
    ltv_cents: int | None  # None: invoices in another currency than the account's
    status: str | None
    plan: str | None
    subscription_start: date | None


def main_subscriptions(
    subscriptions: Sequence[CustomerSubscription],
) -> tuple[str | None, date | None]:
    """The plan tier and the subscription start (see the module doc)."""
    active = [s for s in subscriptions if (s.status or "").lower() == "active"]
    pool = active or list(subscriptions)
    if not pool:
        return None, None
    main = max(pool, key=lambda s: (s.mrr, s.start_date or _EARLIEST))
    starts = [s.start_date for s in pool if s.start_date is not None]
    return main.plan, min(starts).astimezone(UTC).date() if starts else None


def subscription_facts(
    state: AccountState | None,
    plan_names: Mapping[str, str],
    subscriptions: Sequence[CustomerSubscription] = (),
) -> tuple[str | None, date | None]:
    """The plan tier and the subscription start (see the module doc): the account state's,
    or, with no plan there, the main subscription's of those read."""
    if state is not None and state.plan:
        since = state.customer_since
        start = since.astimezone(UTC).date() if since is not None else None
        return plan_names.get(state.plan, state.plan), start
    return main_subscriptions(subscriptions)


def _net(invoice: Invoice) -> int:
    """An invoice's part of the lifetime value: whole, paid; less, whole, refunded."""
    amount = sum(item.amount_in_cents for item in invoice.line_items)
    kinds = {t.type for t in invoice.transactions if t.result == "successful"}
    return (amount if "payment" in kinds else 0) - (amount if "refund" in kinds else 0)


def lifetime_value(invoices: Iterable[Invoice]) -> int:
    """Cents paid, net of refunds: whole invoices with a successful payment or refund."""
    return sum(_net(invoice) for invoice in invoices)


_CURRENCIES: dict[frozenset[str], frozenset[str]] = {}  # one set per combination seen


_SUBSCRIBING = frozenset({"subscription", "trial"})  # the line items that make a subscription


@dataclass(frozen=True, slots=True)
class Paid:
    """What a customer's invoices add up to for its lifetime value, one invoice at a time (a
    listing of every invoice is summed as it is read, never held), and whether any of them
    made a subscription (``reads_subscriptions``)."""

    cents: int = 0
    currencies: frozenset[str] = frozenset()
    subscribed: bool = False

    def plus(self, invoice: Invoice) -> Paid:
        currencies = self.currencies | {invoice.currency.upper()}
        subscribed = self.subscribed or any(i.type in _SUBSCRIBING for i in invoice.line_items)
        return Paid(
            self.cents + _net(invoice), _CURRENCIES.setdefault(currencies, currencies), subscribed
        )


def paid(invoices: Iterable[Invoice]) -> Paid:
    total = Paid()
    for invoice in invoices:
        total = total.plus(invoice)
    return total


def reads_subscriptions(state: AccountState | None, paid: Paid) -> bool:
    """Whether the customer's subscriptions must be read: its account state has no plan (no
    paid movement yet) and some invoice of it has a subscription or trial line item."""
    return not (state is not None and state.plan) and paid.subscribed


def person_figures(
    customer: CustomerRecord,
    subscriptions: Sequence[CustomerSubscription],
    invoices: Iterable[Invoice],
    state: AccountState | None = None,
    plan_names: Mapping[str, str] | None = None,
) -> PersonFigures:
    """The figures from the reads of one customer (and its account state, if it has one)."""
    facts = subscription_facts(state, plan_names or {}, subscriptions)
    return figures_of(customer, facts, paid(invoices))


def figures_of(
    customer: CustomerRecord, facts: tuple[str | None, date | None], paid: Paid
) -> PersonFigures:
    """The figures from the customer record, its plan and start (``subscription_facts``) and
    its invoices' sum (``Paid``)."""
    plan, start = facts
    account_currency = (customer.currency or "").upper()
    foreign = account_currency and any(c != account_currency for c in paid.currencies)
    return PersonFigures(
        customer_uuid=customer.uuid,
        mrr_cents=customer.mrr,
        ltv_cents=None if foreign else paid.cents,
        status=customer.status,
        plan=plan,
        subscription_start=start,
    )


def person_payload(figures: PersonFigures, fields: PersonFieldMap) -> dict[str, Any]:
    """``{API name: wire value}`` for the configured person fields; unknowns left out."""
    values: dict[str, Any] = {
        fields.plan: figures.plan[:_PLAN_LIMIT] if figures.plan else None,
        fields.subscription_start: figures.subscription_start,
        fields.ltv: None if figures.ltv_cents is None else Money(figures.ltv_cents),
        fields.mrr: Money(figures.mrr_cents),
        fields.status: figures.status[:_STATUS_LIMIT] if figures.status else None,
        fields.customer_uuid: figures.customer_uuid,
    }
    return {name: wire(value) for name, value in values.items() if value is not None}


def person_update(sobject: str, record_id: str, payload: dict[str, Any], reason: str) -> OutboxItem:
    """The outbox update of one Contact or Lead, keyed by its record and its values."""
    digest = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:16]
    return OutboxItem(
        idempotency_key=f"enrich|{sobject}|{record_id}|{digest}",
        kind=Operation.UPDATE.value,
        target_system=System.SALESFORCE,
        target_object=sobject,
        target_key=record_id,
        payload=payload,
        reason=reason,
    )
