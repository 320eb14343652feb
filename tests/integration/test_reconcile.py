"""Reconciliation against a seeded sandbox: drift repaired, and nothing else touched.

After a full pass, two Accounts drift behind cmsync's back: one is edited by hand in
Salesforce, the other's customer gets a back-dated invoice in ChartMogul (a backfill: its
activity is older than any cursor). One reconciliation and one drain must repair both in a
single collections call and write nothing else; a second finds nothing; a dry run reports the
same drift and writes nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cmsync.chartmogul import connect
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.records import Customer
from cmsync.config import Settings, load_settings
from cmsync.pipeline.context import load_context
from cmsync.pipeline.dispatch.dispatcher import Dispatcher, DispatchReport
from cmsync.pipeline.once import run_once
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.reconcile import ReconcileStats, reconcile
from cmsync.pipeline.streams.customers import sweep_customers
from cmsync.pipeline.translate import Translator
from cmsync.salesforce.collections import CollectionsWriter
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import soql
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import AccountLink, Store

WRITES = ("POST", "PATCH", "DELETE")


@dataclass
class World:
    sandbox: RunningSandbox
    settings: Settings

    def write_calls(self) -> int:
        stats = self.sandbox.salesforce.stats.by_endpoint
        return sum(
            n for k, n in stats.items() if k.split(" ", 1)[0] in WRITES and "/oauth2/" not in k
        )

    def clock(self) -> datetime:
        return self.sandbox.ctx.clock.now()


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory: Path = tmp_path_factory.mktemp("reconcile")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=40, seed=12))
    )
    try:
        loaded = load_settings(directory / "cmsync.toml")
        # Reconciliation alone: Closed-Won imports have their own tests.
        settings = loaded.model_copy(
            update={"closed_won": loaded.closed_won.model_copy(update={"enabled": False})}
        )
        report = asyncio.run(run_once(settings))
        assert report.ok, report.summary()
        yield World(running, settings)
    finally:
        sandbox_loop.call(running.stop())


@dataclass
class Services:
    chartmogul: ChartMogulClient
    gateway: SalesforceGateway
    store: Store


@pytest.fixture
async def services(world: World) -> AsyncIterator[Services]:
    store = Store.open(world.settings.store.path)
    gateway = SalesforceGateway(world.settings.salesforce)
    try:
        async with connect(world.settings.chartmogul) as chartmogul:
            yield Services(chartmogul, gateway, store)
    finally:
        await gateway.close()
        store.close()


async def _reconcile(world: World, s: Services, *, dry_run: bool = False) -> ReconcileStats:
    context = await load_context(s.gateway, s.chartmogul, world.settings.fields)
    translator = Translator(world.settings.fields, world.settings.sync, context.plan_names)
    poll = PollContext(
        world.settings, s.store, s.chartmogul, s.gateway, context, translator, dry_run=dry_run
    )
    return await reconcile(poll, now=world.clock())


async def _drain(world: World, s: Services) -> DispatchReport:
    writer = CollectionsWriter(s.gateway)
    return await Dispatcher(s.store, writer, s.gateway.budget, clock=world.clock).drain()


async def _customers(s: Services) -> dict[str, Customer]:
    return {c.uuid: c async for page in s.chartmogul.customer_pages() for c in page.entries}


def _links(s: Services, customers: dict[str, Customer]) -> dict[str, AccountLink]:
    """Customer UUID -> its Account link, for the customers that have one."""
    with s.store.transaction() as tx:
        return dict(sorted(tx.links.get_many(customers).items()))


async def _account(s: Services, account_id: str) -> dict[str, Any]:
    query = soql(
        "SELECT Id, CM_MRR__c, CM_ARR__c, CM_Status__c, CM_Customer_Since__c FROM Account "
        "WHERE Id = {id}",
        id=account_id,
    )
    (row,) = [r async for page in s.gateway.query_pages(query) for r in page]
    return row


async def _modified_since(s: Services, since: datetime) -> set[str]:
    """Every record Salesforce says was written at or after ``since``, of any object cmsync
    writes."""
    found: set[str] = set()
    for sobject in ("Account", "Contact", "Lead", "Opportunity", "Task", "Case"):
        template = f"SELECT Id FROM {sobject} WHERE LastModifiedDate >= {{at}}"  # noqa: S608
        query = soql(template, at=since)
        found |= {r["Id"] async for page in s.gateway.query_pages(query) for r in page}
    return found


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _backfill(world: World, customer_uuid: str) -> None:
    """A back-dated invoice: a new monthly subscription that started 20 days ago."""
    cm = world.sandbox.chartmogul.store
    plan = next(p for p in cm.sources.list_plans({})["plans"] if p["interval_unit"] == "month")
    start = world.clock().replace(microsecond=0) - timedelta(days=20)
    cm.import_invoices(
        customer_uuid,
        [
            {
                "external_id": "backfill-1",
                "date": _ts(start),
                "currency": "USD",
                "line_items": [
                    {
                        "type": "subscription",
                        "subscription_external_id": "backfill-sub-1",
                        "plan_uuid": plan["uuid"],
                        "service_period_start": _ts(start),
                        "service_period_end": _ts(start + timedelta(days=30)),
                        "amount_in_cents": 4_200,
                        "quantity": 1,
                        "external_id": "backfill-li-1",
                    }
                ],
                "transactions": [
                    {"type": "payment", "date": _ts(start), "result": "successful",
                     "external_id": "backfill-tx-1"}
                ],
            }
        ],
    )  # fmt: skip


def _drift(stats: ReconcileStats) -> dict[tuple[str, str], dict[str, tuple[Any, Any]]]:
    return {
        (d.sobject, d.record_id): {f.field: (f.held, f.want) for f in d.fields} for d in stats.drift
    }


async def test_a_hand_edit_and_a_backfill_are_repaired_and_nothing_else(
    world: World, services: Services
) -> None:
    customers = await _customers(services)
    links = _links(services, customers)
    paying = [
        (uuid, link.account_id)
        for uuid, link in links.items()
        if customers[uuid].status == "Active" and customers[uuid].mrr > 0
    ]
    # The backfilled customer must have no enriched Contact or Lead: their MRR would drift
    # too (rightly; the next test covers people), and this test counts exact records.
    enriched = {
        r["CM_Customer_UUID__c"]
        for sobject in ("Contact", "Lead")
        async for page in services.gateway.query_pages(
            f"SELECT CM_Customer_UUID__c FROM {sobject} WHERE CM_Customer_UUID__c != null"  # noqa: S608 (constant names)
        )
        for r in page
    }
    quiet = [(u, a) for u, a in paying if u not in enriched]
    assert len(paying) >= 2 and quiet
    backfilled_uuid, backfilled = quiet[0]
    edited_uuid, edited = next((u, a) for u, a in paying if u != backfilled_uuid)
    mrr = customers[edited_uuid].mrr / 100
    wrong = round(mrr + 1000, 2)
    await services.gateway.restful(
        f"sobjects/Account/{edited}", method="PATCH", json={"CM_MRR__c": wrong}
    )
    _backfill(world, backfilled_uuid)
    before = customers[backfilled_uuid]
    after = (await _customers(services))[backfilled_uuid]
    assert after.mrr == before.mrr + 4_200  # the backfill moved today's figures
    expected = {
        ("Account", edited): {"CM_MRR__c": (wrong, mrr)},
        ("Account", backfilled): {
            "CM_MRR__c": (before.mrr / 100, after.mrr / 100),
            "CM_ARR__c": (before.arr / 100, after.arr / 100),
        },
    }

    # A dry run names the drift, both values of each field, and writes nothing.
    calls = world.write_calls()
    with services.store.transaction() as tx:
        pending = tx.outbox.counts().pending
    dry = await _reconcile(world, services, dry_run=True)
    assert _drift(dry) == expected
    assert dry.enqueued == 0 and world.write_calls() == calls
    with services.store.transaction() as tx:
        assert tx.outbox.counts().pending == pending

    # The real one: one update per drifted record, only the drifting fields.
    with services.store.transaction() as tx:
        audited = max((e.id for e in tx.queries.recent_audit(1)), default=0)
    world.sandbox.ctx.clock.advance(2)  # every earlier write is now a whole second behind
    since = world.clock().replace(microsecond=0)
    stats = await _reconcile(world, services)
    assert _drift(stats) == expected
    assert (stats.drifted, stats.fields, stats.enqueued) == (2, 3, 2)
    assert stats.by_field == Counter({"Account.CM_MRR__c": 2, "Account.CM_ARR__c": 1})
    assert stats.linked == len(links) and stats.missing == 0
    assert stats.unchanged == stats.records - 2
    assert "drifted=2 fields=3" in stats.describe()

    report = await _drain(world, services)
    assert report.calls == 1 and dict(report.sent) == {("Account", "update"): 2}
    assert world.write_calls() == calls + 1
    with services.store.transaction() as tx:
        entries = tx.queries.audit_after(audited)
    assert sorted((e.record_id, sorted(e.fields)) for e in entries) == sorted(
        [(edited, ["CM_MRR__c"]), (backfilled, ["CM_ARR__c", "CM_MRR__c"])]
    )
    # Said in words, both values of the field; the run's key kept beside them.
    [fixed] = [e for e in entries if e.record_id == edited]
    assert fixed.reason == f"drift: CM_MRR__c was {wrong:,.2f}, ChartMogul says {mrr:,.2f}"
    assert fixed.keys.startswith("reconcile|")
    assert await _modified_since(services, since) == {edited, backfilled}
    assert (await _account(services, edited))["CM_MRR__c"] == mrr
    repaired = await _account(services, backfilled)
    assert (repaired["CM_MRR__c"], repaired["CM_ARR__c"]) == (after.mrr / 100, after.arr / 100)

    # Repaired means repaired: the next reconciliation finds nothing and sends nothing.
    again = await _reconcile(world, services)
    assert (again.drifted, again.enqueued, again.unchanged) == (0, 0, again.records)
    assert (await _drain(world, services)).calls == 0
    assert world.write_calls() == calls + 1


async def test_enriched_people_drift_is_repaired_too(world: World, services: Services) -> None:
    customers = await _customers(services)
    uuid = next(u for u in _links(services, customers) if customers[u].mrr > 0)
    customer = customers[uuid]
    contacts = [
        r
        async for page in services.gateway.query_pages("SELECT Id FROM Contact ORDER BY Id")
        for r in page
    ]
    open_lead = "SELECT Id FROM Lead WHERE IsConverted = false ORDER BY Id LIMIT 1"
    leads = [r async for page in services.gateway.query_pages(open_lead) for r in page]
    contact, lead = contacts[0]["Id"], leads[0]["Id"]
    stale = {"CM_Customer_UUID__c": uuid, "CM_MRR__c": 1.0, "CM_Status__c": customer.status}
    right = {**stale, "CM_MRR__c": customer.mrr / 100}
    await services.gateway.restful(f"sobjects/Contact/{contact}", method="PATCH", json=stale)
    await services.gateway.restful(f"sobjects/Lead/{lead}", method="PATCH", json=right)

    calls = world.write_calls()
    stats = await _reconcile(world, services)
    assert _drift(stats) == {("Contact", contact): {"CM_MRR__c": (1.0, customer.mrr / 100)}}
    assert stats.by_field == Counter({"Contact.CM_MRR__c": 1})
    report = await _drain(world, services)
    assert report.calls == 1 and dict(report.sent) == {("Contact", "update"): 1}
    assert world.write_calls() == calls + 1
    query = soql("SELECT CM_MRR__c FROM Contact WHERE Id = {id}", id=contact)
    (row,) = [r async for page in services.gateway.query_pages(query) for r in page]
    assert row["CM_MRR__c"] == customer.mrr / 100
    assert (await _reconcile(world, services)).drifted == 0


async def test_repaired_fields_are_remembered_so_the_sweep_stays_quiet(
    world: World, services: Services
) -> None:
    """After a repair, what cmsync remembers writing is what Salesforce holds: the customer
    sweep's figures for every Account are dropped as unchanged (a reconciliation that forgot
    whole records would make it rewrite them all)."""
    context = await load_context(services.gateway, services.chartmogul, world.settings.fields)
    translator = Translator(world.settings.fields, world.settings.sync, context.plan_names)
    poll = PollContext(
        world.settings, services.store, services.chartmogul, services.gateway, context, translator
    )
    swept = await sweep_customers(poll, now=world.clock())
    assert swept.enqueued == swept.linked == len(_links(services, await _customers(services)))
    calls = world.write_calls()
    report = await _drain(world, services)
    assert report.calls == 0 and report.unchanged == swept.enqueued
    assert world.write_calls() == calls
