"""Where the emulator's records live, with the indexes the API's lookups and uniqueness rules
need. No validation and no wire formats here: those are the store's and the views' jobs.

Listing orders are creation orders (customers by integer id, plans and invoices by a sequence
number), kept in append-only lists; deleted records stay in those lists and are skipped, so a
cursor that names a deleted record still marks a place.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from itertools import count
from typing import TypeVar

from cmsync.sandbox.chartmogul.feed import ActivityFeed
from cmsync.sandbox.chartmogul.ids import IdFactory, PositionCodec
from cmsync.sandbox.chartmogul.processing import Processing
from cmsync.sandbox.chartmogul.rates import RateSchedule
from cmsync.sandbox.chartmogul.records import (
    Customer,
    DataSource,
    Invoice,
    Plan,
    Subscription,
)
from cmsync.sandbox.chartmogul.timefmt import to_ts
from cmsync.sandbox.clock import SandboxClock

__all__ = ["Registry", "after_key"]

R = TypeVar("R")


def after_key(
    ordered: Sequence[R], key: Callable[[R], int], last: int | None, alive: Callable[[R], bool]
) -> Iterator[R]:
    """The live records of ``ordered`` (ascending by ``key``) whose key is above ``last``."""
    start = 0 if last is None else bisect_right(ordered, last, key=key)
    return (record for record in ordered[start:] if alive(record))


def _invoice_seq(invoice: Invoice) -> int:
    return invoice.seq


class Registry:
    """All records of one emulated ChartMogul account."""

    def __init__(self, clock: SandboxClock, seed: int, currency: str = "USD") -> None:
        self.clock = clock
        self.rates = RateSchedule(currency)  # into the account currency, ``currency``
        self.ids = IdFactory(seed)
        self.codec = PositionCodec(self.ids.secret())
        self.feed = ActivityFeed()
        self.processing = Processing()  # per-data-source delays, and what they hold
        self.seq = count(1)

        self.data_sources: dict[str, DataSource] = {}
        self.plans: dict[str, Plan] = {}
        self.plan_order: list[Plan] = []
        self.plan_by_external: dict[tuple[str, str], Plan] = {}
        self.customers: dict[str, Customer] = {}
        self.customer_order: list[Customer] = []
        self.customer_by_external: dict[tuple[str, str], Customer] = {}
        self.customers_by_email: dict[str, list[Customer]] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.invoices: dict[str, Invoice] = {}
        self.invoice_order: list[Invoice] = []
        self.invoice_by_external: dict[tuple[str, str], Invoice] = {}
        self.line_item_externals: set[tuple[str, str]] = set()
        self.transaction_externals: set[tuple[str, str]] = set()

    def now(self) -> int:
        return to_ts(self.clock.now())

    # customers -------------------------------------------------------------------------

    def add_customer(self, customer: Customer) -> None:
        self.customers[customer.uuid] = customer
        self.customer_order.append(customer)
        self.customer_by_external[(customer.data_source.uuid, customer.external_id)] = customer
        self.index_email(customer)

    def index_email(self, customer: Customer) -> None:
        if customer.email:
            self.customers_by_email.setdefault(customer.email.lower(), []).append(customer)

    def unindex_email(self, customer: Customer) -> None:
        if customer.email:
            bucket = self.customers_by_email.get(customer.email.lower(), [])
            if customer in bucket:
                bucket.remove(customer)

    def forget_customer(self, customer: Customer) -> None:
        """Drop a customer with its subscriptions, invoices and activities."""
        self.customers.pop(customer.uuid, None)
        for one in (customer, *customer.merged):
            self.customer_by_external.pop((one.data_source.uuid, one.external_id), None)
        self.unindex_email(customer)
        for subscription in customer.subscriptions.values():
            self.subscriptions.pop(subscription.uuid, None)
        for invoice in list(customer.invoices):
            self.forget_invoice(invoice)
        self.feed.replace(customer.activities, ())
        customer.activities = []

    def merge_customer(self, loser: Customer, survivor: Customer) -> None:
        """Move ``loser``'s billing (subscriptions, invoices) and external ids to ``survivor``
        and drop ``loser``; its activities leave the feed (the caller rebuilds the survivor's
        history, which brings them back under the survivor with new uuids).

        The loser's (data source, external id) keys now name the survivor: a customer cannot
        be created again under them, and listing by one finds the survivor.
        """
        self.customers.pop(loser.uuid, None)
        self.unindex_email(loser)
        for one in (loser, *loser.merged):
            self.customer_by_external[(one.data_source.uuid, one.external_id)] = survivor
        survivor.merged.extend([loser, *loser.merged])
        loser.merged = []
        for external_id, subscription in loser.subscriptions.items():
            subscription.customer = survivor
            key = external_id
            if key in survivor.subscriptions:  # the same id in two data sources: keep both
                key = f"{external_id}@{subscription.data_source.uuid}"
            survivor.subscriptions[key] = subscription
        loser.subscriptions = {}
        for invoice in loser.invoices:
            invoice.customer = survivor
        survivor.invoices = sorted([*survivor.invoices, *loser.invoices], key=_invoice_seq)
        loser.invoices = []
        self.feed.replace(loser.activities, ())
        loser.activities = []
        loser.timeline = None

    def live_customer(self, customer: Customer) -> bool:
        return customer.uuid in self.customers

    # invoices --------------------------------------------------------------------------

    def add_invoice(self, invoice: Invoice) -> None:
        ds = invoice.data_source.uuid
        self.invoices[invoice.uuid] = invoice
        self.invoice_order.append(invoice)
        self.invoice_by_external[(ds, invoice.external_id)] = invoice
        invoice.customer.invoices.append(invoice)
        for item in invoice.line_items:
            if item.external_id is not None:
                self.line_item_externals.add((ds, item.external_id))
        for transaction in invoice.transactions:
            if transaction.external_id is not None:
                self.transaction_externals.add((ds, transaction.external_id))

    def forget_invoice(self, invoice: Invoice) -> None:
        ds = invoice.data_source.uuid
        self.invoices.pop(invoice.uuid, None)
        self.invoice_by_external.pop((ds, invoice.external_id), None)
        if invoice in invoice.customer.invoices:
            invoice.customer.invoices.remove(invoice)
        for item in invoice.line_items:
            if item.external_id is not None:
                self.line_item_externals.discard((ds, item.external_id))
            if item.subscription is not None and item in item.subscription.line_items:
                item.subscription.line_items.remove(item)
                if not item.subscription.line_items:
                    self._forget_subscription(item.subscription)
        for transaction in invoice.transactions:
            if transaction.external_id is not None:
                self.transaction_externals.discard((ds, transaction.external_id))

    def _forget_subscription(self, subscription: Subscription) -> None:
        """A subscription whose only invoice was deleted goes with it [REAL: ChartMogul API
        reference, "Delete an Invoice": "If this is the only invoice for a subscription,
        deleting this invoice will also remove the subscription"]."""
        self.subscriptions.pop(subscription.uuid, None)
        owned = subscription.customer.subscriptions
        for key in [k for k, s in owned.items() if s is subscription]:
            del owned[key]

    def live_invoice(self, invoice: Invoice) -> bool:
        return invoice.uuid in self.invoices

    # plans -----------------------------------------------------------------------------

    def add_plan(self, plan: Plan) -> None:
        self.plans[plan.uuid] = plan
        self.plan_order.append(plan)
        self.plan_by_external[(plan.data_source.uuid, plan.external_id)] = plan

    def forget_plan(self, plan: Plan) -> None:
        self.plans.pop(plan.uuid, None)
        self.plan_by_external.pop((plan.data_source.uuid, plan.external_id), None)

    def live_plan(self, plan: Plan) -> bool:
        return plan.uuid in self.plans
