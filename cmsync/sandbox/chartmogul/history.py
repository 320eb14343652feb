"""Rebuilding one customer's history: stored line items -> engine -> activities in the feed.

Any change to a customer's billing data (an invoice, a back-dated invoice, a cancellation, a
transaction, failed payments included) calls ``rebuild``, which does what ChartMogul does when
it reprocesses a customer: every activity of that customer is retired and the recomputed ones
get new positions, hence new uuids, even when nothing about them changed. Other customers'
activities are untouched.
"""

from __future__ import annotations

from cmsync.sandbox.chartmogul.engine import (
    Period,
    SubscriptionInput,
    build_history,
    monthly_amount,
)
from cmsync.sandbox.chartmogul.records import Activity, Customer, LineItem, Plan
from cmsync.sandbox.chartmogul.registry import Registry

__all__ = ["line_item_mrr", "rebuild"]


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


def _inputs(customer: Customer) -> list[SubscriptionInput[Plan]]:
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


def rebuild(registry: Registry, customer: Customer) -> None:
    """Recompute the customer's history and swap its activities in the feed."""
    inputs = _inputs(customer)
    history = build_history(inputs)
    subscriptions = list(customer.subscriptions.values())
    feed = registry.feed
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
        for m in history.movements
    ]
    feed.replace(customer.activities, activities)
    customer.activities = activities
    customer.timeline = history.timeline
