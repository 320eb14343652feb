"""Closed-Won decided from reads by the page, exactly as from reads per deal; and what it costs.

A seeded sandbox gets one deal of every kind the poll tells apart (a new customer; a customer
found by its external id; one found only through ``external_ids`` after a merge; no Account;
an Account already linked; an email two customers share; two deals of one Account on a page;
a zero and a negative Amount; a deal imported by a run whose store was lost). The poll then
decides them twice over the same services, against two copies of the same store: once as
cmsync does (the deals' Contact emails by IN lists, their customers from one listing), once
through ``PerDeal``, the one-at-a-time lookups it replaced (a customer read, an external id
search and an email search per deal, and an invoice read for every deal). Every deal's
decision (the effect with its customer and how it is linked, the link made, the quarantine
entry and its reason) must be the same, while the page reads cost a listing instead of
requests per deal. A third time, the customers come from the customer sweep's listing (what
``cmsync once`` hands the Closed-Won step after its sweep): the same decisions, and no
customer listed by the poll at all. Then the effects are sent side by side: one customer
create per new customer, one import per deal, and no read per deal.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from cmsync.chartmogul import connect
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.errors import ChartMogulNotFoundError
from cmsync.chartmogul.records import Customer
from cmsync.chartmogul.writes import NewCustomer
from cmsync.config import Settings, load_settings
from cmsync.pipeline.closed_won.effect import IMPORT_DEAL
from cmsync.pipeline.closed_won.lookups import CustomerLookups, ListedCustomers, primary_emails
from cmsync.pipeline.closed_won.poll import CURSOR, ClosedWonStats, poll_closed_won
from cmsync.pipeline.context import load_context
from cmsync.pipeline.dispatch.closed_won_send import ChartMogulExecutor
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.streams.customers import Listing
from cmsync.pipeline.translate import Translator
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import soql
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from cmsync.storeio import in_store
from state import QuarantineStatus, Store, System, Transaction
from tests.support.drive import step_outcome


class PerDeal:
    """The one-at-a-time lookups the page reads replaced: the reference they must equal."""

    def __init__(self, chartmogul: ChartMogulClient) -> None:
        self.chartmogul = chartmogul

    async def read(self, **_: Any) -> None:
        return None  # nothing read ahead: every question is a request

    async def by_uuid(self, uuid: str) -> Customer | None:
        try:
            return await self.chartmogul.get_customer(uuid)
        except ChartMogulNotFoundError:
            return None

    async def by_external_id(self, external_id: str, data_source_uuid: str) -> Customer | None:
        return await self.chartmogul.find_customer(external_id, data_source_uuid)

    async def by_email(self, email: str) -> list[Customer]:
        return await self.chartmogul.search_customers(email)


@dataclass
class World:
    sandbox: RunningSandbox
    settings: Settings
    scenario: dict[str, Any]

    @property
    def ds(self) -> str:
        assert self.settings.chartmogul.data_source_uuid is not None
        return self.settings.chartmogul.data_source_uuid

    def on(self, store: Path) -> Settings:
        return self.settings.model_copy(
            update={"store": self.settings.store.model_copy(update={"path": store})}
        )

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Requests since the last reset: ChartMogul's and Salesforce's, by endpoint."""
        return (
            dict(self.sandbox.chartmogul.stats.by_endpoint),
            dict(self.sandbox.salesforce.stats.by_endpoint),
        )

    def reset(self) -> None:
        self.sandbox.chartmogul.stats.reset()
        self.sandbox.salesforce.stats.reset()


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("closed-won-by-page")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=30, seed=21))
    )
    settings = load_settings(directory / "cmsync.toml")
    scenario = json.loads((directory / "scenario.json").read_text())
    try:
        world = World(running, settings, scenario)
        # The first pass links the seeded customers and starts the poller's era.
        asyncio.run(step_outcome(settings, "closed_won", ClosedWonStats))
        yield world
    finally:
        sandbox_loop.call(running.stop())


async def _create(gateway: SalesforceGateway, sobject: str, fields: dict[str, Any]) -> str:
    return str((await gateway.restful(f"sobjects/{sobject}", method="POST", json=fields))["id"])


async def _account(gateway: SalesforceGateway, name: str, email: str | None = None) -> str:
    account = await _create(gateway, "Account", {"Name": name, "BillingCountry": "DE"})
    slug = name.lower().replace(" ", "-")
    await _create(gateway, "Contact", {"LastName": "Primary", "AccountId": account,
                                       "Email": email or f"primary@{slug}.example"})  # fmt: skip
    return account


async def _win(gateway: SalesforceGateway, account: str | None, amount: float | None) -> str:
    body = {"Name": "Deal", "StageName": "Prospecting", "AccountId": account, "Amount": amount,
            "CloseDate": date.today().isoformat(), "Type": "New Customer"}  # fmt: skip
    opportunity = await _create(
        gateway, "Opportunity", {k: v for k, v in body.items() if v is not None}
    )
    await gateway.restful(
        f"sobjects/Opportunity/{opportunity}", method="PATCH", json={"StageName": "Closed Won"}
    )
    return opportunity


async def _customer(cm: ChartMogulClient, ds: str, external_id: str, email: str) -> str:
    made = await cm.create_customer(
        NewCustomer(data_source_uuid=ds, external_id=external_id, name=external_id, email=email)
    )
    return made.uuid


class SmallPages(SalesforceGateway):
    """Salesforce answering the won deals' query two records a page (REST API Developer
    Guide, "Query Options Header", developer.salesforce.com/docs/atlas.en-us.api_rest.meta/
    api_rest/headers_queryoptions.htm: "There is no guarantee that the requested batch size
    is the actual batch size"), the rest as it answers; and what the store's cursor held each
    time the poll asked for the next page of deals."""

    def __init__(self, settings: Settings, store: Store) -> None:
        super().__init__(settings.salesforce)
        self.store = store
        self.cursors: list[str | None] = []

    async def query_pages(
        self, soql: str, *, include_deleted: bool = False
    ) -> AsyncIterator[list[dict[str, Any]]]:
        won = "FROM Opportunity" in soql and "IsWon = true" in soql
        async for page in super().query_pages(soql, include_deleted=include_deleted):
            for start in range(0, len(page), 2 if won else max(1, len(page))):
                if won:
                    self.cursors.append(
                        await in_store(self.store, lambda tx: tx.cursors.get(CURSOR))
                    )
                yield page[start : start + 2] if won else page


async def _poll(
    settings: Settings,
    lookups: str = "listing",
    world: World | None = None,
    *,
    chunk_deals: int | None = None,
) -> ClosedWonStats:
    """The Closed-Won poll alone (it only decides: its effects wait in the outbox); the
    world's request counts start after the org is loaded. With ``chunk_deals``, the deals
    come two a page (``SmallPages``) and are decided that many at a time."""
    store = Store.open(settings.store.path)
    gateway = (
        SalesforceGateway(settings.salesforce)
        if chunk_deals is None
        else SmallPages(settings, store)
    )
    try:
        async with connect(settings.chartmogul) as chartmogul:
            context = await load_context(gateway, chartmogul, settings.fields)
            translator = Translator(settings.fields, settings.sync, context.plan_names)
            poll = PollContext(settings, store, chartmogul, gateway, context, translator)
            chosen: CustomerLookups | None = None
            if lookups == "per deal":
                chosen = PerDeal(chartmogul)
            elif lookups == "swept":  # listed by the sweep before the step, as in a pass
                swept = Listing(everyone=True)
                async for page in chartmogul.customer_pages():
                    swept.add(page.entries, page.rejected)
                chosen = ListedCustomers(chartmogul, swept)
            if world is not None:
                world.reset()
            if chunk_deals is None:
                return await poll_closed_won(poll, now=datetime.now(UTC), lookups=chosen)
            stats = await poll_closed_won(
                poll, now=datetime.now(UTC), lookups=chosen, chunk_deals=chunk_deals
            )
            assert isinstance(gateway, SmallPages)
            _CURSORS[settings.store.path] = gateway.cursors
            return stats
    finally:
        await gateway.close()
        store.close()


async def _send(settings: Settings) -> None:
    store = Store.open(settings.store.path)
    try:
        async with connect(settings.chartmogul) as chartmogul:
            translator = Translator(settings.fields, settings.sync)
            executor = ChartMogulExecutor(
                store, chartmogul, settings, translator, clock=lambda: datetime.now(UTC)
            )
            await executor.drain()
    finally:
        store.close()


_CURSORS: dict[Path, list[str | None]] = {}  # each chunked poll's cursors, page by page


def _copy(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    dst.close()
    src.close()


def _decisions(path: Path, deals: list[str], accounts: list[str]) -> dict[str, Any]:
    """Each deal's decision as the store holds it, by Opportunity Id, and the links made."""
    store = Store.open(path)
    try:
        with store.transaction() as tx:
            return _read_decisions(tx, deals, accounts)
    finally:
        store.close()


def _read_decisions(tx: Transaction, deals: list[str], accounts: list[str]) -> dict[str, Any]:
    rows = tx.outbox.pending(target_system=System.CHARTMOGUL, target_keys=deals)
    quarantined = {
        q.record_key: q.reason
        for q in tx.queries.quarantine(QuarantineStatus.OPEN)
        if q.record_key in deals
    }
    decided: dict[str, Any] = {}
    for row in rows:
        assert row.kind == IMPORT_DEAL
        payload = dict(row.payload)
        holder = payload["holder"]
        decided[row.target_key] = (
            "import",
            None if holder is None else (holder["uuid"], holder["link_by"], holder["stale"]),
            payload["email"],
            payload["plan"]["key"],
        )
    for opportunity, reason in quarantined.items():
        decided.setdefault(opportunity, ("quarantined", reason))
    links = tx.links.by_accounts(accounts)
    decided["links"] = {
        a: (link.customer_uuid, link.matched_by.value) for a, link in sorted(links.items())
    }
    decided["updates"] = sorted(
        (r.target_key, r.idempotency_key)
        for r in tx.outbox.pending(target_system=System.SALESFORCE, target_keys=accounts)
    )
    return decided


def _sum(counts: dict[str, int], method: str, part: str) -> int:
    return sum(n for key, n in counts.items() if key.startswith(f"{method} ") and part in key)


async def test_page_reads_decide_every_deal_as_per_deal_reads_did_and_cost_pages_not_deals(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient, tmp_path: Path
) -> None:
    ds = world.ds
    # Imported by a run whose store was lost (a crash before its commit, a restored backup):
    # read again with the others, it is found imported, not imported twice.
    lost = await _account(gateway, "Page Lost Store Oy")
    deals = {"imported": await _win(gateway, lost, 1_800.0)}
    lost_store = world.on(tmp_path / "lost.db")
    await _poll(lost_store)
    await _send(lost_store)
    # A new customer (two deals of its Account on the page: the second finds the first's).
    new = await _account(gateway, "Page New GmbH")
    deals["new"] = await _win(gateway, new, 1_200.0)
    deals["new again"] = await _win(gateway, new, 600.0)
    # A customer with the Account Id as its external id, not linked yet.
    by_external = await _account(gateway, "Page External AG")
    found = await _customer(cm, ds, by_external, "billing@page-external.example")
    deals["external id"] = await _win(gateway, by_external, 2_400.0)
    # A customer carrying the Account Id only since another was merged into it.
    merged = await _account(gateway, "Page Merged BV")
    loser = await _customer(cm, ds, merged, "old@page-merged.example")
    survivor = await _customer(cm, ds, "billing-page-survivor", "new@page-merged.example")
    body = {"from": {"customer_uuid": loser}, "into": {"customer_uuid": survivor}}
    await cm.transport.request("POST", "/customers/merges", json=body)
    deals["external_ids"] = await _win(gateway, merged, 3_600.0)
    # An Account whose Contact's email two customers have: for an operator.
    twin = await _account(gateway, "Page Twin SA", "twins@page-twin.example")
    await _customer(cm, ds, "billing-twin-1", "twins@page-twin.example")
    await _customer(cm, ds, "billing-twin-2", "Twins@page-twin.example")
    deals["ambiguous"] = await _win(gateway, twin, 1_200.0)
    # An Account linked already (a seeded customer), no Account, a zero and a negative Amount.
    linked = next(c for c in world.scenario["customers"].values() if c["link"] == "linked")
    linked_account = world.scenario["accounts"][linked["account"]]["id"]
    deals["linked"] = await _win(gateway, linked_account, 4_800.0)
    deals["no account"] = await _win(gateway, None, 1_200.0)
    bad = await _account(gateway, "Page Bad Amounts SRL")
    deals["zero"] = await _win(gateway, bad, 0.0)
    deals["negative"] = await _win(gateway, bad, -50.0)
    accounts = [new, by_external, merged, twin, linked_account, bad, lost]

    listed_db, per_deal_db = tmp_path / "listed.db", tmp_path / "per-deal.db"
    swept_db = tmp_path / "swept.db"
    for copy in (listed_db, per_deal_db, swept_db):
        _copy(world.settings.store.path, copy)

    pages = len([page async for page in cm.customer_pages()])
    # The setup's burst of requests behind it: a request the emulator throttles (429 above 40
    # a second) is sent again by the client, and would count twice.
    await asyncio.sleep(1.1)
    listed = await _poll(world.on(listed_db), world=world)
    by_page = world.counts()
    reference = await _poll(world.on(per_deal_db), "per deal", world)
    by_deal = world.counts()
    swept = await _poll(world.on(swept_db), "swept", world)
    by_sweep = world.counts()

    ids = list(deals.values())
    decided = _decisions(listed_db, ids, accounts)
    assert decided == _decisions(per_deal_db, ids, accounts)
    assert decided == _decisions(swept_db, ids, accounts)
    counted = [
        (stats.read, stats.queued, stats.quarantined, stats.already_imported)
        for stats in (listed, reference, swept)
    ]
    assert counted[0] == counted[1] == counted[2]
    # From the sweep's listing: no customer listed, searched or read; the rest as by page.
    assert _sum(by_sweep[0], "GET", "/v1/customers") == 0
    unlisted = {k: v for k, v in by_page[0].items() if v and k != "GET /v1/customers"}
    assert {k: v for k, v in by_sweep[0].items() if v} == unlisted
    assert {k: v for k, v in by_sweep[1].items() if v} == {k: v for k, v in by_page[1].items() if v}
    # What was decided is what each kind calls for.
    assert decided[deals["new"]][:2] == ("import", None)
    assert decided[deals["new again"]][:2] == ("import", None)
    assert decided[deals["external id"]][1] == (found, "external_id", None)
    assert decided[deals["external_ids"]][1] == (survivor, "external_id", None)
    assert decided[deals["linked"]][1] == (linked["uuid"], None, None)
    assert "does not guess" in decided[deals["ambiguous"]][1]
    assert "no Account" in decided[deals["no account"]][1]
    assert "must be positive" in decided[deals["zero"]][1]
    assert "must be positive" in decided[deals["negative"]][1]
    assert deals["imported"] not in decided and listed.already_imported == 1
    assert decided["links"][lost][1] == "external_id"  # linked as its lost run chose

    # The batched Contact emails are the ones the per-Account query finds.
    for account in accounts:
        query = soql(
            "SELECT Email FROM Contact WHERE AccountId = {account} AND Email != null "
            "ORDER BY CreatedDate ASC, Id ASC LIMIT 1",
            account=account,
        )
        records = (await gateway.query(query)).get("records", [])
        first = str(records[0]["Email"]) if records else None
        assert (await primary_emails(gateway, [account]))[account] == first

    # The cost: pages, not deals.
    assert by_page[0].get("GET /v1/customers") == pages  # one listing
    assert _sum(by_page[0], "GET", "/v1/customers/") == 0  # no search, no read by uuid
    # An invoice read only for a deal whose Account a customer names (or that has none).
    assert _sum(by_page[0], "GET", "/v1/invoices") == 6
    # The Opportunities, the Contact emails of every deal's Account, the unwound deals.
    assert _sum(by_page[1], "GET", "/query") == 3
    assert _sum(by_deal[0], "GET", "/v1/customers/search") >= 2  # one per deal to match
    assert _sum(by_deal[0], "GET", "/v1/invoices") >= len(deals) - 1  # every deal with an Id

    # Sent side by side: a create per new customer, an import per deal, nothing read per deal.
    # The polls' requests must not share the emulator's second with the sends' (a throttled
    # POST, 429 above 40 a second, is sent again and counted twice).
    await asyncio.sleep(1.1)
    world.reset()
    await _send(world.on(listed_db))
    sent, _ = world.counts()
    statuses = dict(world.sandbox.chartmogul.stats.by_status)
    assert _sum(sent, "POST", "/v1/customers") == 1, (sent, statuses)  # one for its two deals
    assert _sum(sent, "POST", "/v1/import/") == listed.queued
    assert _sum(sent, "GET", "/v1/invoices") == 0
    assert _sum(sent, "GET", "/v1/customers") == 0
    assert _sum(sent, "GET", "/v1/plans") <= 1  # the plan found once for the drain


async def test_deals_decided_chunk_by_chunk_as_in_one_chunk_each_page_committed_listing_once(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient, tmp_path: Path
) -> None:
    """More deals than a chunk holds: the poll decides them chunk by chunk (the memory of a
    chunk, not of the window), exactly as in one chunk, commits each page's watermark before
    it reads the pages after its chunk, and lists the customers once for all its chunks."""
    ds = world.ds
    deals: dict[str, str] = {}
    accounts: list[str] = []
    for n in range(3):  # a new customer each
        account = await _account(gateway, f"Chunk New {n} GmbH")
        deals[f"new {n}"] = await _win(gateway, account, 1_000.0 + n)
        accounts.append(account)
    found = await _account(gateway, "Chunk External AG")
    customer = await _customer(cm, ds, found, "billing@chunk-external.example")
    deals["external id"] = await _win(gateway, found, 2_400.0)
    deals["external id again"] = await _win(gateway, found, 1_200.0)  # the run's holder
    twin = await _account(gateway, "Chunk Twin SA", "twins@chunk-twin.example")
    await _customer(cm, ds, "billing-chunk-twin-1", "twins@chunk-twin.example")
    await _customer(cm, ds, "billing-chunk-twin-2", "TWINS@chunk-twin.example")
    deals["ambiguous"] = await _win(gateway, twin, 1_200.0)
    deals["zero"] = await _win(gateway, twin, 0.0)
    accounts += [found, twin]

    one_db, chunked_db = tmp_path / "one.db", tmp_path / "chunked.db"
    for copy in (one_db, chunked_db):
        _copy(world.settings.store.path, copy)
    pages = len([page async for page in cm.customer_pages()])
    await asyncio.sleep(1.1)  # the setup's requests in an emulator second of their own
    whole = await _poll(world.on(one_db), world=world, chunk_deals=1_000_000)
    await asyncio.sleep(1.1)
    chunked = await _poll(world.on(chunked_db), world=world, chunk_deals=1)
    by_chunk = world.counts()

    ids = list(deals.values())
    decided = _decisions(chunked_db, ids, accounts)
    assert decided == _decisions(one_db, ids, accounts)
    assert all(opportunity in decided for opportunity in ids)  # every deal decided
    assert decided[deals["external id"]][1] == (customer, "external_id", None)
    assert decided[deals["external id again"]][1] == (customer, "external_id", None)
    assert "does not guess" in decided[deals["ambiguous"]][1]
    counted = [(s.read, s.queued, s.quarantined, s.already_imported) for s in (whole, chunked)]
    assert counted[0] == counted[1] and chunked.read >= len(deals)
    # One customer listing for all the chunks; no customer searched or read by itself.
    assert by_chunk[0].get("GET /v1/customers") == pages
    assert _sum(by_chunk[0], "GET", "/v1/customers/") == 0

    # Two deals a page, a chunk as soon as a page holds a new deal: each page committed with
    # its watermark before the next page is read (seven new deals: at least four pages, the
    # cursor moved before each page after one of them). In one chunk, nothing is committed
    # before every page is read.
    one, by_chunks = _CURSORS[one_db], _CURSORS[chunked_db]
    assert len(one) == len(by_chunks) and len(set(one)) == 1
    assert by_chunks[0] == one[0]
    moved = [i for i in range(1, len(by_chunks)) if by_chunks[i] != by_chunks[i - 1]]
    assert len(moved) >= 3, (moved, len(by_chunks))
    store = Store.open(chunked_db)
    try:
        final = await in_store(store, lambda tx: tx.cursors.get(CURSOR))
    finally:
        store.close()
    assert final is not None and final != by_chunks[-1]  # the last page's, at the end
