"""Data sources and plans: create, list, retrieve, update, delete, with the real validation.

A data source's delete takes everything imported into it (customers, plans, invoices) with it,
as the real one does.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import Any

from cmsync.sandbox.chartmogul.errors import (
    DUPLICATE_DATA_SOURCE,
    DUPLICATE_PLAN,
    field_errors,
    missing_parameter,
    not_found,
)
from cmsync.sandbox.chartmogul.fields import (
    decode_cursor,
    encode_cursor,
    optional_text,
    per_page,
    reject_page,
    required_text,
)
from cmsync.sandbox.chartmogul.history import rebuild
from cmsync.sandbox.chartmogul.records import Customer, DataSource, Plan
from cmsync.sandbox.chartmogul.registry import Registry, after_key
from cmsync.sandbox.chartmogul.timefmt import iso_millis
from cmsync.sandbox.chartmogul.views import BILLING_SYSTEM, data_source_json, plan_json

__all__ = ["Sources"]

INTERVAL_UNITS = ("day", "month", "year")


def _plan_seq(plan: Plan) -> int:
    return plan.seq


def _uses(customer: Customer, plan: Plan) -> bool:
    return any(
        item.plan is plan for sub in customer.subscriptions.values() for item in sub.line_items
    )


class Sources:
    def __init__(self, registry: Registry) -> None:
        self.reg = registry

    # data sources -------------------------------------------------------------------------

    def create_data_source(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if "name" not in body:
            raise missing_parameter("name")  # [REAL] 400 for a body without "name"
        name = body["name"]
        if not isinstance(name, str) or not name.strip():
            raise field_errors({"name": "A name is required for each data source."})  # [REAL]
        if any(ds.name == name for ds in self.reg.data_sources.values()):
            raise field_errors({"name": DUPLICATE_DATA_SOURCE})
        ds = DataSource(
            uuid=self.reg.ids.prefixed("ds"),
            name=name,
            system=BILLING_SYSTEM,
            created_at=self.reg.now(),
        )
        self.reg.data_sources[ds.uuid] = ds
        return data_source_json(ds)

    def data_source(self, uuid: str) -> DataSource:
        ds = self.reg.data_sources.get(uuid)
        if ds is None:
            raise not_found("Data source")
        return ds

    def list_data_sources(self, query: Mapping[str, str]) -> dict[str, Any]:
        """Not paginated: ``{"data_sources": [...]}`` and nothing else (the Python client's
        result tuple has no other field)."""
        found = []
        for ds in self.reg.data_sources.values():
            if "name" in query and ds.name != query["name"]:
                continue
            if "system" in query and ds.system != query["system"]:
                continue
            body = data_source_json(ds)
            if query.get("with_processing_status") == "true":
                # "List Data Sources" (dev.chartmogul.com): pending counts what is imported but
                # not processed yet; here, the histories held by the processing delay.
                pending = self.reg.processing.pending(ds)
                body["processing_status"] = {"processed": 0, "pending": pending, "failed": 0}
            if query.get("with_auto_churn_subscription_setting") == "true":
                body["auto_churn_subscription_setting"] = {"enabled": False, "interval": None}
            if query.get("with_invoice_handling_setting") == "true":
                body["invoice_handling_setting"] = {}
            found.append(body)
        return {"data_sources": found}

    def delete_data_source(self, uuid: str) -> None:
        ds = self.data_source(uuid)
        for customer in [c for c in self.reg.customers.values() if c.data_source is ds]:
            self.reg.forget_customer(customer)
        for plan in [p for p in self.reg.plans.values() if p.data_source is ds]:
            self.reg.forget_plan(plan)
        del self.reg.data_sources[uuid]

    # plans ---------------------------------------------------------------------------------

    def _interval(self, body: Mapping[str, Any], partial: bool) -> tuple[int | None, str | None]:
        count, unit = body.get("interval_count"), body.get("interval_unit")
        bad_count = isinstance(count, bool) or not isinstance(count, int) or count < 1
        if (not partial or "interval_count" in body) and bad_count:
            raise field_errors({"interval_count": "must be greater than 0"})
        if (not partial or "interval_unit" in body) and unit not in INTERVAL_UNITS:
            raise field_errors({"interval_unit": "is not included in the list"})
        return count, unit

    def create_plan(self, body: Mapping[str, Any]) -> dict[str, Any]:
        ds = self.data_source(required_text(body, "data_source_uuid"))
        name = required_text(body, "name")
        count, unit = self._interval(body, partial=False)
        assert count is not None and unit is not None
        external_id = optional_text(body, "external_id")
        raw = self.reg.ids.uuid()
        if not external_id:
            external_id = raw  # auto-generated, the same uuid as the plan's [REAL]
        if (ds.uuid, external_id) in self.reg.plan_by_external:
            raise field_errors({"external_id": DUPLICATE_PLAN})
        plan = Plan(
            uuid=f"pl_{raw}",
            external_id=external_id,
            name=name,
            interval_count=count,
            interval_unit=unit,
            data_source=ds,
            seq=next(self.reg.seq),
        )
        self.reg.add_plan(plan)
        return plan_json(plan)

    def plan(self, uuid: str) -> Plan:
        plan = self.reg.plans.get(uuid)
        if plan is None:
            raise not_found("Plan")
        return plan

    def list_plans(self, query: Mapping[str, str]) -> dict[str, Any]:
        reject_page(query)
        limit = per_page(query)
        last = decode_cursor(query["cursor"]) if "cursor" in query else None

        def wanted(plan: Plan) -> bool:
            return (
                self.reg.live_plan(plan)
                and query.get("data_source_uuid", plan.data_source.uuid) == plan.data_source.uuid
                and query.get("external_id", plan.external_id) == plan.external_id
                and query.get("system", plan.data_source.system) == plan.data_source.system
            )

        found = list(islice(after_key(self.reg.plan_order, _plan_seq, last, wanted), limit + 1))
        page = found[:limit]
        body: dict[str, Any] = {"plans": [plan_json(p) for p in page]}
        if last is None:
            total = sum(1 for p in self.reg.plan_order if wanted(p))
            body.update(current_page=1, total_pages=-(-total // limit))
        body["cursor"] = (
            encode_cursor(f"{iso_millis(self.reg.now())}&{page[-1].seq}") if page else None
        )
        body["has_more"] = len(found) > limit
        return body

    def update_plan(self, uuid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        plan = self.plan(uuid)
        count, unit = self._interval(body, partial=True)
        name = optional_text(body, "name")
        external_id = optional_text(body, "external_id")
        if external_id and external_id != plan.external_id:
            if (plan.data_source.uuid, external_id) in self.reg.plan_by_external:
                raise field_errors({"external_id": DUPLICATE_PLAN})
            del self.reg.plan_by_external[(plan.data_source.uuid, plan.external_id)]
            plan.external_id = external_id
            self.reg.plan_by_external[(plan.data_source.uuid, external_id)] = plan
        if name:
            plan.name = name
        interval_changed = (count or plan.interval_count, unit or plan.interval_unit) != (
            plan.interval_count,
            plan.interval_unit,
        )
        plan.interval_count = count or plan.interval_count
        plan.interval_unit = unit or plan.interval_unit
        if interval_changed:  # MRR normalisation changed: reprocess every customer on it
            for customer in list(self.reg.customers.values()):
                if _uses(customer, plan):
                    rebuild(self.reg, customer)
        return plan_json(plan)

    def delete_plan(self, uuid: str) -> None:
        plan = self.plan(uuid)
        # Chosen: a plan still referenced by line items is refused rather than orphaning them.
        if any(_uses(customer, plan) for customer in self.reg.customers.values()):
            raise field_errors({"plan_uuid": "The plan is in use by subscriptions."})
        self.reg.forget_plan(plan)
