"""What a sync pass needs to know of both systems before it reads any change.

Matching needs every Account (Id, website, ``CM_Customer_UUID__c``) and the email of every
Contact; effects need each Account's owner (or the configured user lookup) and name (both kept
on disk, ``org``); Account fields need plan names, and the first-cycle check needs plan
intervals. It is read once per pass (Salesforce: two queries of 2,000 rows a page; ChartMogul:
the plans, 200 a page). Stored links are not part of it: matching reads them from the store
in the transaction that links, so they are never stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.config import FieldSettings
from cmsync.pipeline.org import OrgSnapshot
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import distinct_fields, identifier
from state.matching import AccountFacts
from state.periods import period_end

__all__ = ["PlanInfo", "SyncContext", "load_context", "load_plans"]


@dataclass(frozen=True)
class PlanInfo:
    name: str
    interval_count: int
    interval_unit: str

    def after(self, start: datetime) -> datetime:
        """The end of one billing period that starts at ``start`` (``state.periods``)."""
        return period_end(start, self.interval_unit, self.interval_count)


@dataclass(frozen=True)
class SyncContext:
    org: OrgSnapshot  # the Accounts and Contact emails, for matching and effects' targets
    plans: Mapping[str, PlanInfo]  # plan external id (and uuid) -> plan

    def describe(self) -> str:
        return (
            f"accounts={self.org.accounts} contacts_with_email={self.org.contact_emails} "
            f"plans={len({p.name for p in self.plans.values()})}"
        )

    @property
    def plan_names(self) -> dict[str, str]:
        return {key: plan.name for key, plan in self.plans.items()}


async def load_context(
    gateway: SalesforceGateway, chartmogul: ChartMogulClient, fields: FieldSettings
) -> SyncContext:
    uuid_field = identifier(fields.account.customer_uuid)
    owner_field = identifier(fields.owner)
    columns = distinct_fields(["Id", "Name", "Website", "OwnerId", owner_field, uuid_field])
    # Pages go straight into the snapshot on disk, never a list of every Account and Contact.
    org = OrgSnapshot(uuid_field)
    try:
        query = f"SELECT {', '.join(columns)} FROM Account"  # noqa: S608 (identifier() checked each)
        async for page in gateway.query_pages(query):
            org.add_accounts(
                (
                    AccountFacts(row["Id"], row.get("Website"), row.get(uuid_field)),
                    row.get(owner_field) or row.get("OwnerId") or None,
                    row.get("Name"),
                )
                for row in page
            )
        emails = "SELECT AccountId, Email FROM Contact WHERE Email != null AND AccountId != null"
        async for page in gateway.query_pages(emails):
            org.add_contacts((row["AccountId"], row.get("Email")) for row in page)
        plans = await load_plans(chartmogul)
    except BaseException:  # a read that failed (or was cancelled) leaves no scratch file behind
        org.close()
        raise
    return SyncContext(org.seal(), plans)


async def load_plans(chartmogul: ChartMogulClient) -> dict[str, PlanInfo]:
    """Every ChartMogul plan, by uuid and by external id."""
    plans: dict[str, PlanInfo] = {}
    async for plan_page in chartmogul.plan_pages():
        for plan in plan_page.entries:
            info = PlanInfo(plan.name, plan.interval_count, plan.interval_unit)
            plans[plan.uuid] = info
            if plan.external_id:
                plans[plan.external_id] = info
    return plans
