"""Rebuilding one customer's history: stored line items -> engine -> activities in the feed.

Any change to a customer's billing data (an invoice, a back-dated invoice, a cancellation, a
transaction, failed payments included) calls ``rebuild``, which does what ChartMogul does when
it reprocesses a customer: every activity of that customer is retired and the recomputed ones
get new positions, hence new uuids, even when nothing about them changed. Other customers'
activities are untouched. What it computes shows only after the data source's processing delay
(``processing``).
"""

from __future__ import annotations

from dataclasses import replace

from cmsync.sandbox.chartmogul.engine import (
    Bill,
    History,
    Movement,
    Period,
    SubscriptionInput,
    build_history,
    monthly_amount,
)
from cmsync.sandbox.chartmogul.processing import Held
from cmsync.sandbox.chartmogul.records import Activity, Customer, LineItem, Plan
from cmsync.sandbox.chartmogul.registry import Registry

__all__ = ["line_item_mrr", "rebuild", "release", "revalue", "settle"]


def line_item_mrr(item: LineItem) -> int:
    """The monthly value of a subscription line item, tax excluded; trials are worth 0.

    ChartMogul excludes ``tax_amount_in_cents`` from MRR; ``amount_in_cents`` is the line
    total after discounts. Prorated items are normalised by their own service period; with
    the default ``proration_type`` (differential) the engine adds that value to the
    subscription's MRR, with ``full`` it replaces it (Import API, "Import invoices").
    """
    if item.type != "subscription" or item.plan is None:
        return 0
    start, end = item.service_period_start, item.service_period_end
    service = end - start if item.prorated and start is not None and end is not None else None
    return monthly_amount(
        item.amount_in_cents - item.tax_amount_in_cents,
        item.plan.interval_count,
        item.plan.interval_unit,
        service_seconds=service,
    )


def _inputs(customer: Customer, account_currency: str) -> list[SubscriptionInput[Plan]]:
    inputs: list[SubscriptionInput[Plan]] = []
    for index, subscription in enumerate(customer.subscriptions.values()):
        subscription.index = index
        periods = [
            Period(
                start=item.service_period_start,
                end=item.service_period_end,
                mrr=line_item_mrr(item),
                quantity=item.quantity,
                plan=item.plan,
                adds=item.prorated and item.proration_type != "full",
                trial=item.type == "trial",
                # converted by the engine at each movement's date (see ``rates``)
                currency="" if item.invoice.currency == account_currency else item.invoice.currency,
            )
            for item in subscription.line_items
            if item.plan is not None
            and item.service_period_start is not None
            and item.service_period_end is not None
        ]
        cancellations = set(subscription.cancellation_dates)
        cancellations.update(i.cancelled_at for i in subscription.line_items if i.cancelled_at)
        inputs.append(SubscriptionInput(periods=periods, cancellations=sorted(cancellations)))
    return inputs


def _movement_key(m: Movement[Plan]) -> tuple[object, ...]:
    return (m.at, m.subscription, m.kind, m.delta, m.customer_mrr, m.subscription_mrr)


def _activity_key(a: Activity) -> tuple[object, ...]:
    return (a.at, a.subscription.index, a.kind, a.delta, a.customer_mrr, a.subscription_mrr)


def revalue(registry: Registry, customer: Customer) -> None:
    """Recompute the customer's history after the exchange rates changed.

    Drift moves MRR without a movement: when the recomputed movements are the ones the feed
    holds (the change is dated after all of them), only the timeline (the customer's ``mrr``)
    is replaced and the activities keep their uuids; otherwise the history is rebuilt.
    """
    if all(i.invoice.currency == registry.rates.account_currency for i in _items(customer)):
        return
    history = _build(registry, customer)
    if [_movement_key(m) for m in history.movements] == [
        _activity_key(a) for a in customer.activities
    ]:
        customer.timeline = history.timeline
        return
    rebuild(registry, customer)


def _bills(customer: Customer) -> tuple[Bill, ...]:
    """Each invoice with subscription lines: the period they cover and its payment attempts
    (refunds are not payments), for the status rule's "Past Due" (``customer_status``)."""
    bills = []
    for invoice in customer.invoices:
        spans = [(i.service_period_start, i.service_period_end) for i in invoice.line_items
                 if i.type == "subscription" and i.service_period_start is not None
                 and i.service_period_end is not None]  # fmt: skip
        if not spans:
            continue
        payments = sorted((t.date, t.result == "successful") for t in invoice.transactions
                          if t.type == "payment")  # fmt: skip
        bills.append(Bill(min(s for s, _ in spans), max(e for _, e in spans), tuple(payments)))
    return tuple(bills)


def _build(registry: Registry, customer: Customer) -> History[Plan]:
    """The engine's history of the customer, its timeline carrying the invoices' payments."""
    history = build_history(_inputs(customer, registry.rates.account_currency), registry.rates)
    return History(history.movements, replace(history.timeline, bills=_bills(customer)))


def _items(customer: Customer) -> list[LineItem]:
    return [i for sub in customer.subscriptions.values() for i in sub.line_items]


def rebuild(registry: Registry, customer: Customer) -> None:
    """Recompute the customer's history and swap its activities in the feed, once its data
    source's processing delay has passed (``processing``; at once without a delay)."""
    history = _build(registry, customer)
    held = Held(
        visible_at=registry.now() + registry.processing.delay_for(customer.data_source),
        history=history,
        subscriptions=tuple(customer.subscriptions.values()),
    )
    if held.visible_at <= registry.now():
        registry.processing.drop(customer)
        release(registry, customer, held)
    else:
        registry.processing.hold(customer, held)


def release(registry: Registry, customer: Customer, held: Held) -> None:
    """Make a computed history what the API shows: new positions (hence uuids) for all."""
    if not registry.live_customer(customer):
        return
    feed = registry.feed
    subscriptions = held.subscriptions
    activities = [
        Activity(
            position=feed.next_position(m.at),
            customer=customer,
            subscription=subscriptions[m.subscription],
            kind=m.kind,
            delta=m.delta,
            customer_mrr=m.customer_mrr,
            subscription_mrr=m.subscription_mrr,
            plan_before=m.plan_before,
            plan_after=m.plan_after,
            quantity_before=m.quantity_before,
            quantity_after=m.quantity_after,
            customers_delta=m.customers_delta,
        )
        for m in held.history.movements
    ]
    feed.replace(customer.activities, activities)
    customer.activities = activities
    customer.timeline = held.history.timeline


def settle(registry: Registry) -> None:
    """Release every held history whose processing delay has passed on the emulated clock."""
    registry.processing.settle(registry.now(), lambda c, h: release(registry, c, h))
