"""Records as ChartMogul writes them on the wire: field names, spellings, order and formats.

Every shape here is copied from real responses (the official Ruby and Go
clients' recorded cassettes), including the inconsistencies: customers mix kebab-case
(``customer-since``, ``chartmogul-url``) and snake_case, activities are all kebab-case, the
metrics view of a subscription has a bare uuid while the import view has ``sub_…``, strings the
customer never gave are ``""`` (name, email, company) while other absent fields are ``null``.
The official Python client declares many of these fields non-nullable, so the distinction
matters: a ``null`` email would break it.
"""

from __future__ import annotations

import re
from typing import Any

from cmsync.sandbox.chartmogul.engine import customer_status, describe
from cmsync.sandbox.chartmogul.ids import PositionCodec
from cmsync.sandbox.chartmogul.rates import currency_sign
from cmsync.sandbox.chartmogul.records import (
    Activity,
    Customer,
    DataSource,
    Invoice,
    LineItem,
    Plan,
    Subscription,
    Transaction,
)
from cmsync.sandbox.chartmogul.timefmt import iso_millis, iso_offset

__all__ = [
    "ACCOUNT",
    "BILLING_SYSTEM",
    "activity_json",
    "customer_activity_json",
    "customer_json",
    "customer_state",
    "data_source_json",
    "invoice_json",
    "plan_json",
    "subscription_import_json",
    "subscription_metrics_json",
    "transaction_json",
]

# The emulated account (``GET /v1/account``). Its currency (``currency``, USD unless the
# sandbox is given another) is the one every MRR figure is in: invoices in other currencies are
# converted (``rates``), and the views below name it on customers, subscriptions, activities.
ACCOUNT: dict[str, Any] = {
    "name": "cmsync sandbox",
    "currency": "USD",
    "time_zone": "UTC",
    "week_start_on": "monday",
}
# Recent recordings show "Custom" for API data sources (older ones "Import API").
BILLING_SYSTEM = "Custom"

_COUNTRIES = {
    "AU": "Australia", "BR": "Brazil", "CA": "Canada", "CH": "Switzerland", "DE": "Germany",
    "ES": "Spain", "FR": "France", "GB": "United Kingdom", "IE": "Ireland", "IN": "India",
    "IT": "Italy", "JP": "Japan", "NL": "Netherlands", "PL": "Poland", "SE": "Sweden",
    "US": "United States",
}  # fmt: skip


def data_source_json(ds: DataSource) -> dict[str, Any]:
    return {
        "uuid": ds.uuid,
        "name": ds.name,
        "system": ds.system,
        "created_at": iso_millis(ds.created_at),
        "status": "idle",
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "external_id": plan.external_id,
        "name": plan.name,
        "interval_count": plan.interval_count,
        "interval_unit": plan.interval_unit,
        "data_source_uuid": plan.data_source.uuid,
        "uuid": plan.uuid,
    }


def customer_state(customer: Customer, now: int) -> tuple[int, str]:
    """(MRR, status) at ``now``."""
    if customer.timeline is None:
        return 0, customer.lead_status
    return customer_status(customer.timeline, now, customer.lead_status)


def _chartmogul_url(customer: Customer) -> str:
    label = re.sub(r"\W+", "_", customer.company or customer.name or "Customer").strip("_")
    return f"https://app.chartmogul.com/#/customers/{customer.id}-{label}"


def customer_json(customer: Customer, now: int, currency: str = "USD") -> dict[str, Any]:
    mrr, status = customer_state(customer, now)
    since = customer.timeline.customer_since if customer.timeline else None
    return {
        "id": customer.id,
        "uuid": customer.uuid,
        "external_id": customer.external_id,
        "name": customer.name,
        "email": customer.email,
        "status": status,
        "customer-since": iso_offset(since),
        "attributes": {
            "custom": dict(customer.custom),
            "clearbit": {},
            "stripe": {},
            "tags": list(customer.tags),
        },
        "data_source_uuid": customer.data_source.uuid,
        "data_source_uuids": customer.data_source_uuids,
        "external_ids": customer.external_ids,  # with those of customers merged into it
        "company": customer.company,
        "country": customer.country,
        "state": customer.state,
        "city": customer.city,
        "zip": customer.zip,
        "lead_created_at": iso_millis(customer.lead_created_at),
        "free_trial_started_at": iso_millis(customer.free_trial_started_at),
        "address": {
            "country": _COUNTRIES.get(customer.country or "", customer.country),
            "state": customer.state,
            "city": customer.city,
            "address_zip": customer.zip,
        },
        "mrr": mrr,
        "arr": 12 * mrr,
        "billing-system-url": None,
        "chartmogul-url": _chartmogul_url(customer),
        "billing-system-type": customer.data_source.system,
        "currency": currency,
        "currency-sign": currency_sign(currency),
        "owner": customer.owner,
        "website_url": customer.website_url,
    }


def _line_item_json(item: LineItem) -> dict[str, Any]:
    body: dict[str, Any] = {"uuid": item.uuid, "external_id": item.external_id, "type": item.type}
    if item.type == "one_time":
        body["description"] = item.description
    else:
        subscription = item.subscription
        body.update(
            {
                "subscription_uuid": subscription.uuid if subscription else None,
                "subscription_external_id": subscription.external_id if subscription else None,
                "subscription_set_external_id": (
                    subscription.set_external_id if subscription else None
                ),
                "prorated": item.prorated,
                "proration_type": item.proration_type,
                "service_period_start": iso_millis(item.service_period_start),
                "service_period_end": iso_millis(item.service_period_end),
                "plan_uuid": item.plan.uuid if item.plan else None,
            }
        )
    body.update(
        {
            "amount_in_cents": item.amount_in_cents,
            "quantity": item.quantity,
            "discount_code": item.discount_code,
            "discount_amount_in_cents": item.discount_amount_in_cents,
            "tax_amount_in_cents": item.tax_amount_in_cents,
            "transaction_fees_in_cents": item.transaction_fees_in_cents,
            "account_code": item.account_code,
            "transaction_fees_currency": item.transaction_fees_currency,
            "discount_description": item.discount_description,
            "event_order": item.event_order,
        }
    )
    return body


def transaction_json(transaction: Transaction) -> dict[str, Any]:
    return {
        "uuid": transaction.uuid,
        "external_id": transaction.external_id,
        "amount_in_cents": transaction.amount_in_cents,
        "type": transaction.type,
        "date": iso_millis(transaction.date),
        "result": transaction.result,
        "transaction_fees_in_cents": transaction.transaction_fees_in_cents,
        "transaction_fees_currency": transaction.transaction_fees_currency,
    }


def invoice_json(invoice: Invoice, *, with_customer: bool) -> dict[str, Any]:
    """An invoice; the import answer omits ``customer_uuid``, ``/v1/invoices`` carries it."""
    body: dict[str, Any] = {
        "uuid": invoice.uuid,
        "date": iso_millis(invoice.date),
        "due_date": iso_millis(invoice.due_date),
        "errors": {},
        "external_id": invoice.external_id,
        "currency": invoice.currency,
    }
    if with_customer:
        body["customer_uuid"] = invoice.customer.uuid
    body["line_items"] = [_line_item_json(item) for item in invoice.line_items]
    body["transactions"] = [transaction_json(t) for t in invoice.transactions]
    return body


def subscription_import_json(sub: Subscription, *, with_customer: bool) -> dict[str, Any]:
    dates = set(sub.cancellation_dates)
    dates.update(i.cancelled_at for i in sub.line_items if i.cancelled_at is not None)
    body: dict[str, Any] = {
        "uuid": sub.uuid,
        "external_id": sub.external_id,
        "subscription_set_external_id": sub.set_external_id,
        "cancellation_dates": [iso_millis(d) for d in sorted(dates)],
        "plan_uuid": sub.plan.uuid,
        "data_source_uuid": sub.data_source.uuid,
    }
    if with_customer:
        body["customer_uuid"] = sub.customer.uuid
    return body


def subscription_metrics_json(sub: Subscription, now: int, currency: str = "USD") -> dict[str, Any]:
    """The metrics-API view of a subscription (``GET /v1/customers/{uuid}/subscriptions``)."""
    timeline = sub.customer.timeline
    current = timeline.subscription_mrr_at(sub.index, now) if timeline else 0
    mrr = current if current else (timeline.last_positive_mrr(sub.index) if timeline else 0)
    starts = [i.service_period_start for i in sub.line_items if i.service_period_start]
    ends = [i.service_period_end for i in sub.line_items if i.service_period_end]
    cancelled = sorted(
        set(sub.cancellation_dates) | {i.cancelled_at for i in sub.line_items if i.cancelled_at}
    )
    end = cancelled[-1] if cancelled and not current else (max(ends) if ends else None)
    latest = max(sub.line_items, key=lambda i: i.service_period_start or 0, default=None)
    return {
        "id": sub.id,
        "external_id": sub.external_id,
        "subscription_set_external_id": sub.set_external_id,
        "quantity": latest.quantity if latest else 1,
        "uuid": sub.metrics_uuid,
        "mrr": mrr,
        "arr": 12 * mrr,
        "status": "active" if current > 0 else "inactive",
        "plan": sub.plan.name,
        "billing-cycle": sub.plan.interval_unit,
        "billing-cycle-count": sub.plan.interval_count,
        "start-date": iso_offset(min(starts) if starts else None),
        "end-date": iso_offset(end),
        "currency": currency,
        "currency-sign": currency_sign(currency),
    }


def _description(activity: Activity) -> str:
    before, after = activity.plan_before, activity.plan_after
    return describe(
        activity.kind,
        before.name if before else None,
        after.name if after else None,
        activity.quantity_before,
        activity.quantity_after,
    )


def _plan_external_id(activity: Activity) -> str:
    plan = activity.plan_after or activity.plan_before or activity.subscription.plan
    return plan.external_id


def activity_json(
    activity: Activity, codec: PositionCodec, currency: str = "USD"
) -> dict[str, Any]:
    """An entry of ``GET /v1/activities``, keys in the recorded order."""
    customer, subscription = activity.customer, activity.subscription
    return {
        "description": _description(activity),
        "activity-mrr-movement": activity.delta,
        "activity-mrr": activity.customer_mrr,
        "activity-arr": 12 * activity.customer_mrr,
        "date": iso_offset(activity.at),
        "type": activity.kind.value,
        "currency": currency,
        "subscription-external-id": subscription.external_id,
        "subscription-set-external-id": subscription.set_external_id,
        "plan-external-id": _plan_external_id(activity),
        "customer-name": customer.name,
        "customer-uuid": customer.uuid,
        "customer-external-id": customer.external_id,
        "billing-connector-uuid": customer.data_source.uuid,
        "uuid": codec.encode(activity.position),
    }


def customer_activity_json(activity: Activity, currency: str = "USD") -> dict[str, Any]:
    """An entry of ``GET /v1/customers/{uuid}/activities``: an integer id, no uuid, no
    customer fields [REAL]. The id is the feed sequence number, so it changes on rebuild, as
    the real ids do."""
    return {
        "id": activity.position & 0xFFFF_FFFF,
        "description": _description(activity),
        "activity-mrr-movement": activity.delta,
        "activity-mrr": activity.customer_mrr,
        "activity-arr": 12 * activity.customer_mrr,
        "date": iso_offset(activity.at),
        "type": activity.kind.value,
        "currency": currency,
        "currency-sign": currency_sign(currency),
        "subscription-external-id": activity.subscription.external_id,
    }
