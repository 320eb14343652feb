"""ChartMogul customers merged or deleted, and no read-after-write after a Closed-Won import:
cmsync's passes against a seeded sandbox, over real sockets.

ChartMogul processes imported data "within a few minutes" (help article 360002155580): read
right after a Closed-Won import, a new customer still shows MRR 0 and a lead status. So the
Closed-Won step writes no figures at all (only the customer's UUID and URL), and the figures
come with the next sweep. Merges (``POST /v1/customers/merges``) make the merged customer 404
and put its external ids on the survivor; deletes (``DELETE /v1/customers/{uuid}``, 204) make
it 404 too. cmsync moves an Account's link to the survivor, or drops it and clears the
Account's ChartMogul fields.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.writes import NewCustomer
from cmsync.config import Settings, load_settings
from cmsync.pipeline.closed_won.poll import ClosedWonStats
from cmsync.pipeline.once import run_once
from cmsync.pipeline.streams.activities import PollStats
from cmsync.pipeline.streams.customers import SweepStats
from cmsync.pipeline.sync_pass import PassReport
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import soql
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import Store
from tests.integration.test_closed_won import _account, _customers, _fresh_account, _poll, _win
from tests.support.drive import step_outcome


@dataclass
class World:
    sandbox: RunningSandbox
    settings: Settings

    @property
    def data_source_uuid(self) -> str:
        assert self.settings.chartmogul.data_source_uuid is not None
        return self.settings.chartmogul.data_source_uuid


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("customer-merges")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=12, seed=33))
    )
    settings = load_settings(directory / "cmsync.toml")
    try:
        yield World(running, settings)
    finally:
        sandbox_loop.call(running.stop())


@pytest.fixture(scope="module", autouse=True)
def baseline(world: World) -> None:
    """The first pass: it starts the Closed-Won poller and imports the seeded recent deals."""
    asyncio.run(step_outcome(world.settings, "customers", SweepStats))


async def _merge(cm: ChartMogulClient, loser: str, survivor: str) -> Any:
    """What an operator's merge sends (over the sandbox's sockets, as any client would)."""
    body = {"from": {"customer_uuid": loser}, "into": {"customer_uuid": survivor}}
    return await cm.transport.request("POST", "/customers/merges", json=body)


def _outcome(report: PassReport, name: str) -> object:
    step = report.step(name)
    assert step is not None, report.summary()
    return step.outcome


async def _sweep(world: World) -> SweepStats:
    """One whole pass; its customer sweep's stats."""
    return await step_outcome(world.settings, "customers", SweepStats)


def _rows_for(world: World, account: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{world.settings.store.path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT idempotency_key, payload FROM outbox WHERE target_key = ? ORDER BY id",
            (account,),
        ).fetchall()
    finally:
        conn.close()
    return [{"key": key, **json.loads(payload)} for key, payload in rows]


def _link_of(world: World, account: str) -> str | None:
    store = Store.open(world.settings.store.path)
    try:
        with store.transaction() as tx:
            link = tx.links.by_account(account)
            return None if link is None else link.customer_uuid
    finally:
        store.close()


async def _cmsync_records(gateway: SalesforceGateway, account: str) -> int:
    """Tasks, Cases and Opportunities cmsync created on the Account (they carry its key)."""
    total = 0
    for query in (
        "SELECT Id FROM Task WHERE WhatId = {account} AND CM_Sync_Key__c != null",
        "SELECT Id FROM Case WHERE AccountId = {account} AND CM_Sync_Key__c != null",
        "SELECT Id FROM Opportunity WHERE AccountId = {account} AND CM_Sync_Key__c != null",
    ):
        total += int((await gateway.query(soql(query, account=account)))["totalSize"])
    return total


async def _won_and_linked(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient, name: str
) -> tuple[str, str]:
    """A fresh Account with a won deal, imported and linked by a pass: (Account, customer)."""
    account = await _fresh_account(gateway, name)
    await _win(gateway, account, 12_000.0)
    imported = await step_outcome(world.settings, "closed_won", ClosedWonStats)
    assert imported.imported == 1
    [customer] = await _customers(cm, account, world.data_source_uuid)
    await _sweep(world)  # the figures arrive, and the link is in the store
    assert _link_of(world, account) == customer.uuid
    return account, customer.uuid


async def _unlinked_customer(world: World, cm: ChartMogulClient, key: str) -> str:
    """A customer no Account matches (its external id and email are nobody's)."""
    created = await cm.create_customer(
        NewCustomer(data_source_uuid=world.data_source_uuid, external_id=key, name=key,
                    email=f"{key}@nobody.example")
    )  # fmt: skip
    return created.uuid


async def test_a_closed_won_import_writes_no_figures_read_back(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account = await _fresh_account(gateway, "Read After Write AG")
    await _win(gateway, account, 12_000.0)

    stats = await _poll(world.settings)  # the Closed-Won step alone
    assert (stats.imported, stats.customers_created) == (1, 1)
    [customer] = await _customers(cm, account, world.data_source_uuid)
    [row] = _rows_for(world, account)
    # Only what the import itself settled: no figure read from the customer, which the real
    # service would still show at MRR 0 and as a lead right after the import.
    assert set(row) - {"key"} == {"CM_Customer_UUID__c", "CM_URL__c"}
    assert row["CM_Customer_UUID__c"] == customer.uuid

    await _sweep(world)  # the next pass's sweep brings them
    fields = await _account(gateway, account)
    assert (fields["CM_Customer_UUID__c"], fields["CM_MRR__c"]) == (customer.uuid, 1_000.0)


async def test_a_merge_moves_the_link_and_the_account_gets_the_survivor(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account, loser = await _won_and_linked(world, gateway, cm, "Merged Away GmbH")
    records = await _cmsync_records(gateway, account)
    survivor = await _unlinked_customer(world, cm, "billing-survivor")
    assert await _merge(cm, loser, survivor) == {}

    report = await run_once(world.settings)
    assert report.ok, report.summary()
    swept, polled = _outcome(report, "customers"), _outcome(report, "activities")
    assert isinstance(swept, SweepStats) and isinstance(polled, PollStats)
    assert (swept.gone, swept.followed, swept.dropped) == (1, 1, 0)
    assert _link_of(world, account) == survivor
    # The merged movements came back under the survivor with new uuids: read again, applied
    # already (their keys carried over to the survivor), nothing raised twice.
    assert polled.applied.replays >= 1 and polled.applied.effects == 0
    fields = await _account(gateway, account)
    assert (fields["CM_Customer_UUID__c"], fields["CM_MRR__c"]) == (survivor, 1_000.0)
    assert fields["CM_URL__c"] == (await cm.get_customer(survivor)).chartmogul_url

    again = await _sweep(world)
    assert (again.gone, again.followed, again.dropped) == (0, 0, 0)
    assert await _cmsync_records(gateway, account) == records


async def test_a_deal_for_an_account_whose_customer_was_merged_away_goes_to_the_survivor(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account, loser = await _won_and_linked(world, gateway, cm, "Second Deal Ltd")
    survivor = await _unlinked_customer(world, cm, "billing-second-deal")
    assert await _merge(cm, loser, survivor) == {}
    await _win(gateway, account, 6_000.0, Type="Existing Customer - Upgrade")

    stats = await _poll(world.settings)  # before any sweep noticed the merge
    assert (stats.imported, stats.customers_created, stats.quarantined) == (1, 0, 0)
    assert [c.uuid for c in await _customers(cm, account, world.data_source_uuid)] == [survivor]
    assert _link_of(world, account) == survivor
    assert (await cm.get_customer(survivor)).mrr == 100_000 + 50_000


async def test_a_deleted_customer_loses_its_link_and_the_account_its_figures(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account, gone = await _won_and_linked(world, gateway, cm, "Deleted Customer BV")
    assert (await _account(gateway, account))["CM_MRR__c"] == 1_000.0
    await cm.transport.request("DELETE", f"/customers/{gone}")

    swept = await _sweep(world)
    assert (swept.gone, swept.followed, swept.dropped) == (1, 0, 1)
    assert _link_of(world, account) is None
    fields = await _account(gateway, account)
    assert (fields["CM_Customer_UUID__c"], fields["CM_MRR__c"], fields["CM_URL__c"]) == (
        None, None, None
    )  # fmt: skip
    assert (await _sweep(world)).gone == 0  # said once


async def test_a_deal_for_an_account_whose_customer_was_deleted_gets_a_new_one(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account, gone = await _won_and_linked(world, gateway, cm, "Started Over SA")
    await cm.transport.request("DELETE", f"/customers/{gone}")
    await _win(gateway, account, 2_400.0, Type="Existing Customer - Upgrade")

    stats = await _poll(world.settings)  # before any sweep noticed the delete
    assert (stats.imported, stats.customers_created, stats.quarantined) == (1, 1, 0)
    [fresh] = await _customers(cm, account, world.data_source_uuid)
    assert fresh.uuid != gone and _link_of(world, account) == fresh.uuid
    assert (await _sweep(world)).gone == 0  # the link was replaced: nothing left to notice


async def test_an_unlinked_survivor_carrying_an_account_id_is_matched_by_it(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account = await _fresh_account(gateway, "Carried Over Oy")
    merged = await cm.create_customer(
        NewCustomer(data_source_uuid=world.data_source_uuid, external_id=account,
                    name="Carried Over Oy")
    )  # fmt: skip
    survivor = await _unlinked_customer(world, cm, "billing-carrier")
    assert await _merge(cm, merged.uuid, survivor) == {}  # before cmsync saw either

    swept = await _sweep(world)
    assert swept.gone == 0  # never linked: nothing to follow
    assert _link_of(world, account) == survivor  # matched by the Account Id it carries
    assert (await _account(gateway, account))["CM_Customer_UUID__c"] == survivor
