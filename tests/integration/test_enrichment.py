"""Enrichment end to end: new Contacts, and the Contacts of converted Leads, get their
customer's figures; a converted Lead itself is never written (Salesforce refuses it:
CANNOT_UPDATE_CONVERTED_LEAD, Salesforce Help article 000384333).

The paying customers here are made in the ChartMogul emulator with cmsync's client (a plan,
a customer, invoices with known payments), so every expected value is known up front: the plan
name, the start of the subscription, what was paid, the MRR and status ChartMogul computes.
People are created in the Salesforce emulator through the REST API; a Lead is converted on the
emulator's own record store, as Salesforce's convertLead (no REST resource) would.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from cmsync.chartmogul import connect
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.records import Customer
from cmsync.chartmogul.writes import NewCustomer, NewInvoice, NewLineItem, NewPlan, NewTransaction
from cmsync.config import Settings, load_settings
from cmsync.pipeline.closed_won.deal import Interval, period_end
from cmsync.pipeline.dispatch.preview import build_preview
from cmsync.pipeline.once import run_once
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.reconcile import ReconcileStats
from cmsync.pipeline.streams.customers import Listing
from cmsync.pipeline.streams.enrichment import (
    DIRECTORY_AFTER,
    LISTING_KEPT,
    EnrichmentStats,
    poll_enrichment,
)
from cmsync.pipeline.sync_pass import SyncPass
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import AuditEntry, OutboxItem, QuarantineKind, QuarantineStatus, Store, System
from tests.support.drive import step_outcome

PERSON_FIELDS = (
    "CM_Plan__c,CM_Subscription_Start__c,CM_LTV__c,CM_MRR__c,CM_Status__c,CM_Customer_UUID__c"
)
PLAN = "enrich_pro"
MONTH = Interval(1, "month")


@dataclass
class World:
    sandbox: RunningSandbox
    settings: Settings

    @property
    def data_source_uuid(self) -> str:
        assert self.settings.chartmogul.data_source_uuid is not None
        return self.settings.chartmogul.data_source_uuid


async def _poll(
    settings: Settings,
    *,
    dry_run: bool = False,
    directory_after: int = DIRECTORY_AFTER,
    listing: Listing | None = None,
) -> EnrichmentStats:
    """The enrichment poll alone; with no sweep's listing, every email is looked up."""
    store = Store.open(settings.store.path)
    gateway = SalesforceGateway(settings.salesforce)
    try:
        async with connect(settings.chartmogul) as chartmogul:
            sync = SyncPass(settings, store, chartmogul, gateway, _now, dry_run=dry_run)
            try:
                context = await sync.load_context()
                poll = PollContext(settings, store, chartmogul, gateway, context,
                                   sync.translator, dry_run=dry_run)  # fmt: skip
                return await poll_enrichment(
                    poll, now=datetime.now(UTC), directory_after=directory_after, listing=listing
                )
            finally:
                await sync.close()
    finally:
        await gateway.close()
        store.close()


def _now() -> datetime:
    return datetime.now(UTC)


async def _pass(settings: Settings) -> EnrichmentStats:
    """One sync pass; its enrichment stats."""
    return await step_outcome(settings, "enrichment", EnrichmentStats)


async def _setup(world: World) -> None:
    async with connect(world.settings.chartmogul) as cm:
        await cm.create_plan(
            NewPlan(data_source_uuid=world.data_source_uuid, name="Enrich Pro",
                    interval_count=1, interval_unit="month", external_id=PLAN)
        )  # fmt: skip
    await _pass(world.settings)  # the first pass: the seeded people, once


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("enrichment")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=30, seed=23))
    )
    built = World(running, load_settings(directory / "cmsync.toml"))
    asyncio.run(_setup(built))
    try:
        yield built
    finally:
        sandbox_loop.call(running.stop())


@pytest.fixture(autouse=True)
async def settled(world: World) -> None:
    """A pass before each test: the people the last one enriched are read once more (the
    write touched them) and left alone, so each test sees only its own people."""
    await _pass(world.settings)


@dataclass(frozen=True)
class Paying:
    customer: Customer
    start: date
    paid_cents: int


async def _paying(world: World, cm: ChartMogulClient, key: str, email: str) -> Paying:
    """A customer on "Enrich Pro" since 40 days ago: two paid months of 50.00, a failed third."""
    ds = world.data_source_uuid
    customer = await cm.create_customer(
        NewCustomer(data_source_uuid=ds, external_id=f"enrich-{key}", name=key, email=email)
    )
    plan = await cm.find_plan(PLAN, ds)
    assert plan is not None
    start = (datetime.now(UTC) - timedelta(days=40)).replace(hour=0, minute=0, second=0)
    invoices, period = [], start
    results: tuple[Literal["successful", "failed"], ...] = ("successful", "successful", "failed")
    for n, result in enumerate(results, start=1):
        end = period_end(period, MONTH)
        item = NewLineItem(subscription_external_id=f"{key}-sub", plan_uuid=plan.uuid,
                           service_period_start=period, service_period_end=end,
                           amount_in_cents=5_000, external_id=f"{key}-li{n}")  # fmt: skip
        paid = NewTransaction(date=period, result=result, external_id=f"{key}-tx{n}")
        invoices.append(
            NewInvoice(external_id=f"{key}-inv{n}", date=period, currency="USD",
                       line_items=(item,), transactions=(paid,))
        )  # fmt: skip
        period = end
    await cm.import_invoices(customer.uuid, invoices)
    return Paying(await cm.get_customer(customer.uuid), start.date(), 10_000)


async def _create(gateway: SalesforceGateway, sobject: str, fields: dict[str, Any]) -> str:
    answer = await gateway.restful(f"sobjects/{sobject}", method="POST", json=fields)
    return str(answer["id"])


async def _fields(gateway: SalesforceGateway, sobject: str, record: str) -> dict[str, Any]:
    path = f"sobjects/{sobject}/{record}"
    return dict(await gateway.restful(path, params={"fields": PERSON_FIELDS}))


def _expected(paying: Paying) -> dict[str, Any]:
    customer = paying.customer
    return {
        "CM_Plan__c": "Enrich Pro",
        "CM_Subscription_Start__c": paying.start.isoformat(),
        "CM_LTV__c": paying.paid_cents / 100,
        "CM_MRR__c": customer.mrr / 100,
        "CM_Status__c": customer.status,
        "CM_Customer_UUID__c": customer.uuid,
    }


def _unwritten() -> dict[str, Any]:
    return dict.fromkeys(PERSON_FIELDS.split(","))


def _person(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: fields.get(k) for k in PERSON_FIELDS.split(",")}


def _convert(world: World, lead: str, contact: str) -> None:
    """What Salesforce's convertLead does to the Lead (the REST API cannot set these)."""
    store = world.sandbox.salesforce.store
    found = store.find(contact)
    assert found is not None
    world.sandbox.salesforce.store.update(
        "Lead",
        lead,
        {"IsConverted": True, "Status": "Closed - Converted",
         "ConvertedDate": datetime.now(UTC).date().isoformat(),
         "ConvertedContactId": contact, "ConvertedAccountId": found.get("AccountId")},
    )  # fmt: skip


def _modified(world: World, record: str) -> object:
    found = world.sandbox.salesforce.store.find(record)
    assert found is not None
    return found.get("LastModifiedDate")


def _outbox(world: World, lead: str) -> tuple[int, list[AuditEntry]]:
    """Dead rows, and the audit entries of the Lead."""
    store = Store.open(world.settings.store.path)
    try:
        with store.transaction() as tx:
            return tx.outbox.counts().dead, tx.queries.record_history("Lead", lead)
    finally:
        store.close()


async def test_a_new_contact_of_a_paying_customer_gets_its_figures(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    paying = await _paying(world, cm, "contact-co", "buyer@contact-co.example")
    assert paying.customer.mrr == 5_000  # the failed third month still counts as MRR
    contact = await _create(
        gateway, "Contact", {"LastName": "Buyer", "Email": "Buyer@Contact-Co.example"}
    )
    stats = await _pass(world.settings)
    assert (stats.contacts, stats.matched, stats.enqueued) == (1, 1, 1)
    assert _person(await _fields(gateway, "Contact", contact)) == _expected(paying)

    again = await _pass(world.settings)  # re-read once (the write touched it); nothing new
    assert again.enqueued == 0


async def test_a_converted_lead_enriches_its_contact_and_is_never_written(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    paying = await _paying(world, cm, "lead-co", "lead@lead-co.example")
    converted = await _create(
        gateway, "Lead", {"LastName": "Won", "Company": "Lead Co", "Email": "lead@lead-co.example"}
    )
    still_open = await _create(
        gateway, "Lead", {"LastName": "Open", "Company": "Lead Co", "Email": "lead@lead-co.example"}
    )
    # Converted into a Contact without an email: only the Lead's read can find its customer.
    contact = await _create(gateway, "Contact", {"LastName": "Won"})
    _convert(world, converted, contact)
    converted_at = _modified(world, converted)
    dead_before, _ = _outbox(world, converted)

    stats = await _pass(world.settings)
    assert (stats.leads, stats.matched, stats.enqueued) == (1, 1, 1)
    assert _person(await _fields(gateway, "Contact", contact)) == _expected(paying)
    assert _person(await _fields(gateway, "Lead", converted)) == _unwritten()
    assert _person(await _fields(gateway, "Lead", still_open)) == _unwritten()
    assert _modified(world, converted) == converted_at  # no write reached the Lead
    dead, lead_writes = _outbox(world, converted)
    assert dead == dead_before and lead_writes == []

    again = await _pass(world.settings)  # the Contact now has its UUID: the Lead is not read
    assert (again.leads, again.enqueued) == (0, 0)
    drift = await step_outcome(world.settings, "reconcile", ReconcileStats)
    assert not [d for d in drift.drift if d.record_id in (converted, contact)]


async def test_an_update_queued_for_a_converted_lead_is_dropped_not_dead(
    world: World, gateway: SalesforceGateway
) -> None:
    """A row an older version queued for a converted Lead: Salesforce refuses it for good, so
    it is dropped with an audit line, neither retried nor dead-lettered."""
    lead = await _create(gateway, "Lead", {"LastName": "Old", "Company": "Old Co"})
    contact = await _create(gateway, "Contact", {"LastName": "Old"})
    _convert(world, lead, contact)
    converted_at = _modified(world, lead)
    dead_before, _ = _outbox(world, lead)
    row = OutboxItem("enrich|Lead|queued-before", "update", System.SALESFORCE, "Lead", lead,
                     {"CM_MRR__c": 12.5}, "enrichment: queued by an older version")  # fmt: skip
    store = Store.open(world.settings.store.path)
    try:
        with store.transaction() as tx:
            assert tx.outbox.enqueue([row]) == 1
    finally:
        store.close()

    store = Store.open(world.settings.store.path)
    try:  # the dry run's preview shows it will not be written
        preview = await build_preview(store, gateway)
    finally:
        store.close()
    [planned] = [p for p in preview.records if p.key == lead]
    assert planned.action == "refused" and "CANNOT_UPDATE_CONVERTED_LEAD" in planned.reason

    report = await run_once(world.settings)
    assert report.ok, report.summary()
    dead, [entry] = _outbox(world, lead)
    assert dead == dead_before
    assert entry.action == "dropped" and "CANNOT_UPDATE_CONVERTED_LEAD" in entry.reason
    assert _modified(world, lead) == converted_at


async def test_an_email_with_a_quote_is_matched_not_injected(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    email = "o'brien+cm@quote.example"
    paying = await _paying(world, cm, "quote-co", email)
    contact = await _create(gateway, "Contact", {"LastName": "O'Brien", "Email": email})
    lead = await _create(gateway, "Lead", {"LastName": "O'Brien", "Company": "Quote' OR ''='",
                                           "Email": email})  # fmt: skip
    _convert(world, lead, contact)
    stats = await _pass(world.settings)
    # The sweep listed the customer: its email is not searched for.
    assert (stats.contacts, stats.leads, stats.matched, stats.searches) == (1, 1, 2, 0)
    assert stats.enqueued == 1  # the Contact's update, read twice, is queued once
    assert _person(await _fields(gateway, "Contact", contact)) == _expected(paying)
    assert _person(await _fields(gateway, "Lead", lead)) == _unwritten()


async def test_an_unknown_email_writes_nothing_and_is_counted(
    world: World, gateway: SalesforceGateway
) -> None:
    contact = await _create(
        gateway, "Contact", {"LastName": "Nobody", "Email": "nobody@unknown.example"}
    )
    no_email = await _create(gateway, "Contact", {"LastName": "Silent"})
    stats = await _pass(world.settings)
    assert (stats.contacts, stats.unmatched, stats.no_email, stats.matched) == (2, 1, 1, 0)
    assert stats.enqueued == 0
    for record in (contact, no_email):
        assert _person(await _fields(gateway, "Contact", record)) == _unwritten()


async def test_an_email_on_two_customers_is_quarantined_not_guessed(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    first = await _paying(world, cm, "twin-a", "shared@twins.example")
    second = await _paying(world, cm, "twin-b", "shared@twins.example")
    contact = await _create(
        gateway, "Contact", {"LastName": "Twin", "Email": "shared@twins.example"}
    )
    stats = await _pass(world.settings)
    assert (stats.ambiguous, stats.enqueued) == (1, 0)
    assert _person(await _fields(gateway, "Contact", contact)) == _unwritten()
    store = Store.open(world.settings.store.path)
    try:
        with store.transaction() as tx:
            [entry] = [q for q in tx.queries.quarantine(QuarantineStatus.OPEN)
                       if q.record_key == contact]  # fmt: skip
    finally:
        store.close()
    assert (entry.kind, entry.source) == (QuarantineKind.AMBIGUOUS_MATCH, System.SALESFORCE)
    assert set(entry.payload["customers"]) == {first.customer.uuid, second.customer.uuid}
    assert entry.candidates == ()  # nothing an Account link could resolve


async def test_many_new_emails_list_the_customers_once_instead_of_searching_each(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    paying = await _paying(world, cm, "bulk-co", "bulk@bulk-co.example")
    known = await _create(gateway, "Contact", {"LastName": "Bulk", "Email": "BULK@bulk-co.example"})
    stranger = await _create(gateway, "Contact", {"LastName": "X", "Email": "x@bulk.example"})

    stats = await _poll(world.settings, directory_after=1)  # two new emails: more than one
    assert (stats.searches, stats.matched, stats.unmatched) == (0, 1, 1)
    assert stats.listed >= 1 + len(world.sandbox.seeded.customer_uuids)
    report = await run_once(world.settings)
    assert report.ok, report.summary()
    assert _person(await _fields(gateway, "Contact", known)) == _expected(paying)
    assert _person(await _fields(gateway, "Contact", stranger)) == _unwritten()


async def test_a_stale_listing_is_not_taken_for_the_truth(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    """A listing older than LISTING_KEPT (a daemon's sweep long ago) is set aside and each
    email searched for; a fresh one is taken as is, with cmsync's own data source listed again
    for the customers made since (here, this one: the listing knows no customer at all)."""
    paying = await _paying(world, cm, "stale-co", "stale@stale-co.example")
    contact = await _create(
        gateway, "Contact", {"LastName": "Stale", "Email": "stale@stale-co.example"}
    )
    old = Listing(started=time.monotonic() - LISTING_KEPT - 1)
    stale = await _poll(world.settings, dry_run=True, listing=old)
    assert (stale.searches, stale.listed, stale.matched) == (1, 0, 1)
    fresh = await _poll(world.settings, dry_run=True, listing=Listing())
    assert (fresh.searches, fresh.matched) == (0, 1)
    assert fresh.listed >= 1  # the data source, listed again
    [line] = fresh.planned
    assert f"update Contact {contact} " in line and paying.customer.uuid in line


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


async def test_a_dry_run_writes_nothing_and_lists_the_updates(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    paying = await _paying(world, cm, "dry-co", "dry@dry-co.example")
    contact = await _create(gateway, "Contact", {"LastName": "Dry", "Email": "dry@dry-co.example"})
    before = _dump(world.settings.store.path)

    plan = await _poll(world.settings, dry_run=True)
    assert plan.dry_run and plan.matched == 1
    assert _dump(world.settings.store.path) == before
    [line] = plan.planned
    assert line.startswith(f"update Contact {contact} (dry@dry-co.example): CM_Plan__c=Enrich Pro")
    assert f"CM_Customer_UUID__c={paying.customer.uuid}" in line

    assert (await _pass(world.settings)).enqueued == 1  # the real pass still has it to do
