"""The ChartMogul side of a Closed-Won import: the deal's customer, its plan, its invoice.

``ChartMogulSide`` does the lookups of one poll and remembers what it found, so a page of
deals for one Account or one plan asks ChartMogul once; the customers and the Contact emails
come from what the poll read for all its deals together (``lookups``). It creates nothing:
a customer or plan still to make has no uuid (``None``), and the deal's effect makes it when
the dispatcher sends it (``dispatch.closed_won_send``). In a dry run it says what would be
created in ``stats.planned``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from decimal import Decimal

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.records import Invoice
from cmsync.config import Settings
from cmsync.pipeline.closed_won.deal import Deal, Interval, new_customer, new_invoice
from cmsync.pipeline.closed_won.lookups import (
    CustomerLookups,
    ListedCustomers,
    NamedCustomer,
    primary_emails,
)
from cmsync.pipeline.org import OrgSnapshot, page_index
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.storeio import in_store
from state import MatchMethod, Store
from state.matching import CustomerFacts, Found, NotFound, match
from state.weburl import web_url

__all__ = ["ChartMogulSide", "ClosedWonStats", "DealRefused", "Holder", "PlanRef", "money"]

log = logging.getLogger("cmsync.closed_won")


@dataclass
class ClosedWonStats:
    """What one Closed-Won poll did (or, in a dry run, would do)."""

    read: int = 0  # won Opportunities read (new in the window)
    imported: int = 0  # invoices imported: one subscription each
    customers_created: int = 0
    plans_created: int = 0
    already_imported: int = 0
    amount_changed: int = 0  # imported, Amount edited since: reported, not re-imported
    history: int = 0  # closed before cmsync started importing: left alone
    quarantined: int = 0
    customers_discarded: int = 0  # created for a deal whose invoice was refused, deleted again
    unwound: int = 0  # imported deals seen leaving Closed Won (or deleted): a problem each
    enqueued: int = 0  # Account updates enqueued
    queued: int = 0  # deals decided for import: their ChartMogul writes enqueued as effects
    dry_run: bool = False
    disabled: bool = False
    planned: list[str] = field(default_factory=list)  # dry run: each effect, one line
    notes: list[str] = field(default_factory=list)  # what an operator should know

    def describe(self) -> str:
        if self.disabled:
            return "disabled (closed_won.enabled = false)"
        line = (
            f"won={self.read} imported={self.imported} "
            f"customers_created={self.customers_created} plans_created={self.plans_created} "
            f"already_imported={self.already_imported} amount_changed={self.amount_changed} "
            f"history={self.history} quarantined={self.quarantined} enqueued={self.enqueued}"
            f" unwound={self.unwound}"
        )
        if self.queued:
            line += f" queued={self.queued}"
        if self.dry_run:
            return f"dry run, nothing written: {line} planned={len(self.planned)}"
        return line


class DealRefused(Exception):
    """The deal cannot be imported as it stands; the message tells the operator why."""


@dataclass(frozen=True)
class Holder:
    """The customer a deal's subscription goes to."""

    uuid: str | None  # None: created by this dry run (so it has no uuid)
    label: str
    data_source_uuid: str
    external_id: str | None = None
    url: str | None = None
    pays: bool = False  # has (or had) a subscription: ChartMogul bills it already
    link_by: MatchMethod | None = None  # how to link it; None: the store links it already
    # The Account's link names a customer ChartMogul no longer has: ``stale`` is that one;
    # ``survives`` says this customer carries the Account Id (the stale one was merged into
    # it, and the link follows) rather than being some other match (the link is replaced).
    stale: str | None = None
    survives: bool = False

    external_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, customer: NamedCustomer, default_ds: str, link_by: MatchMethod | None) -> Holder:
        return cls(
            external_ids=tuple(customer.external_ids),
            uuid=customer.uuid,
            label=f"customer {customer.uuid}",
            data_source_uuid=customer.data_source_uuid or default_ds,
            external_id=customer.external_id,
            url=web_url(customer.chartmogul_url)[0],  # http and https only
            pays=customer.mrr > 0 or customer.customer_since is not None,
            link_by=link_by,
        )


@dataclass(frozen=True)
class PlanRef:
    uuid: str | None  # None: created by this dry run
    external_id: str
    name: str
    interval: Interval


def money(cents: int, currency: str) -> str:
    return f"{Decimal(cents) / 100:.2f} {currency}"


class ChartMogulSide:
    """The customers, plans and invoices of one poll, looked up once and created if needed."""

    def __init__(
        self,
        chartmogul: ChartMogulClient,
        gateway: SalesforceGateway,
        store: Store,
        settings: Settings,
        *,
        data_source_uuid: str,
        stats: ClosedWonStats,
        intervals: dict[str, Interval],
        org: OrgSnapshot,
        lookups: CustomerLookups | None = None,
    ) -> None:
        self.chartmogul = chartmogul
        # Answered from one listing the poll reads for its deals (``lookups``); empty, it
        # still reads a customer by uuid.
        self.lookups: CustomerLookups = lookups or ListedCustomers(chartmogul)
        self.gateway = gateway
        self.store = store
        self.won = settings.closed_won
        self.data_source_uuid = data_source_uuid
        self.stats = stats
        self.dry_run = stats.dry_run
        self.holders: dict[str, Holder] = {}  # Account Id -> its customer, this run
        self.plans: dict[tuple[str, str], PlanRef] = {}  # (data source, external id)
        self.intervals = intervals  # plan uuid or external id -> interval
        self.org = org  # what the pass read of Salesforce, for matching by email
        self.emails: dict[str, str | None] = {}  # Account Id -> its first Contact's email
        self.stale: dict[str, str] = {}  # Account Id -> the gone customer it is linked to
        self.imported: set[str] = set()  # Opportunity Ids the store records as imported
        self.unowned: set[str] = set()  # Account Ids no listed customer names (``prefetch``)

    def plan_line(self, line: str) -> None:
        if self.dry_run:
            self.stats.planned.append(line)

    async def invoice(self, opportunity_id: str) -> Invoice | None:
        async for page in self.chartmogul.invoice_pages(external_id=opportunity_id):
            for invoice in page.entries:
                if invoice.external_id == opportunity_id:
                    return invoice
        return None

    async def customer(self, uuid: str) -> NamedCustomer | None:
        return await self.lookups.by_uuid(uuid)

    async def holder(self, deal: Deal) -> Holder | None:
        """The Account's existing customer, if it has one (cached for the run)."""
        account_id = deal.account_id
        assert account_id is not None
        if account_id in self.holders:
            return self.holders[account_id]
        ds = self.data_source_uuid
        link = await in_store(self.store, lambda tx: tx.links.by_account(account_id))
        holder: Holder | None = None
        stale: str | None = None
        if link is not None:
            customer = await self.customer(link.customer_uuid)
            if customer is not None:
                holder = Holder.of(customer, ds, None)
            else:  # merged into another customer, or deleted: found as for an unlinked one
                stale = link.customer_uuid
        if holder is None:
            if deal.uuid_field and deal.uuid_field != stale:
                customer = await self.customer(deal.uuid_field)
                if customer is not None:
                    holder = await self._unlinked(customer, account_id, MatchMethod.UUID_FIELD)
            if holder is None:
                # Also the survivor of a merge: it carries the Account Id in external_ids.
                customer = await self.lookups.by_external_id(account_id, ds)
                if customer is not None:
                    holder = await self._unlinked(customer, account_id, MatchMethod.EXTERNAL_ID)
            if holder is None:
                holder = await self._by_email(account_id)
        if holder is not None and stale is not None:
            holder = replace(holder, stale=stale, survives=account_id in holder.external_ids)
        if holder is not None:
            self.holders[account_id] = holder
        elif stale is not None:
            self.stale[account_id] = stale  # a new customer replaces it (``create_customer``)
        return holder

    async def _unlinked(self, customer: NamedCustomer, account_id: str, how: MatchMethod) -> Holder:
        """A customer found for the Account but not linked to it: it must be free."""
        other = await in_store(self.store, lambda tx: tx.links.get(customer.uuid))
        if other is not None and other.account_id != account_id:
            raise DealRefused(
                f"Account {account_id} points to ChartMogul customer {customer.uuid} "
                f"({how.value}), which is linked to Account {other.account_id}: unlink it "
                f"(`cmsync problems unlink {customer.uuid}`, u on the dashboard) or relink "
                f"it (`cmsync problems relink {customer.uuid} {account_id}`, l), then edit "
                "the Opportunity to import it"
            )
        return Holder.of(customer, self.data_source_uuid, how)

    async def _by_email(self, account_id: str) -> Holder | None:
        """A customer ChartMogul already has under the email a new one would get.

        The customer sweep links such a customer by the Contact's email, but it may not have
        run yet (or left the match to an operator): creating a customer now would make a second
        one. One customer that matches no other Account is this Account's; anything else is
        for an operator to decide.
        """
        email = await self.primary_email(account_id)
        found = await self.lookups.by_email(email) if email else []
        if not found:
            return None
        if len(found) == 1:
            customer = found[0]
            facts = CustomerFacts(customer.uuid, customer.external_id, customer.email)
            index = await in_store(self.store, lambda tx: page_index(tx, self.org, [facts]))
            result = match(facts, None, index)
            if isinstance(result, NotFound):
                return await self._unlinked(customer, account_id, MatchMethod.CONTACT_EMAIL)
            if isinstance(result, Found) and result.account_id == account_id:
                return await self._unlinked(customer, account_id, result.method)
        raise DealRefused(
            f"ChartMogul already has {', '.join(c.uuid for c in found)} with {email}, the "
            f"email of Account {account_id}'s first Contact, and cmsync does not guess: link "
            f"the right customer (`cmsync problems relink CUSTOMER_UUID {account_id}`, l on "
            "the dashboard, or set the Account's CM_Customer_UUID__c), then edit the "
            "Opportunity"
        )

    async def primary_email(self, account_id: str) -> str | None:
        """The email of the Account's first Contact that has one (oldest, then lowest Id)."""
        if account_id not in self.emails:  # read with its page's deals (``prefetch``) or now
            self.emails.update(await primary_emails(self.gateway, [account_id]))
        return self.emails[account_id]

    # --- creates ------------------------------------------------------------------------

    async def create_customer(self, deal: Deal) -> Holder:
        """A dry run's new customer: what it would be (the effect creates it for real)."""
        assert deal.account_id is not None and self.dry_run
        ds = self.data_source_uuid
        body = new_customer(deal, await self.primary_email(deal.account_id), ds)
        dropped = web_url(deal.website)[1]
        if dropped:  # the customer is created without it
            log.warning("Account %s: its Website is not copied to ChartMogul: %s",
                        deal.account_id, dropped)  # fmt: skip
        self.stats.customers_created += 1
        self.plan_line(
            f"create customer {body.name!r} (external id {body.external_id}, email "
            f"{body.email or 'none'}, country {body.country or 'none'}) in {ds}"
        )
        holder = Holder(None, f"new customer {body.name!r}", ds, body.external_id)
        holder = replace(holder, stale=self.stale.get(deal.account_id))
        self.holders[deal.account_id] = holder
        return holder

    async def plan(self, key: str, chosen_by: str, ds: str) -> PlanRef:
        cached = self.plans.get((ds, key))
        if cached is not None:
            return cached
        plan = await self.chartmogul.find_plan(key, ds)
        if plan is not None:
            ref = PlanRef(
                plan.uuid, key, plan.name, Interval(plan.interval_count, plan.interval_unit)
            )
        else:
            definition = self.won.create_plans.get(key)
            if definition is None:
                raise DealRefused(
                    f"plan {key!r} (chosen by {chosen_by}) is not in ChartMogul data source "
                    f"{ds} and closed_won.create_plans does not define it: create it in "
                    "ChartMogul or add it to create_plans, then edit the Opportunity"
                )
            interval = Interval(definition.interval_count, definition.interval_unit)
            # Created by the deal's effect when it is sent (``dispatch.closed_won_send``), not here.
            if self.dry_run:
                self.stats.plans_created += 1
                self.plan_line(
                    f"create plan {key!r} ({definition.name!r}, billed every "
                    f"{interval.describe()}) in {ds}"
                )
            ref = PlanRef(None, key, definition.name, interval)
        self.plans[(ds, key)] = ref
        if ref.uuid is not None:
            self.intervals[ref.uuid] = ref.interval
        return ref

    async def import_deal(self, deal: Deal, holder: Holder, plan: PlanRef) -> None:
        """A dry run's import: the invoice it would be, said in ``stats.planned``."""
        assert deal.account_id is not None and self.dry_run
        invoice = new_invoice(
            deal,
            plan_uuid=plan.uuid or "(created by this run)",
            interval=plan.interval,
            settings=self.won,
            customer_external_id=holder.external_id,
            data_source_uuid=holder.data_source_uuid,
        )
        item = invoice.line_items[0]
        self.stats.imported += 1
        assert item.service_period_end is not None
        self.plan_line(
            f"import invoice {invoice.external_id} into {holder.label}: "
            f"{money(item.amount_in_cents, invoice.currency)} for "
            f"{deal.close_date} to {item.service_period_end.date()}, plan {plan.external_id!r} "
            f"(subscription {deal.opportunity_id}, paid)"
        )
