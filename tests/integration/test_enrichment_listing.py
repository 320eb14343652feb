"""Enrichment from what the pass already read decides every person as reading each one did.

A seeded sandbox, with every kind of person added: Contacts of a linked Account, several
Contacts sharing one customer's email, a converted Lead (its Contact written), a Lead not
converted that has a customer's email (never read), a Contact of an Account no customer is
linked to, customers with several subscriptions, none, a cancelled one, a free one, a
customer whose stored state lags its record, an email on two customers, an unknown email,
and a customer made between the sweep and enrichment in cmsync's data source (what the
Closed-Won step does). The pass runs as ``cmsync once`` does (``SyncPass`` steps), up to the
enrichment, whose outbox rows and quarantine are compared with what the one-at-a-time reads
give: each person searched for by email, each match's subscriptions and invoices read, then
the same pure ``person_figures`` and ``person_payload``. ChartMogul's requests during the
step are counted: none per person, one subscriptions read and one invoices read per customer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from cmsync.chartmogul import connect
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.writes import NewCustomer, NewInvoice, NewLineItem, NewPlan, NewTransaction
from cmsync.config import Settings, load_settings
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.streams.customers import Listing
from cmsync.pipeline.streams.enrich_figures import person_figures, person_payload
from cmsync.pipeline.streams.enrichment import (
    DIRECTORY_AFTER,
    LISTING_KEPT,
    EnrichmentStats,
    _Enricher,
    poll_enrichment,
)
from cmsync.pipeline.sync_pass import SyncPass
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import identifier, soql
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import QuarantineKind, QuarantineStatus, Store, System

DAY = timedelta(days=1)
Result = Literal["successful", "failed"]


@dataclass(frozen=True)
class Sub:
    """One subscription: its plan, monthly amount, start (days ago) and months invoiced."""

    plan: str
    cents: int
    days_ago: int
    months: int
    result: Result = "successful"


@dataclass
class Kinds:
    """The people added, by what makes them interesting."""

    lagging_uuid: str = ""
    lagging_contact: str = ""
    shared: list[str] = field(default_factory=list)  # Contacts sharing one email
    open_lead: str = ""
    converted_lead: str = ""
    late_contact: str = ""  # its customer made after the sweep


@dataclass
class World:
    sandbox: RunningSandbox
    settings: Settings
    kinds: Kinds
    directory: Path

    @property
    def ds(self) -> str:
        assert self.settings.chartmogul.data_source_uuid is not None
        return self.settings.chartmogul.data_source_uuid


async def _customer(
    cm: ChartMogulClient, ds: str, key: str, email: str, subs: tuple[Sub, ...]
) -> str:
    customer = await cm.create_customer(
        NewCustomer(data_source_uuid=ds, external_id=f"kind-{key}", name=key, email=email)
    )
    invoices: list[NewInvoice] = []
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for s, sub in enumerate(subs):
        plan = await cm.find_plan(sub.plan, ds)
        assert plan is not None
        for month in range(sub.months):
            start = now - timedelta(days=sub.days_ago - 30 * month)
            item = NewLineItem(
                subscription_external_id=f"{key}-s{s}", plan_uuid=plan.uuid,
                service_period_start=start, service_period_end=start + 30 * DAY,
                amount_in_cents=sub.cents, external_id=f"{key}-s{s}-m{month}",
            )  # fmt: skip
            paid = NewTransaction(date=start, result=sub.result, external_id=f"{key}-s{s}-t{month}")
            invoices.append(
                NewInvoice(external_id=f"{key}-s{s}-i{month}", date=start, currency="USD",
                           line_items=(item,), transactions=(paid,))
            )  # fmt: skip
    if invoices:
        await cm.import_invoices(customer.uuid, invoices)
    return customer.uuid


async def _create(gateway: SalesforceGateway, sobject: str, fields: dict[str, Any]) -> str:
    answer = await gateway.restful(f"sobjects/{sobject}", method="POST", json=fields)
    return str(answer["id"])


def _convert(sandbox: RunningSandbox, lead: str, contact: str) -> None:
    """What Salesforce's convertLead does to the Lead (the REST API cannot set these)."""
    sandbox.salesforce.store.update(
        "Lead",
        lead,
        {"IsConverted": True, "Status": "Closed - Converted",
         "ConvertedDate": datetime.now(UTC).date().isoformat(), "ConvertedContactId": contact},
    )  # fmt: skip


async def _populate(sandbox: RunningSandbox, settings: Settings) -> Kinds:
    ds = settings.chartmogul.data_source_uuid
    assert ds is not None
    kinds = Kinds()
    gateway = SalesforceGateway(settings.salesforce)
    try:
        async with connect(settings.chartmogul) as cm:
            for plan in ("kind_basic", "kind_pro", "kind_free"):
                await cm.create_plan(
                    NewPlan(data_source_uuid=ds, name=plan.replace("_", " ").title(),
                            interval_count=1, interval_unit="month", external_id=plan)
                )  # fmt: skip
            people = {
                "several": (Sub("kind_basic", 2_000, 70, 3), Sub("kind_pro", 9_000, 40, 2)),
                "none": (),
                "cancelled": (Sub("kind_pro", 5_000, 400, 2),),
                "free": (Sub("kind_free", 0, 50, 2),),
                "failed": (Sub("kind_basic", 3_000, 45, 2, "failed"),),
                "lagging": (Sub("kind_pro", 7_000, 20, 1),),
                "twin-a": (Sub("kind_basic", 1_000, 20, 1),),
                "twin-b": (),
            }
            uuids = {}
            for key, subs in people.items():
                email = "twin@kinds.example" if key.startswith("twin") else f"{key}@kinds.example"
                uuids[key] = await _customer(cm, ds, key, email, subs)
            kinds.lagging_uuid = uuids["lagging"]
            account = await _create(gateway, "Account", {"Name": "Kinds Unlinked Co"})
            for key in ("several", "none", "cancelled", "free", "failed", "twin-a"):
                email = "TWIN@kinds.example" if key == "twin-a" else f"{key}@kinds.example"
                await _create(gateway, "Contact", {"LastName": key, "Email": email})
            kinds.lagging_contact = await _create(
                gateway, "Contact", {"LastName": "lagging", "Email": "lagging@kinds.example"}
            )
            for n in range(3):  # one customer's email on three Contacts of one Account
                kinds.shared.append(
                    await _create(
                        gateway,
                        "Contact",
                        {
                            "LastName": f"shared{n}",
                            "Email": "several@kinds.example",
                            "AccountId": account,
                        },
                    )
                )
            await _create(gateway, "Contact", {"LastName": "x", "Email": "x@nowhere.example"})
            kinds.open_lead = await _create(
                gateway, "Lead",
                {"LastName": "Open", "Company": "Kinds", "Email": "free@kinds.example"},
            )  # fmt: skip
            kinds.converted_lead = await _create(
                gateway, "Lead",
                {"LastName": "Won", "Company": "Kinds", "Email": "cancelled@kinds.example"},
            )  # fmt: skip
            won = await _create(gateway, "Contact", {"LastName": "Won"})  # no email of its own
            _convert(sandbox, kinds.converted_lead, won)
            kinds.late_contact = await _create(
                gateway, "Contact", {"LastName": "late", "Email": "late@kinds.example"}
            )
    finally:
        await gateway.close()
    return kinds


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("enrich-listing")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=25, seed=21))
    )
    settings = load_settings(directory / "cmsync.toml")
    try:
        yield World(running, settings, asyncio.run(_populate(running, settings)), directory)
    finally:
        sandbox_loop.call(running.stop())


# --- the one-at-a-time reads, kept as the reference ------------------------------------


async def _one_at_a_time(
    world: World,
    gateway: SalesforceGateway,
    cm: ChartMogulClient,
    store: Store,
    plan_names: dict[str, str],
) -> tuple[set[tuple[str, str]], set[str]]:
    """(Contact Id, payload) for every update, and the people quarantined, reading ChartMogul
    once per person: a search by email, then the match's subscriptions and invoices, and its
    account state looked up alone."""
    fields = world.settings.fields.contact
    uuid = identifier(fields.customer_uuid)
    start = datetime.now(UTC) - timedelta(days=world.settings.enrichment.backfill_days)
    people: list[tuple[str, str, str]] = []  # (record read, record written, email)
    contacts = soql("SELECT Id, Email FROM Contact WHERE CreatedDate >= {s} AND ", s=start)
    async for page in gateway.query_pages(f"{contacts}{uuid} = null"):
        people += [(r["Id"], r["Id"], r.get("Email") or "") for r in page]
    leads = soql(
        "SELECT Id, Email, ConvertedContactId FROM Lead WHERE IsConverted = true AND "
        "ConvertedDate >= {d} AND ConvertedContactId != null AND ",
        d=start.date(),
    )
    async for page in gateway.query_pages(f"{leads}ConvertedContact.{uuid} = null"):
        people += [(r["Id"], r["ConvertedContactId"], r.get("Email") or "") for r in page]
    updates: set[tuple[str, str]] = set()
    ambiguous: set[str] = set()
    for read, written, email in people:
        if not email.strip():
            continue
        found = await cm.search_customers(email.strip())
        if len(found) > 1:
            ambiguous.add(read)
        if len(found) != 1:
            continue
        customer = found[0]
        subscriptions = [s async for s in cm.iter_subscriptions(customer.uuid)]
        invoices = [
            i async for p in cm.invoice_pages(customer_uuid=customer.uuid) for i in p.entries
        ]
        with store.transaction() as tx:
            state = tx.accounts.get(customer.uuid)
        figures = person_figures(customer, subscriptions, invoices, state, plan_names)
        payload = person_payload(figures, fields)
        updates.add((written, _canon(payload)))
    return updates, ambiguous


def _canon(payload: dict[str, Any]) -> str:
    return repr(sorted(payload.items()))


# --- the pass --------------------------------------------------------------------------


@dataclass
class Summed:
    stats: EnrichmentStats
    requests: dict[str, int]
    updates: set[tuple[str, str]]


@dataclass
class Enriched:
    stats: EnrichmentStats
    requests: dict[str, int]  # ChartMogul requests during the enrichment step, by endpoint
    updates: set[tuple[str, str]]
    payloads: dict[str, list[dict[str, Any]]]
    by_email: dict[str, dict[str, Any]]  # the payload written for each email matched
    quarantined: set[str]
    reference: tuple[set[tuple[str, str]], set[str]]
    summed: Summed


@pytest.fixture(scope="module")
def enriched(world: World) -> Enriched:
    return asyncio.run(_enrich(world))


async def _enrich(world: World) -> Enriched:
    settings, counter = world.settings, world.sandbox.chartmogul.stats.by_endpoint
    store = Store.open(settings.store.path)
    gateway = SalesforceGateway(settings.salesforce)
    try:
        async with connect(settings.chartmogul) as cm:
            sync = SyncPass(settings, store, cm, gateway, lambda: datetime.now(UTC))
            try:
                for step in ("load_context", "customers", "closed_won"):
                    assert (await sync.run_step(step)).ok, step
                # Made after the sweep in cmsync's data source, as Closed-Won makes them.
                await _customer(cm, world.ds, "late", "late@kinds.example",
                                (Sub("kind_basic", 4_000, 10, 1),))  # fmt: skip
                for step in ("activities", "late_activities"):  # as in a pass, before it
                    assert (await sync.run_step(step)).ok, step
                _lag(store, world.kinds.lagging_uuid)
                before = dict(counter)
                result = await sync.run_step("enrichment")
                requests = {k: v - before.get(k, 0) for k, v in counter.items()}
                assert result.ok and isinstance(result.outcome, EnrichmentStats)
                assert sync.context is not None
                names = sync.context.plan_names
                reference = await _one_at_a_time(world, gateway, cm, store, names)
                summed = await _summing_every_invoice(
                    world, PollContext(settings, store, cm, gateway, sync.context,
                                       sync.translator)
                )  # fmt: skip
            finally:
                await sync.close()
    finally:
        await gateway.close()
    try:
        with store.transaction() as tx:
            rows = [r for r in tx.outbox.pending() if r.idempotency_key.startswith("enrich|")]
            quarantined = {
                q.record_key
                for q in tx.queries.quarantine(QuarantineStatus.OPEN)
                if q.kind is QuarantineKind.AMBIGUOUS_MATCH and q.source is System.SALESFORCE
            }
    finally:
        store.close()
    payloads: dict[str, list[dict[str, Any]]] = {}
    by_email: dict[str, dict[str, Any]] = {}
    for row in rows:
        payloads.setdefault(row.target_key, []).append(dict(row.payload or {}))
        email = row.reason.split("with email ", 1)[1].split(";", 1)[0]
        by_email[email.casefold()] = dict(row.payload or {})
    return Enriched(
        result.outcome,
        {k: v for k, v in requests.items() if v},
        {(r.target_key, _canon(dict(r.payload or {}))) for r in rows},
        payloads,
        by_email,
        quarantined,
        reference,
        summed,
    )


def _lag(store: Store, uuid: str) -> None:
    """The stored state of "lagging" made older than its record (in the daemon, the feed not
    yet read since the customer changed), its plan and start kept."""
    with store.transaction() as tx:
        held = tx.accounts.get(uuid)
        assert held is not None and held.plan == "kind_pro"
        tx.accounts.put_many([replace(held, mrr_cents=1, status="Lead")])


async def _summing_every_invoice(world: World, shared: PollContext) -> Summed:
    """The same people again, in a store of its own, the invoices listed once and summed per
    customer (what a page of more than ``invoices_after`` customers to read does)."""
    counter = world.sandbox.chartmogul.stats.by_endpoint
    listing = Listing()
    async for page in shared.chartmogul.customer_pages():
        listing.add(page.entries, page.rejected)
    with shared.store.transaction() as tx:  # the account states the pass's feeds left
        states = [replace(state, revision=0) for state in tx.accounts.select()]
    with Store.open(world.directory / "summed.db") as store:
        with store.transaction() as tx:
            tx.accounts.put_many(states)
        poll = replace(shared, store=store)
        before = dict(counter)
        stats = await poll_enrichment(
            poll, now=datetime.now(UTC), listing=listing, invoices_after=0
        )
        requests = {k: v - before.get(k, 0) for k, v in counter.items()}
        with store.transaction() as tx:
            rows = [r for r in tx.outbox.pending() if r.idempotency_key.startswith("enrich|")]
    updates = {(r.target_key, _canon(dict(r.payload or {}))) for r in rows}
    return Summed(stats, {k: v for k, v in requests.items() if v}, updates)


def test_every_person_is_decided_as_reading_each_one_did(enriched: Enriched) -> None:
    updates, ambiguous = enriched.reference
    assert enriched.stats.matched >= 10 and enriched.stats.unmatched >= 1
    assert enriched.updates == updates
    assert enriched.quarantined == ambiguous and len(ambiguous) == 1


def test_invoices_listed_once_and_summed_give_the_same_lifetime_values(
    enriched: Enriched,
) -> None:
    summed = enriched.summed
    assert summed.updates == enriched.reference[0]
    customers, invoices = summed.stats.customers_read, summed.stats.invoices_listed
    assert customers >= 10 and invoices > customers
    reads = summed.stats.subscriptions_read
    assert summed.requests["GET /v1/customers/{uuid}/subscriptions"] == reads
    assert summed.requests["GET /v1/invoices"] == -(-invoices // 200)  # pages, not customers


def test_chartmogul_is_read_per_customer_never_per_person(enriched: Enriched) -> None:
    stats, requests = enriched.stats, enriched.requests
    assert stats.searches == 0 and "GET /v1/customers/search" not in requests
    # Each matched customer: one invoices read (a page each here); its subscriptions only
    # with no plan in its account state: the free plan's customer, no other.
    customers, reads = stats.customers_read, stats.subscriptions_read
    assert requests["GET /v1/invoices"] == customers
    assert requests.get("GET /v1/customers/{uuid}/subscriptions", 0) == reads == 1
    assert customers < stats.matched  # three Contacts shared one customer's read
    # The rest is the data source Closed-Won creates in, listed again: its pages only.
    pages = requests.get("GET /v1/customers", 0)
    assert 1 <= pages <= stats.listed // 200 + 1
    assert sum(requests.values()) == customers + reads + pages


def test_the_record_wins_over_a_stored_state_that_lags_it(world: World, enriched: Enriched) -> None:
    """MRR and status are the customer record's (as the sweep listed it), never a stored
    state's, which can be older; plan and start are the state's, as on the Account."""
    [payload] = enriched.payloads[world.kinds.lagging_contact]
    fields = world.settings.fields.contact
    assert (payload[fields.mrr], payload[fields.status]) == (70.0, "Active")
    started = (datetime.now(UTC) - 20 * DAY).date().isoformat()
    assert (payload[fields.plan], payload[fields.subscription_start]) == ("Kind Pro", started)


def test_a_person_shows_the_plan_and_start_its_account_shows(
    world: World, enriched: Enriched
) -> None:
    """The plan of the latest paid movement and the day the customer first paid, the
    Account's own Plan and Customer Since, not the main one of its subscriptions today: the
    customer of two subscriptions (basic from 70 days ago, pro from 40 days ago, both live)
    shows pro and the basic one's start; the free plan's, never paid, is read."""
    fields, by_email = world.settings.fields.contact, enriched.by_email
    several, free = by_email["several@kinds.example"], by_email["free@kinds.example"]
    day = lambda n: (datetime.now(UTC) - n * DAY).date().isoformat()  # noqa: E731
    assert (several[fields.plan], several[fields.subscription_start]) == ("Kind Pro", day(70))
    assert (free[fields.plan], free[fields.subscription_start]) == ("Kind Free", day(50))
    assert fields.plan not in by_email["none@kinds.example"]  # no subscription, none read


def test_what_each_kind_of_person_gets(world: World, enriched: Enriched) -> None:
    kinds, payloads = world.kinds, enriched.payloads
    shared = [payloads[c] for c in kinds.shared]
    assert shared[0] == shared[1] == shared[2] and len(shared[0]) == 1
    assert kinds.open_lead not in payloads and kinds.converted_lead not in payloads
    assert kinds.late_contact in payloads  # made since the sweep, in cmsync's data source


def test_customers_read_one_by_one_add_up_over_pages_to_one_invoice_listing(
    world: World, enriched: Enriched
) -> None:
    """Pages each under ``invoices_after`` customers still list every invoice once the run
    has read more than that one by one, never a read per customer for the rest."""
    emails = sorted(e for e in enriched.by_email if e.endswith("@kinds.example"))
    assert len(emails) >= 5
    counter = world.sandbox.chartmogul.stats.by_endpoint

    async def run() -> tuple[EnrichmentStats, list[dict[str, int]]]:
        listing = Listing()
        stats = EnrichmentStats()
        async with connect(world.settings.chartmogul) as cm:
            async for page in cm.customer_pages():
                listing.add(page.entries, page.rejected)
            with Store.open(world.directory / "pages.db") as store:
                enricher = _Enricher(
                    cm, store, {}, stats, DIRECTORY_AFTER, listing, None, invoices_after=3
                )
                seen = []
                for part in (emails[:2], emails[2:3], emails[3:]):  # 2, then 3, then more
                    before = dict(counter)
                    await enricher.prepare([{"Email": e} for e in part])
                    seen.append({k: v - before.get(k, 0) for k, v in counter.items() if v})
        return stats, seen

    stats, seen = asyncio.run(run())
    first, second, third = ({k: v for k, v in s.items() if v} for s in seen)
    assert first.get("GET /v1/invoices") == 2
    assert second.get("GET /v1/invoices") == 1  # three in the run: still one by one
    listed = third.get("GET /v1/invoices")  # over three: every invoice, by the page
    assert stats.invoices_listed > 0 and listed == -(-stats.invoices_listed // 200)


async def _from_a_stale_listing(
    world: World,
) -> tuple[EnrichmentStats, Listing, int, tuple[set[tuple[str, str]], set[str]]]:
    """The same people again, in a store of its own with the pass's account states, handed a
    sweep's listing gone stale (``LISTING_KEPT``: a first pass's long Closed-Won step): every
    customer is listed once into the directory on disk and every email asked there."""
    settings = world.settings
    with Store.open(settings.store.path) as held, held.transaction() as tx:
        states = [replace(state, revision=0) for state in tx.accounts.select()]
    old = Listing(started=time.monotonic() - LISTING_KEPT - 1)
    gateway = SalesforceGateway(settings.salesforce)
    try:
        async with connect(settings.chartmogul) as cm:
            customers = sum([len(p.entries) async for p in cm.customer_pages()])
            with Store.open(world.directory / "stale.db") as store:
                with store.transaction() as tx:
                    tx.accounts.put_many(states)
                sync = SyncPass(settings, store, cm, gateway, lambda: datetime.now(UTC))
                try:
                    poll = PollContext(settings, store, cm, gateway, await sync.load_context(),
                                       sync.translator)  # fmt: skip
                    stats = await poll_enrichment(
                        poll, now=datetime.now(UTC), listing=old, directory_after=0
                    )
                finally:
                    await sync.close()
                with store.transaction() as tx:
                    rows = [
                        r for r in tx.outbox.pending() if r.idempotency_key.startswith("enrich|")
                    ]
                    quarantined = {
                        q.record_key
                        for q in tx.queries.quarantine(QuarantineStatus.OPEN)
                        if q.kind is QuarantineKind.AMBIGUOUS_MATCH
                    }
    finally:
        await gateway.close()
    updates = {(r.target_key, _canon(dict(r.payload or {}))) for r in rows}
    return stats, old, customers, (updates, quarantined)


def test_a_stale_listing_decides_every_person_from_every_customer_listed_on_disk(
    world: World, enriched: Enriched
) -> None:
    """Past ``LISTING_KEPT`` the sweep's listing is set aside (its emails' file removed) and
    every customer listed once into the directory on disk: the same updates and the same
    ambiguity as reading each person, the customer made after the sweep found too."""
    stats, old, customers, (updates, quarantined) = asyncio.run(_from_a_stale_listing(world))
    assert old.emails is None  # dropped, not held through the step
    assert (stats.searches, stats.listed) == (0, customers)  # one listing, no search
    assert updates == enriched.reference[0]
    assert quarantined == enriched.reference[1]
    assert any(key == world.kinds.late_contact for key, _ in updates)  # made after the sweep
