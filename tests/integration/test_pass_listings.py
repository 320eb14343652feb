"""A first ``cmsync once`` lists the customers and the invoices once where two steps read them.

A seeded sandbox with deals to import and new Contacts, an empty store, and the pass as
``cmsync once`` runs it (``SyncPass.run``, every step in order). ChartMogul's requests are
counted per step as each ends: the Closed-Won step decides its deals from the sweep's
listing and lists no customer; the enrichment step lists every invoice once (here from its
first page of people: ``invoices_after`` 0) and the payments step applies that listing
without reading an invoice page. The enrichment step lists cmsync's data source again
only where the Closed-Won step imported something since the sweep (the figures it needs
changed); a later pass that imported nothing takes every email from the sweep's listing.
That each step decides as it does reading for itself is
held by the steps' own tests (``test_closed_won_by_page``, ``test_invoices_ahead``,
``test_enrichment_listing``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cmsync.chartmogul import connect
from cmsync.pipeline.closed_won.steps import ClosedWonStats
from cmsync.pipeline.streams.enrichment import EnrichmentStats
from cmsync.pipeline.streams.payments import PaymentStats
from cmsync.pipeline.sync_pass import StepResult, SyncPass
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.serve import LoopThread
from state import Store
from tests.support.drive import start_world
from tests.support.invariants import World


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path_factory.mktemp("listings"), seed=21, accounts=60) as w:
        yield w


@dataclass
class Pass:
    requests: dict[str, Counter[str]]  # step -> ChartMogul requests by endpoint, as it ended
    outcomes: dict[str, Any]
    ok: bool


async def _pass(world: World, path: Path) -> Pass:
    """``cmsync once``'s pass (``SyncPass.run``) into the store at ``path``."""
    settings = world.settings.model_copy(
        update={"store": world.settings.store.model_copy(update={"path": path})}
    )
    counter = world.sandbox.chartmogul.stats.by_endpoint
    requests: dict[str, Counter[str]] = {}
    outcomes: dict[str, Any] = {}
    seen = Counter(counter)

    def ended(result: StepResult) -> None:
        nonlocal seen
        now = Counter(counter)
        requests[result.name] = requests.get(result.name, Counter()) + (now - seen)
        outcomes.setdefault(result.name, result.outcome)
        seen = now

    store = Store.open(path)
    gateway = SalesforceGateway(settings.salesforce)
    try:
        async with connect(settings.chartmogul) as chartmogul:
            sync = SyncPass(settings, store, chartmogul, gateway, lambda: datetime.now(UTC))
            sync.invoices_after = 0  # every invoice listed once the first person is matched
            report = await sync.run(on_step=ended)
            return Pass(requests, outcomes, report.ok)
    finally:
        await gateway.close()
        store.close()


def _listing_pages(records: int) -> int:
    return max(1, math.ceil(records / 200))


async def test_a_pass_lists_customers_and_invoices_once_where_two_steps_read_them(
    world: World, tmp_path: Path
) -> None:
    async with connect(world.settings.chartmogul) as cm:
        customers = sum([len(p.entries) async for p in cm.customer_pages()])
        invoices = sum([len(p.entries) async for p in cm.invoice_pages()])
    done = await _pass(world, tmp_path / "pass.db")
    assert done.ok
    won, enriched, payments = (
        done.outcomes["closed_won"], done.outcomes["enrichment"], done.outcomes["payments"]
    )  # fmt: skip
    assert isinstance(won, ClosedWonStats) and isinstance(enriched, EnrichmentStats)
    assert isinstance(payments, PaymentStats)
    assert won.queued > 0 and won.customers_created > 0  # deals decided, customers made
    assert enriched.matched > 0 and payments.invoices > 200  # several pages of invoices

    # The sweep listed every customer; Closed-Won took its customers from there.
    assert done.requests["customers"]["GET /v1/customers"] == _listing_pages(customers)
    assert done.requests["closed_won"]["GET /v1/customers"] == 0
    # Enrichment listed every invoice (those Closed-Won imported too) once; payments none.
    listed = done.requests["enrichment"]["GET /v1/invoices"]
    assert listed == _listing_pages(invoices + won.imported)
    assert enriched.invoices_listed == invoices + won.imported
    assert done.requests["payments"]["GET /v1/invoices"] == payments.rechecked
    assert done.requests["activities"]["GET /v1/invoices"] == 0  # none read ahead either
    # Closed-Won imported: cmsync's data source listed again for the people's figures.
    assert done.requests["enrichment"]["GET /v1/customers"] >= 1

    # A new Contact with a customer's email; nothing new to import.
    async with connect(world.settings.chartmogul) as cm:
        with_email = [c async for p in cm.customer_pages() for c in p.entries if c.email]
    customer = with_email[0]
    gateway = SalesforceGateway(world.settings.salesforce)
    try:
        account = world.linked().get(customer.uuid) or next(iter(world.linked().values()))
        await gateway.restful("sobjects/Contact", method="POST", json={
            "LastName": "Newcomer", "AccountId": account, "Email": customer.email})  # fmt: skip
    finally:
        await gateway.close()
    later = await _pass(world, tmp_path / "pass.db")
    assert later.ok
    again, enriched = later.outcomes["closed_won"], later.outcomes["enrichment"]
    assert isinstance(again, ClosedWonStats) and isinstance(enriched, EnrichmentStats)
    assert again.imported == 0 and again.customers_created == 0
    assert enriched.matched >= 1
    assert later.requests["closed_won"]["GET /v1/customers"] == 0
    assert later.requests["enrichment"]["GET /v1/customers"] == 0  # nothing listed again
