"""Customers: create, retrieve, update, delete, list, search; and their subscriptions and
activities as the metrics API shows them.

Listing follows the real cursor pagination: ``per_page`` up to 200, an opaque ``cursor`` (base64
of ``<timestamp>&<id>``, as recorded), ``has_more``; the legacy fields (``current_page``,
``total_pages``, ``per_page``, ``page``) appear on the first page only, as in real traffic.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any

from cmsync.sandbox.chartmogul.errors import (
    DUPLICATE_CUSTOMER,
    ApiError,
    bad_parameter,
    coded,
    field_errors,
    missing_parameter,
    not_found_coded,
)
from cmsync.sandbox.chartmogul.fields import (
    decode_cursor,
    encode_cursor,
    optional_text,
    optional_time,
    per_page,
    reject_page,
    required_text,
)
from cmsync.sandbox.chartmogul.history import rebuild
from cmsync.sandbox.chartmogul.records import Customer
from cmsync.sandbox.chartmogul.registry import Registry, after_key
from cmsync.sandbox.chartmogul.timefmt import iso_millis, iso_offset
from cmsync.sandbox.chartmogul.views import (
    customer_activity_json,
    customer_json,
    customer_state,
    subscription_metrics_json,
)

__all__ = ["LEAD_STATUSES", "Customers"]

LEAD_STATUSES = ("New Lead", "Working Lead", "Qualified Lead", "Unqualified Lead")
_TEXT_FIELDS = ("name", "email", "company")
_NULLABLE_FIELDS = ("state", "city", "zip", "website_url", "owner")


def _customer_id(customer: Customer) -> int:
    return customer.id


def _country(body: Mapping[str, Any]) -> str | None:
    country = optional_text(body, "country")
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise field_errors({"country": "is invalid"})  # ISO 3166-1 alpha-2
    return country.upper() if country else None


def _lead_status(body: Mapping[str, Any]) -> str | None:
    """Only lead statuses can be set; subscriber statuses are computed [n8n node hint]."""
    status = body.get("status")
    if status is None:
        return None
    if status not in LEAD_STATUSES:
        raise field_errors({"status": "is not included in the list"})
    return str(status)


def _tags(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise field_errors({"attributes": "tags must be a list of strings"})
    return list(dict.fromkeys(value))


def _custom_on_create(value: object) -> dict[str, Any]:
    """On create ``custom`` is a list of ``{type, key, value, source}`` [docs]."""
    if not isinstance(value, list):
        raise field_errors({"attributes": "custom must be a list of attributes"})
    custom: dict[str, Any] = {}
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise field_errors({"attributes": "each custom attribute needs a key"})
        custom[entry["key"]] = entry.get("value")
    return custom


def _custom_on_update(value: object) -> dict[str, Any]:
    """On update ``custom`` is a map; a value may be ``{"value": v, "source": s}`` [docs]."""
    if not isinstance(value, dict):
        raise field_errors({"attributes": "custom must be an object"})
    return {
        key: item["value"] if isinstance(item, dict) and "value" in item else item
        for key, item in value.items()
    }


class Customers:
    def __init__(self, registry: Registry) -> None:
        self.reg = registry

    def get(self, uuid: str) -> Customer:
        customer = self.reg.customers.get(uuid)
        if customer is None:
            raise not_found_coded("Customer", "customer_uuid")
        return customer

    def _apply(self, customer: Customer, body: Mapping[str, Any]) -> None:
        for key in _TEXT_FIELDS:
            if key in body:
                setattr(customer, key, optional_text(body, key) or "")
        for key in _NULLABLE_FIELDS:
            if key in body:
                setattr(customer, key, optional_text(body, key))
        if "country" in body:
            customer.country = _country(body)
        for key in ("lead_created_at", "free_trial_started_at"):
            if key in body:
                setattr(customer, key, optional_time(body, key))
        status = _lead_status(body)
        if status is not None:
            customer.lead_status = status
        if "primary_contact" in body:
            contact = body["primary_contact"]
            if contact is not None and not isinstance(contact, dict):
                raise field_errors({"primary_contact": "is invalid"})
            customer.primary_contact = contact

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        ds_uuid = required_text(body, "data_source_uuid")
        external_id = required_text(body, "external_id")
        ds = self.reg.data_sources.get(ds_uuid)
        if ds is None:
            raise field_errors({"data_source_uuid": "Data source not found"})
        if (ds.uuid, external_id) in self.reg.customer_by_external:
            raise field_errors({"external_id": DUPLICATE_CUSTOMER})
        customer = Customer(
            id=self.reg.ids.next_int(),
            uuid=self.reg.ids.prefixed("cus"),
            data_source=ds,
            external_id=external_id,
            created_at=self.reg.now(),
        )
        self._apply(customer, body)
        attributes = body.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise field_errors({"attributes": "is invalid"})
        if "tags" in attributes:
            customer.tags = _tags(attributes["tags"])
        if "custom" in attributes:
            customer.custom = _custom_on_create(attributes["custom"])
        self.reg.add_customer(customer)
        return customer_json(customer, self.reg.now(), self.reg.rates.account_currency)

    def retrieve(self, uuid: str) -> dict[str, Any]:
        return customer_json(self.get(uuid), self.reg.now(), self.reg.rates.account_currency)

    def update(self, uuid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        customer = self.get(uuid)
        self.reg.unindex_email(customer)
        try:
            self._apply(customer, body)
            attributes = body.get("attributes")
            if attributes is not None:
                if not isinstance(attributes, dict):
                    raise field_errors({"attributes": "is invalid"})
                if "tags" in attributes:
                    customer.tags = _tags(attributes["tags"])
                if "custom" in attributes:
                    customer.custom.update(_custom_on_update(attributes["custom"]))
        finally:
            self.reg.index_email(customer)
        return customer_json(customer, self.reg.now(), self.reg.rates.account_currency)

    def delete(self, uuid: str) -> None:
        """``DELETE /v1/customers/{uuid}``: 204, then 404 for it [REAL: ruby cassette
        ``ChartMogul_Customer/API_Actions/destroys_the_customer_correctly``]."""
        self.reg.forget_customer(self.get(uuid))

    def _party(self, body: Mapping[str, Any], role: str) -> Customer:
        """The customer named by ``{"customer_uuid": ...}`` under ``from`` or ``into``."""
        if role not in body:
            raise missing_parameter(role)
        party = body[role]
        if not isinstance(party, dict):
            raise bad_parameter(role)
        uuid = party.get("customer_uuid")
        if not isinstance(uuid, str) or not uuid:
            raise missing_parameter("customer_uuid")
        return self.get(uuid)

    def merge(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/customers/merges`` with ``{"from": {"customer_uuid": A}, "into":
        {"customer_uuid": B}}``: A's subscriptions, invoices and external ids join B, A is gone
        (404 from then on), B's history is rebuilt with A's movements in it (new activity
        uuids, as every rebuild gives). The answer is 202 with ``{}`` [REAL: ruby cassette
        ``ChartMogul_Customer/API_Actions/merges_customers_correctly_with_the_class_method``,
        recorded 2023-10-29; the Python client's test mocks a 204, not recorded traffic].

        Refusals: a missing ``from``/``into`` is 400 in the recorded missing-parameter shape;
        an unknown uuid is the customer 404; a customer merged into itself is 400 (no
        recording found: wording chosen by analogy).
        """
        loser = self._party(body, "from")
        survivor = self._party(body, "into")
        if loser is survivor:
            raise coded(400, "A customer cannot be merged into itself", "from")
        self.reg.merge_customer(loser, survivor)
        rebuild(self.reg, survivor)
        return {}

    def _filtered(self, query: Mapping[str, str], now: int) -> Iterator[Customer]:
        ds, ext, system = (
            query.get("data_source_uuid"),
            query.get("external_id"),
            query.get("system"),
        )
        status = query.get("status", "").replace("_", " ") or None
        last = decode_cursor(query["cursor"]) if "cursor" in query else None
        for customer in after_key(
            self.reg.customer_order, _customer_id, last, self.reg.live_customer
        ):
            # A merged customer's ids are the survivor's too: listing by one finds it.
            if ds is not None and ds not in customer.data_source_uuids:
                continue
            if ext is not None and ext not in customer.external_ids:
                continue
            if system is not None and customer.data_source.system != system:
                continue
            if status is not None and customer_state(customer, now)[1] != status:
                continue
            yield customer

    def _page(
        self, matches: Iterator[Customer], query: Mapping[str, str], now: int
    ) -> dict[str, Any]:
        limit = per_page(query)
        found = list(islice(matches, limit + 1))
        page = found[:limit]
        body: dict[str, Any] = {
            "entries": [customer_json(c, now, self.reg.rates.account_currency) for c in page]
        }
        cursor = None
        if page:
            timeline = page[-1].timeline
            since = timeline.customer_since if timeline else None
            cursor = encode_cursor(f"{iso_millis(since) or ''}&{page[-1].id}")
        if "cursor" not in query:
            body.update(current_page=1, total_pages=None, has_more=len(found) > limit)
            body.update(per_page=limit, page=1, cursor=cursor)
        else:
            body.update(cursor=cursor, has_more=len(found) > limit)
        return body

    def list_all(self, query: Mapping[str, str]) -> dict[str, Any]:
        reject_page(query)
        now = self.reg.now()
        body = self._page(self._filtered(query, now), query, now)
        if "cursor" not in query:
            total = sum(1 for _ in self._filtered(query, now))
            body["total_pages"] = -(-total // body["per_page"])
        return body

    def search(self, query: Mapping[str, str]) -> dict[str, Any]:
        reject_page(query)
        email = query.get("email")
        if not email:
            raise ApiError(
                400, {"code": 400, "message": 'Parameter "email" is missing', "param": "email"}
            )
        matches = [
            c
            for c in self.reg.customers_by_email.get(email.lower(), [])
            if self.reg.live_customer(c)
        ]
        if not matches:  # [REAL] a 404, not an empty list
            raise ApiError(
                404,
                {
                    "code": 404,
                    "message": f'Can\'t find any customers with email: "{email}"',
                    "param": "email",
                },
            )
        matches.sort(key=_customer_id)
        last = decode_cursor(query["cursor"]) if "cursor" in query else None
        remaining = iter([c for c in matches if last is None or c.id > last])
        return self._page(remaining, query, self.reg.now())

    def subscriptions(self, uuid: str, query: Mapping[str, str]) -> dict[str, Any]:
        """The metrics view; newest subscription first; the cursor encodes the next offset as
        the recorded one does (``subscriptions_next_page=2``)."""
        customer = self.get(uuid)
        limit = per_page(query)
        offset = decode_cursor(query["cursor"]) if "cursor" in query else 0
        subs = list(reversed(customer.subscriptions.values()))
        page = subs[offset : offset + limit]
        now = self.reg.now()
        body: dict[str, Any] = {
            "entries": [
                subscription_metrics_json(s, now, self.reg.rates.account_currency) for s in page
            ],
            "has_more": offset + limit < len(subs),
        }
        if "cursor" not in query:
            body.update(per_page=limit, page=1)
        body["cursor"] = encode_cursor(f"subscriptions_next_page={offset + limit}")
        return body

    def activities(self, uuid: str, query: Mapping[str, str]) -> dict[str, Any]:
        """Newest first [REAL: a churn on page 1, the new_biz it followed on page 2]."""
        customer = self.get(uuid)
        limit = per_page(query)
        before = decode_cursor(query["cursor"]) if "cursor" in query else None
        newest_first = [
            a for a in reversed(customer.activities) if before is None or a.position < before
        ]
        page = newest_first[:limit]
        body: dict[str, Any] = {
            "entries": [customer_activity_json(a, self.reg.rates.account_currency) for a in page]
        }
        has_more = len(newest_first) > limit
        cursor = encode_cursor(f"{iso_offset(page[-1].at)}&{page[-1].position}") if page else None
        if "cursor" not in query:
            body.update(has_more=has_more, per_page=limit, page=1, cursor=cursor)
        else:
            body.update(cursor=cursor, has_more=has_more)
        return body
