"""Closed-Won Opportunities into ChartMogul, end to end: a seeded sandbox, real sockets.

Each test wins a deal in the Salesforce emulator through the REST API (on a fresh Account made
the same way, or on a linked one), runs passes, and reads the outcome back from both services
with cmsync's own clients: ChartMogul customers and invoices counted by external id, its
request stats for creates, and the Account's fields. A pass is ``run_once``; ``_poll`` runs
the Closed-Won step alone, with the objects ``SyncPass`` builds for it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from cmsync.chartmogul import connect
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.records import Customer, CustomerSubscription, Invoice
from cmsync.chartmogul.writes import NewCustomer
from cmsync.config import ClosedWonSettings, PlanDefinition, Settings, load_settings
from cmsync.pipeline.closed_won.poll import ClosedWonStats, poll_closed_won
from cmsync.pipeline.context import load_context
from cmsync.pipeline.dispatch.closed_won_send import ChartMogulExecutor
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.translate import Translator
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import soql
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import QuarantineKind, QuarantineStatus, Store, System
from tests.support.drive import step_outcome

ACCOUNT_FIELDS = "Id,CM_Customer_UUID__c,CM_MRR__c,CM_URL__c"
QUARTERLY = PlanDefinition(name="Quarterly contract", interval_count=3, interval_unit="month")


@dataclass
class World:
    sandbox: RunningSandbox
    settings: Settings
    scenario: dict[str, Any]

    @property
    def data_source_uuid(self) -> str:
        assert self.settings.chartmogul.data_source_uuid is not None
        return self.settings.chartmogul.data_source_uuid

    def chartmogul_creates(self) -> int:
        stats = self.sandbox.chartmogul.stats.by_endpoint
        return sum(n for endpoint, n in stats.items() if endpoint.startswith("POST "))


async def _poll(settings: Settings, *, dry_run: bool = False) -> ClosedWonStats:
    """The Closed-Won step with the objects a SyncPass builds for it: the poll, then the
    dispatcher's ChartMogul executor sending the deals' effects it enqueued."""
    store = Store.open(settings.store.path)
    gateway = SalesforceGateway(settings.salesforce)
    try:
        async with connect(settings.chartmogul) as chartmogul:
            context = await load_context(gateway, chartmogul, settings.fields)
            translator = Translator(settings.fields, settings.sync, context.plan_names)
            poll = PollContext(
                settings, store, chartmogul, gateway, context, translator, dry_run=dry_run
            )
            stats = await poll_closed_won(poll, now=datetime.now(UTC))
            if not dry_run:
                executor = ChartMogulExecutor(
                    store, chartmogul, settings, translator, clock=lambda: datetime.now(UTC)
                )
                sent = await executor.drain()
                stats.imported += sent.imported
                stats.customers_created += sent.customers_created
            return stats
    finally:
        await gateway.close()
        store.close()


async def _pass(settings: Settings) -> ClosedWonStats:
    """One sync pass; its Closed-Won stats."""
    return await step_outcome(settings, "closed_won", ClosedWonStats)


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("closed-won")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=30, seed=21))
    )
    settings = load_settings(directory / "cmsync.toml")
    scenario = json.loads((directory / "scenario.json").read_text())
    try:
        yield World(running, settings, scenario)
    finally:
        sandbox_loop.call(running.stop())


@pytest.fixture(scope="module")
def baseline(world: World) -> ClosedWonStats:
    """The first pass: it fixes the poller's start and leaves the seeded history alone."""
    return asyncio.run(_pass(world.settings))


def _today() -> date:
    return datetime.now(UTC).date()


async def _create(gateway: SalesforceGateway, sobject: str, fields: dict[str, Any]) -> str:
    answer = await gateway.restful(f"sobjects/{sobject}", method="POST", json=fields)
    return str(answer["id"])


async def _fresh_account(gateway: SalesforceGateway, name: str) -> str:
    """A new Account (no ChartMogul customer) with two Contacts; the older one's email wins."""
    account = await _create(gateway, "Account", {"Name": name, "BillingCountry": "DE"})
    slug = name.lower().replace(" ", "-")
    await _create(gateway, "Contact", {"LastName": "Primary", "AccountId": account,
                                       "Email": f"primary@{slug}.example"})  # fmt: skip
    await _create(gateway, "Contact", {"LastName": "Later", "AccountId": account,
                                       "Email": f"later@{slug}.example"})  # fmt: skip
    return account


async def _win(
    gateway: SalesforceGateway, account: str | None, amount: float | None, **fields: Any
) -> str:
    """An open Opportunity, then set to Closed Won through the REST API, as a rep does."""
    body = {"Name": "Deal", "StageName": "Prospecting", "CloseDate": _today().isoformat(),
            "AccountId": account, "Amount": amount, "Type": "New Customer", **fields}  # fmt: skip
    opportunity = await _create(gateway, "Opportunity", {k: v for k, v in body.items() if v})
    await gateway.restful(
        f"sobjects/Opportunity/{opportunity}", method="PATCH", json={"StageName": "Closed Won"}
    )
    return opportunity


async def _customers(cm: ChartMogulClient, external_id: str, ds: str) -> list[Customer]:
    return [
        c
        async for page in cm.customer_pages(external_id=external_id, data_source_uuid=ds)
        for c in page.entries
    ]


async def _invoices(cm: ChartMogulClient, external_id: str) -> list[Invoice]:
    return [i async for page in cm.invoice_pages(external_id=external_id) for i in page.entries]


async def _subscription(cm: ChartMogulClient, customer: str, opp: str) -> CustomerSubscription:
    [found] = [s async for s in cm.iter_subscriptions(customer) if s.external_id == opp]
    return found


async def _account(gateway: SalesforceGateway, account: str) -> dict[str, Any]:
    path = f"sobjects/Account/{account}"
    return dict(await gateway.restful(path, params={"fields": ACCOUNT_FIELDS}))


def _open_quarantine(world: World) -> dict[str, Any]:
    store = Store.open(world.settings.store.path)
    try:
        with store.transaction() as tx:
            return {q.record_key: q for q in tx.queries.quarantine(QuarantineStatus.OPEN)}
    finally:
        store.close()


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


async def test_the_first_pass_leaves_history_alone_and_backfills_recent_new_deals(
    world: World, baseline: ClosedWonStats, cm: ChartMogulClient
) -> None:
    assert baseline.read > 0 and baseline.history > 0
    assert baseline.quarantined == 0
    # Every deal imported came from an Account ChartMogul did not know: none is doubled.
    known = {c["uuid"] for c in world.scenario["customers"].values()}
    invoices = [
        i
        async for p in cm.invoice_pages(data_source_uuid=world.data_source_uuid)
        for i in p.entries
    ]
    imported = [i for i in invoices if (i.external_id or "").startswith("006")]  # Opp Ids
    assert len(imported) == baseline.imported
    assert not {i.customer_uuid for i in imported} & known


async def test_a_won_deal_round_trips_to_mrr_on_its_account(
    world: World, baseline: ClosedWonStats, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account = await _fresh_account(gateway, "Round Trip GmbH")
    opportunity = await _win(gateway, account, 12_000.0)

    stats = await _pass(world.settings)
    assert (stats.imported, stats.customers_created, stats.quarantined) == (1, 1, 0)

    [customer] = await _customers(cm, account, world.data_source_uuid)
    assert (customer.name, customer.email, customer.country) == (
        "Round Trip GmbH", "primary@round-trip-gmbh.example", "DE"
    )  # fmt: skip
    [invoice] = await _invoices(cm, opportunity)
    assert invoice.customer_uuid == customer.uuid
    subscription = await _subscription(cm, customer.uuid, opportunity)
    assert subscription.mrr == 100_000  # Amount / 12, in cents
    assert subscription.start_date is not None
    assert subscription.start_date.date() == _today()
    [activity] = [
        a
        async for page in cm.activity_pages(start_date=_today().isoformat())
        for a in page.entries
        if a.customer_uuid == customer.uuid
    ]
    assert (activity.type, activity.activity_mrr, activity.subscription_external_id) == (
        "new_biz", 100_000, opportunity
    )  # fmt: skip

    await _pass(world.settings)  # the pass after: the customer's MRR comes back to Salesforce
    fields = await _account(gateway, account)
    assert fields["CM_Customer_UUID__c"] == customer.uuid
    assert fields["CM_URL__c"] == customer.chartmogul_url
    assert fields["CM_MRR__c"] == activity.activity_mrr / 100


@pytest.mark.parametrize(
    ("website", "copied"),
    [("javascript:alert(1)", None), ("data:text/html,<b>x</b>", None),
     ("https://web-address.example", "https://web-address.example")],
)  # fmt: skip
async def test_only_a_web_address_crosses_to_chartmogul(
    world: World, baseline: ClosedWonStats, gateway: SalesforceGateway, cm: ChartMogulClient,
    website: str, copied: str | None,
) -> None:  # fmt: skip
    account = await _fresh_account(gateway, f"Website {website[:4]} {len(website)} Ltd")
    await gateway.restful(f"sobjects/Account/{account}", method="PATCH", json={"Website": website})
    await _win(gateway, account, 1_200.0)

    stats = await _pass(world.settings)
    assert (stats.imported, stats.customers_created, stats.quarantined) == (1, 1, 0)
    [customer] = await _customers(cm, account, world.data_source_uuid)
    assert customer.website_url == copied
    stored = world.sandbox.chartmogul.store.registry.customers[customer.uuid]
    assert stored.website_url == copied


async def test_rerunning_or_editing_the_amount_creates_nothing_new(
    world: World, baseline: ClosedWonStats, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account = await _fresh_account(gateway, "Twice Ltd")
    opportunity = await _win(gateway, account, 6_000.0)
    assert (await _pass(world.settings)).imported == 1
    creates = world.chartmogul_creates()

    again = await _pass(world.settings)
    assert (again.imported, again.customers_created) == (0, 0)

    await gateway.restful(
        f"sobjects/Opportunity/{opportunity}", method="PATCH", json={"Amount": 9_000.0}
    )
    edited = await _pass(world.settings)
    assert (edited.read, edited.already_imported, edited.imported) == (1, 1, 0)
    assert edited.amount_changed == 1
    assert any(opportunity in note and "not re-imported" in note for note in edited.notes)

    assert world.chartmogul_creates() == creates
    [customer] = await _customers(cm, account, world.data_source_uuid)
    assert len(await _invoices(cm, opportunity)) == 1
    assert (await _subscription(cm, customer.uuid, opportunity)).mrr == 50_000


async def test_a_run_that_died_before_its_commit_is_finished_without_a_second_import(
    world: World,
    baseline: ClosedWonStats,
    gateway: SalesforceGateway,
    cm: ChartMogulClient,
    tmp_path: Path,
) -> None:
    account = await _fresh_account(gateway, "Half Way BV")
    opportunity = await _win(gateway, account, 2_400.0)
    # A run whose store writes were lost: ChartMogul has the customer and the invoice, the
    # store has neither the link nor the cursor (it ran against a store that is gone).
    lost = world.settings.model_copy(
        update={"store": world.settings.store.model_copy(update={"path": tmp_path / "lost.db"})}
    )
    assert (await _poll(lost)).imported == 1
    creates = world.chartmogul_creates()

    stats = await _pass(world.settings)
    assert (stats.already_imported, stats.imported, stats.customers_created) == (1, 0, 0)
    assert world.chartmogul_creates() == creates
    [customer] = await _customers(cm, account, world.data_source_uuid)
    assert len(await _invoices(cm, opportunity)) == 1
    await _pass(world.settings)
    assert (await _account(gateway, account))["CM_Customer_UUID__c"] == customer.uuid


async def test_a_linked_account_gets_the_subscription_on_its_customer(
    world: World, baseline: ClosedWonStats, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    key, linked = next(
        (k, c) for k, c in world.scenario["customers"].items() if c["link"] == "linked"
    )
    account = world.scenario["accounts"][linked["account"]]["id"]
    before = await cm.get_customer(linked["uuid"])
    opportunity = await _win(gateway, account, 3_600.0, Type="Existing Customer - Upgrade")

    stats = await _pass(world.settings)
    assert (stats.imported, stats.customers_created) == (1, 0), key
    [invoice] = await _invoices(cm, opportunity)
    assert invoice.customer_uuid == linked["uuid"]
    assert await _customers(cm, account, world.data_source_uuid) == []  # no second customer
    assert (await _subscription(cm, linked["uuid"], opportunity)).mrr == 30_000
    assert (await cm.get_customer(linked["uuid"])).mrr == before.mrr + 30_000

    # Its expansion comes back as a Closed Won Opportunity written by cmsync (a sync key):
    # ChartMogul's own movement, never imported as one more subscription.
    expansions = await gateway.query(
        soql(
            "SELECT Id FROM Opportunity WHERE AccountId = {account} AND CM_Sync_Key__c != null",
            account=account,
        )
    )
    assert expansions["totalSize"] >= 1
    assert (await _pass(world.settings)).imported == 0
    assert (await cm.get_customer(linked["uuid"])).mrr == before.mrr + 30_000


async def test_a_customer_known_by_the_contact_email_is_used_not_doubled(
    world: World, baseline: ClosedWonStats, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    ds = world.data_source_uuid
    known = await cm.create_customer(
        NewCustomer(data_source_uuid=ds, external_id="billing-known", name="Known",
                    email="primary@known-email-ag.example")
    )  # fmt: skip
    # A customer whose email is on Contacts of two Accounts: whose it is cannot be known.
    await cm.create_customer(
        NewCustomer(data_source_uuid=ds, external_id="billing-twin", name="Twin",
                    email="primary@twin-email-ag.example")
    )  # fmt: skip
    account = await _fresh_account(gateway, "Known Email AG")
    twin_account = await _fresh_account(gateway, "Twin Email AG")
    other = await _create(gateway, "Account", {"Name": "Twin Email Holding"})
    await _create(gateway, "Contact", {"LastName": "Twin", "AccountId": other,
                                       "Email": "primary@twin-email-ag.example"})  # fmt: skip
    opportunity = await _win(gateway, account, 1_200.0)
    twin_deal = await _win(gateway, twin_account, 1_200.0)

    stats = await _pass(world.settings)
    assert (stats.imported, stats.customers_created, stats.quarantined) == (1, 0, 1)
    [invoice] = await _invoices(cm, opportunity)
    assert invoice.customer_uuid == known.uuid
    assert await _customers(cm, account, ds) == []
    assert "does not guess" in _open_quarantine(world)[twin_deal].reason
    assert await _customers(cm, twin_account, ds) == []
    await _pass(world.settings)
    assert (await _account(gateway, account))["CM_Customer_UUID__c"] == known.uuid


async def test_bad_deals_are_quarantined_and_the_cursor_moves_on(
    world: World, baseline: ClosedWonStats, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account = await _fresh_account(gateway, "Bad Deals SA")
    no_amount = await _win(gateway, account, None)
    negative = await _win(gateway, account, -100.0)
    no_account = await _win(gateway, None, 1_200.0)

    stats = await _pass(world.settings)
    assert (stats.quarantined, stats.imported) == (3, 0)
    quarantined = _open_quarantine(world)
    reasons = {opp: quarantined[opp].reason for opp in (no_amount, negative, no_account)}
    assert "no Amount" in reasons[no_amount]
    assert "must be positive" in reasons[negative]
    assert "no Account" in reasons[no_account]
    for opp in reasons:
        entry = quarantined[opp]
        assert (entry.kind, entry.source) == (QuarantineKind.BAD_RECORD, System.SALESFORCE)
    assert await _customers(cm, account, world.data_source_uuid) == []

    assert (await _pass(world.settings)).read == 0  # read once, not on every pass

    await gateway.restful(
        f"sobjects/Opportunity/{no_amount}", method="PATCH", json={"Amount": 1_200.0}
    )
    fixed = await _pass(world.settings)  # fixed at the source: read again, imported
    assert (fixed.read, fixed.imported) == (1, 1)
    assert len(await _invoices(cm, no_amount)) == 1


async def test_a_dry_run_writes_nothing_and_lists_what_it_would_create(
    world: World, baseline: ClosedWonStats, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    settings = world.settings.model_copy(
        update={
            "closed_won": ClosedWonSettings(
                plan_by_type={"New Customer": "cmsync_quarterly"},
                create_plans={"cmsync_quarterly": QUARTERLY},
            )
        }
    )
    account = await _fresh_account(gateway, "Dry Run Oy")
    opportunity = await _win(gateway, account, 12_000.0)
    store_before = _dump(world.settings.store.path)
    creates = world.chartmogul_creates()

    plan = await _poll(settings, dry_run=True)
    assert plan.dry_run and (plan.imported, plan.customers_created, plan.plans_created) == (1, 1, 1)
    assert world.chartmogul_creates() == creates
    assert _dump(world.settings.store.path) == store_before
    assert await _customers(cm, account, world.data_source_uuid) == []
    lines = "\n".join(plan.planned)
    assert f"create customer 'Dry Run Oy' (external id {account}" in lines
    assert "create plan 'cmsync_quarterly' ('Quarterly contract', billed every 3 months)" in lines
    assert f"import invoice {opportunity} into new customer 'Dry Run Oy': 3000.00 USD" in lines
    assert plan.describe().startswith("dry run, nothing written:")

    done = await _pass(settings)  # the real run does what the dry run said
    assert (done.imported, done.customers_created, done.plans_created) == (1, 1, 1)
    [customer] = await _customers(cm, account, world.data_source_uuid)
    assert (await _subscription(cm, customer.uuid, opportunity)).mrr == 100_000
