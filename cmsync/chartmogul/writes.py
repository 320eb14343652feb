"""Typed bodies for what cmsync sends to ChartMogul: customers, plans, invoices.

Each model serialises to the exact wire body (``to_wire``): None fields are left out, datetimes
are ISO 8601 in UTC. Every object carries an ``external_id``, because unique external ids are
ChartMogul's only guard against a repeated create.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

__all__ = ["NewCustomer", "NewInvoice", "NewLineItem", "NewPlan", "NewTransaction"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_serializer("*", when_used="json")
    def _utc(self, value: Any) -> Any:
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
            return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return value

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class NewCustomer(_Body):
    data_source_uuid: str
    external_id: str = Field(min_length=1)
    name: str | None = None
    email: str | None = None
    company: str | None = None
    country: str | None = Field(default=None, min_length=2, max_length=2)
    lead_created_at: datetime | None = None
    free_trial_started_at: datetime | None = None
    website_url: str | None = None


class NewPlan(_Body):
    data_source_uuid: str
    name: str = Field(min_length=1)
    interval_count: int = Field(gt=0)
    interval_unit: Literal["day", "month", "year"]
    external_id: str = Field(min_length=1)


class NewLineItem(_Body):
    type: Literal["subscription", "one_time"] = "subscription"
    subscription_external_id: str | None = None
    subscription_set_external_id: str | None = None
    plan_uuid: str | None = None
    service_period_start: datetime | None = None
    service_period_end: datetime | None = None
    amount_in_cents: int
    quantity: int = 1
    description: str | None = None
    external_id: str = Field(min_length=1)


class NewTransaction(_Body):
    type: Literal["payment", "refund"] = "payment"
    date: datetime
    result: Literal["successful", "failed"]
    external_id: str = Field(min_length=1)


class NewInvoice(_Body):
    external_id: str = Field(min_length=1)
    date: datetime
    currency: str = Field(min_length=3, max_length=3)
    due_date: datetime | None = None
    customer_external_id: str | None = None
    data_source_uuid: str | None = None
    line_items: tuple[NewLineItem, ...] = Field(min_length=1)
    transactions: tuple[NewTransaction, ...] = ()
