"""Subscriptions in the import namespace: the listing and the cancellation.

``PATCH /v1/import/subscriptions/{uuid}`` with ``{"cancelled_at": ...}`` adds a cancellation
date and answers 202 with the subscription and its ``cancellation_dates`` [REAL];
``{"cancellation_dates": [...]}`` replaces them all, ``[]`` clearing them [REAL]. Either way the
customer's history is rebuilt.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cmsync.sandbox.chartmogul.errors import ApiError, field_errors, not_found
from cmsync.sandbox.chartmogul.fields import decode_cursor, encode_cursor, per_page
from cmsync.sandbox.chartmogul.history import rebuild
from cmsync.sandbox.chartmogul.invoices import UNKNOWN_CUSTOMER
from cmsync.sandbox.chartmogul.registry import Registry
from cmsync.sandbox.chartmogul.timefmt import iso_millis, parse_time, to_ts
from cmsync.sandbox.chartmogul.views import subscription_import_json

__all__ = ["Subscriptions"]


class Subscriptions:
    def __init__(self, registry: Registry) -> None:
        self.reg = registry

    def update(self, uuid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        subscription = self.reg.subscriptions.get(uuid)
        if subscription is None:
            raise not_found("Subscription")
        if "cancellation_dates" in body:
            raw = body["cancellation_dates"]
            if not isinstance(raw, list):
                raise field_errors({"cancellation_dates": "is invalid"})
            dates = [parse_time(value) for value in raw]
            if any(d is None for d in dates):
                raise field_errors({"cancellation_dates": "is invalid"})
            subscription.cancellation_dates = sorted({d for d in dates if d is not None})
            for item in subscription.line_items:  # the list is now the whole truth
                item.cancelled_at = None
        elif "cancelled_at" in body:
            cancelled_at = parse_time(body["cancelled_at"])
            if cancelled_at is None:
                raise field_errors({"cancelled_at": "is invalid"})
            if cancelled_at not in subscription.cancellation_dates:
                subscription.cancellation_dates = sorted(
                    [*subscription.cancellation_dates, cancelled_at]
                )
        else:
            raise ApiError(
                400,
                {
                    "code": 400,
                    "message": 'Parameter "cancelled_at" is missing',
                    "param": "cancelled_at",
                },
            )
        rebuild(self.reg, subscription.customer)
        return subscription_import_json(subscription, with_customer=True)

    def cancel(self, uuid: str, cancelled_at: datetime) -> dict[str, Any]:
        return self.update(uuid, {"cancelled_at": iso_millis(to_ts(cancelled_at))})

    def list_for_customer(self, customer_uuid: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /v1/import/customers/{uuid}/subscriptions`` (deprecated by the Python client
        in 2026 but still served)."""
        customer = self.reg.customers.get(customer_uuid)
        if customer is None:
            raise ApiError(404, UNKNOWN_CUSTOMER)
        limit = per_page(query)
        offset = decode_cursor(query["cursor"]) if "cursor" in query else 0
        subs = list(customer.subscriptions.values())
        page = subs[offset : offset + limit]
        body: dict[str, Any] = {
            "customer_uuid": customer.uuid,
            "subscriptions": [subscription_import_json(s, with_customer=False) for s in page],
        }
        if "cursor" not in query:
            body.update(current_page=1, total_pages=-(-len(subs) // limit))
        end = offset + len(page)
        body.update(
            cursor=encode_cursor(f"{iso_millis(self.reg.now())}&{end}") if page else None,
            has_more=end < len(subs),
        )
        return body
