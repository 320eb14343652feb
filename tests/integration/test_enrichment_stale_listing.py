"""A sweep's listing gone stale before the enrichment step is let go, not held through it.

A first pass over 100,000 Accounts spends 25 minutes in its Closed-Won step, so the sweep's
listing is older than ``LISTING_KEPT`` when enrichment starts: the step lists every customer
itself (into the directory on disk), and the stale listing, which held every customer's
email, is let go before the first person is read (the whole pass peaked at 393 MB in that
step while both were held). The pass runs its steps as ``cmsync once`` does
(``SyncPass.run_step``) against a seeded sandbox; a progress sink, told of every page of
people, checks at each that the stale listing is gone. That the people are decided as before
is held by ``test_enrichment_listing`` (a stale listing against reading each person).
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cmsync.chartmogul import connect
from cmsync.pipeline.streams.customers import Listing
from cmsync.pipeline.streams.enrichment import LISTING_KEPT, EnrichmentStats
from cmsync.pipeline.sync_pass import SyncPass
from cmsync.progress import Finished, Meter
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.serve import LoopThread
from state import Store
from tests.support.drive import start_world
from tests.support.invariants import World


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path_factory.mktemp("stale"), seed=21, accounts=120) as w:
        yield w


class _Watch:
    """A progress sink that, at each page of people the enrichment step reads, says whether
    the listing it watches is still alive (after a collection)."""

    def __init__(self) -> None:
        self.listing: weakref.ref[Listing] | None = None
        self.alive: list[bool] = []

    def step_started(self, step: str) -> Meter:
        return Meter(step, on_change=self._page if step == "enrichment" else None)

    def _page(self, meter: Meter) -> None:
        gc.collect()
        self.alive.append(self.listing is not None and self.listing() is not None)

    def step_ended(self, meter: Meter, result: Finished | None) -> None:
        pass


async def test_a_stale_sweep_listing_is_let_go_before_enrichment_reads_anyone(
    world: World, tmp_path: Path
) -> None:
    settings = world.settings
    watch = _Watch()
    gateway = SalesforceGateway(settings.salesforce)
    try:
        async with connect(settings.chartmogul) as cm:
            customers = sum([len(p.entries) async for p in cm.customer_pages()])
            with Store.open(tmp_path / "store.db") as store:
                sync = SyncPass(
                    settings, store, cm, gateway, lambda: datetime.now(UTC), progress=watch
                )
                try:
                    for step in ("load_context", "customers", "activities", "late_activities"):
                        assert (await sync.run_step(step)).ok, step
                    swept = sync._listing  # what the sweep handed on for the enrichment step
                    assert swept is not None and swept.emails is not None
                    swept.started -= LISTING_KEPT + 1  # as after a 25-minute Closed-Won step
                    watch.listing = weakref.ref(swept)
                    del swept
                    result = await sync.run_step("enrichment")
                finally:
                    await sync.close()
    finally:
        await gateway.close()
    assert result.ok and isinstance(result.outcome, EnrichmentStats)
    stats = result.outcome
    assert stats.contacts > 0 and stats.matched > 0
    assert (stats.searches, stats.listed) == (0, customers)  # every customer listed again
    assert watch.alive and not any(watch.alive)  # gone from the first page on
