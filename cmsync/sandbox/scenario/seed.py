"""Loading a scenario into the two emulators, through their seeding APIs (no HTTP).

Seeding goes through the same validation as the REST handlers, so a scenario that seeds is one
the real APIs would accept. Order matters: Users, then Accounts, Contacts, Leads and
Opportunities in Salesforce; then ChartMogul customers (whose external id may be an Account
Id), their invoices and cancellations; last, the stored links written back to the Accounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cmsync.sandbox.scenario.model import CustomerPlan, InvoicePlan, LinkKind, Scenario

__all__ = ["ChartMogulSeedTarget", "SalesforceSeedTarget", "SeedResult", "seed"]


class ChartMogulSeedTarget(Protocol):
    def create_data_source(self, name: str) -> dict[str, Any]: ...
    def create_plan(self, body: dict[str, Any]) -> dict[str, Any]: ...
    def create_customer(self, body: dict[str, Any]) -> dict[str, Any]: ...
    def import_invoices(
        self, customer_uuid: str, invoices: list[dict[str, Any]]
    ) -> list[dict[str, Any]]: ...
    def cancel_subscription(
        self, subscription_uuid: str, cancelled_at: datetime
    ) -> dict[str, Any]: ...


class SalesforceSeedTarget(Protocol):
    def insert(self, sobject: str, fields: dict[str, Any]) -> str: ...
    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None: ...


@dataclass
class SeedResult:
    """Ids of what was created, keyed by the scenario's keys, for tests and ground truth."""

    data_source_uuid: str  # the first data source: the Import API one
    data_sources: dict[str, str] = field(default_factory=dict)  # DataSourceSpec key -> uuid
    user_ids: dict[str, str] = field(default_factory=dict)
    account_ids: dict[str, str] = field(default_factory=dict)
    contact_ids: dict[str, str] = field(default_factory=dict)
    customer_uuids: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _invoice_body(
    invoice: InvoicePlan,
    plan_uuids: Mapping[str, str],
    external_id: str,
    ds: str,
    currency: str = "USD",
) -> dict[str, Any]:
    items = [
        {
            "type": "subscription",
            "subscription_external_id": item.subscription,
            "subscription_set_external_id": item.subscription,
            "plan_uuid": plan_uuids[item.plan],
            "service_period_start": _ts(item.start),
            "service_period_end": _ts(item.end),
            "amount_in_cents": item.amount_cents,
            "quantity": item.quantity,
            "external_id": f"{invoice.external_id}-li{n}",
        }
        for n, item in enumerate(invoice.line_items, start=1)
    ]
    transactions: list[dict[str, Any]] = []
    if invoice.payment in ("failed", "recovered"):
        transactions.append(
            {"type": "payment", "date": _ts(invoice.date), "result": "failed",
             "external_id": f"{invoice.external_id}-tx1"}
        )  # fmt: skip
    if invoice.payment in ("successful", "recovered"):
        paid = invoice.date.replace(hour=12) if invoice.payment == "successful" else invoice.date
        if invoice.payment == "recovered":
            paid = paid.replace(day=min(paid.day + 3, 28))
        transactions.append(
            {"type": "payment", "date": _ts(paid), "result": "successful",
             "external_id": f"{invoice.external_id}-tx2"}
        )  # fmt: skip
    return {
        "external_id": invoice.external_id,
        "date": _ts(invoice.date),
        "currency": currency,
        "customer_external_id": external_id,
        "data_source_uuid": ds,
        "line_items": items,
        "transactions": transactions,
    }


def _seed_salesforce(scenario: Scenario, sf: SalesforceSeedTarget, result: SeedResult) -> None:
    for user in scenario.users:
        result.user_ids[user.key] = sf.insert(
            "User",
            {"FirstName": user.first_name, "LastName": user.last_name, "Email": user.email,
             "Username": user.email, "IsActive": True},
        )  # fmt: skip
    for account in scenario.accounts:
        fields: dict[str, Any] = {
            "Name": account.name,
            "OwnerId": result.user_ids[account.owner],
            "BillingCountry": account.country,
        }
        if account.website:
            fields["Website"] = account.website
        if account.success_manager:
            fields["CM_Success_Manager__c"] = result.user_ids[account.success_manager]
        result.account_ids[account.key] = sf.insert("Account", fields)
    for contact in scenario.contacts:
        fields = {
            "FirstName": contact.first_name,
            "LastName": contact.last_name,
            "AccountId": result.account_ids[contact.account],
        }
        if contact.email:
            fields["Email"] = contact.email
        result.contact_ids[contact.key] = sf.insert("Contact", fields)
    for lead in scenario.leads:
        fields = {"FirstName": lead.first_name, "LastName": lead.last_name, "Company": lead.company}
        if lead.email:
            fields["Email"] = lead.email
        if lead.converted_account and lead.converted_contact and lead.converted_on:
            fields.update(
                Status="Closed - Converted",
                IsConverted=True,
                ConvertedDate=lead.converted_on.isoformat(),
                ConvertedAccountId=result.account_ids[lead.converted_account],
                ConvertedContactId=result.contact_ids[lead.converted_contact],
            )
        sf.insert("Lead", fields)
    for opp in scenario.opportunities:
        sf.insert(
            "Opportunity",
            {"Name": opp.name, "StageName": opp.stage, "CloseDate": opp.close_date.isoformat(),
             "Amount": opp.amount, "Type": opp.type, "AccountId": result.account_ids[opp.account]},
        )  # fmt: skip


def _seed_customer(
    customer: CustomerPlan,
    cm: ChartMogulSeedTarget,
    plan_uuids: Mapping[str, Mapping[str, str]],
    result: SeedResult,
) -> None:
    if customer.link is LinkKind.EXTERNAL_ID and customer.account:
        external_id = result.account_ids[customer.account]
    else:
        external_id = customer.key
    ds = result.data_sources[customer.source]
    body: dict[str, Any] = {
        "data_source_uuid": ds,
        "external_id": external_id,
        "name": customer.name,
        "company": customer.company,
        "country": customer.country,
        "lead_created_at": _ts(customer.lead_created_at),
    }
    if customer.email:
        body["email"] = customer.email
    if customer.free_trial_started_at:
        body["free_trial_started_at"] = _ts(customer.free_trial_started_at)
    uuid = str(cm.create_customer(body)["uuid"])
    result.customer_uuids[customer.key] = uuid
    if not customer.invoices:
        return
    bodies = [
        _invoice_body(inv, plan_uuids[customer.source], external_id, ds, customer.currency)
        for inv in customer.invoices
    ]
    imported = cm.import_invoices(uuid, bodies)
    # Cancelling needs the subscription uuids ChartMogul assigned on import.
    subscriptions: dict[str, str] = {}
    for invoice, sent in zip(imported, bodies, strict=True):
        for item, sent_item in zip(invoice["line_items"], sent["line_items"], strict=True):
            subscriptions[sent_item["subscription_external_id"]] = item["subscription_uuid"]
    for subscription, cancelled_at in customer.cancellations:
        cm.cancel_subscription(subscriptions[subscription], cancelled_at)


def seed(scenario: Scenario, cm: ChartMogulSeedTarget, sf: SalesforceSeedTarget) -> SeedResult:
    """Create the scenario in both emulators; returns what was created."""
    sources = {
        spec.key: str(cm.create_data_source(spec.name)["uuid"]) for spec in scenario.data_sources
    }
    first = sources[scenario.data_sources[0].key]
    result = SeedResult(data_source_uuid=first, data_sources=sources)
    _seed_salesforce(scenario, sf, result)
    # Plans belong to one data source: each source gets the catalogue, same external ids.
    plan_uuids = {
        key: {
            plan.key: str(
                cm.create_plan(
                    {"data_source_uuid": ds, "name": plan.name,
                     "interval_count": plan.interval_count, "interval_unit": plan.interval_unit,
                     "external_id": plan.key}
                )["uuid"]
            )
            for plan in scenario.plans
        }
        for key, ds in sources.items()
    }  # fmt: skip
    for customer in scenario.customers:
        _seed_customer(customer, cm, plan_uuids, result)
    for customer in scenario.customers:
        if customer.link is LinkKind.LINKED and customer.account:
            sf.update(
                "Account",
                result.account_ids[customer.account],
                {"CM_Customer_UUID__c": result.customer_uuids[customer.key]},
            )
    result.counts = {
        "users": len(scenario.users),
        "accounts": len(scenario.accounts),
        "contacts": len(scenario.contacts),
        "leads": len(scenario.leads),
        "opportunities": len(scenario.opportunities),
        "customers": len(scenario.customers),
        "invoices": sum(len(c.invoices) for c in scenario.customers),
    }
    return result
