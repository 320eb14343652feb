"""The invoice listing read before the payments step: ahead, during the activities step, or
by the enrichment step of the same pass.

Against a seeded sandbox over real sockets: what the payments step does with a listing read
ahead (or the enrichment's) must be exactly what it does reading the listing itself, with
each page read once; a listing read from a head the cursor has since left is dropped; an
error reading ahead fails the payments step and moves no cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from cmsync.chartmogul import connect
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.errors import AuthError
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.streams.enrich_figures import paid
from cmsync.pipeline.streams.listed_invoices import ListedInvoices
from cmsync.pipeline.streams.payments import (
    CURSOR,
    InvoicesAhead,
    InvoicesRead,
    PaymentStats,
    poll_payments,
    read_head,
)
from cmsync.pipeline.sync_pass import SyncPass
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.serve import LoopThread
from state import Store
from state.lifecycle import Risk
from tests.support.drive import start_world
from tests.support.invariants import World

FAILURE_EXPIRY = timedelta(days=30)
NEVER = timedelta(days=36_500)  # every failed payment stays open until recovered


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path_factory.mktemp("ahead"), seed=9, accounts=40) as w:
        yield w


@dataclass
class Synced:
    """A store past its activities step, and what a payments step needs besides."""

    sync: SyncPass
    store: Store
    chartmogul: ChartMogulClient

    async def payments(
        self, ahead: InvoicesRead | None, expiry: timedelta = FAILURE_EXPIRY
    ) -> PaymentStats:
        context = self.sync.context
        assert context is not None
        poll = PollContext(
            self.sync.settings, self.store, self.chartmogul, self.sync.gateway, context,
            self.sync.translator,
        )  # fmt: skip
        return await poll_payments(poll, now=datetime.now(UTC), failure_expiry=expiry, ahead=ahead)

    def snapshot(self) -> tuple[list[Any], list[Any], str | None]:
        """Every account's lifecycle, the outbox's pending rows, the invoice cursor."""
        with self.store.transaction() as tx:
            states = [
                (s.customer_uuid, s.lifecycle_state, s.mrr_cents, s.churn_risk, s.memo)
                for s in tx.accounts.select()
            ]
            rows = sorted(  # not the keys: the sweep's carry a timestamp of their own
                (r.target_object, r.target_key, r.reason, sorted((r.payload or {}).items()))
                for r in tx.outbox.pending()
            )
            return states, rows, tx.cursors.get(CURSOR)


@asynccontextmanager
async def synced(world: World, path: Path) -> AsyncIterator[Synced]:
    store = Store.open(path)
    try:
        async with connect(world.settings.chartmogul) as chartmogul:
            gateway = SalesforceGateway(world.settings.salesforce)
            sync = SyncPass(world.settings, store, chartmogul, gateway, lambda: datetime.now(UTC))
            try:
                for step in ("load_context", "customers", "activities"):
                    assert (await sync.run_step(step)).ok
                yield Synced(sync, store, chartmogul)
            finally:
                await sync.close()
                await gateway.close()
    finally:
        store.close()


def _invoice_reads(world: World) -> int:
    return int(world.sandbox.chartmogul.stats.by_endpoint["GET /v1/invoices"])


async def _read_to_the_end(ahead: InvoicesAhead) -> None:
    for _ in range(500):
        if ahead.finished:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the listing read ahead never finished")


async def test_payments_from_a_listing_read_ahead_equal_those_read_live(
    world: World, tmp_path: Path
) -> None:
    async with synced(world, tmp_path / "live.db") as live:
        before = _invoice_reads(world)
        live_stats = await live.payments(ahead=None)
        live_reads = _invoice_reads(world) - before
        live_state = live.snapshot()
    async with synced(world, tmp_path / "ahead.db") as early:
        before = _invoice_reads(world)
        ahead = InvoicesAhead(early.chartmogul, head=None)
        await _read_to_the_end(ahead)
        read_ahead = _invoice_reads(world) - before
        stats = await early.payments(ahead)
        later = _invoice_reads(world) - before - read_ahead
        early_state = early.snapshot()
    assert live_stats.invoices > 200 and live_stats.applied.signals > 0  # several pages
    assert stats == live_stats
    assert early_state == live_state
    assert read_ahead + later == live_reads  # every page read once, ahead or not
    assert later == stats.rechecked  # the payments step only looked up open failures again


async def test_payments_from_the_enrichments_listing_equal_those_read_live(
    world: World, tmp_path: Path
) -> None:
    async with synced(world, tmp_path / "live.db") as live:
        before = _invoice_reads(world)
        live_stats = await live.payments(ahead=None)
        live_reads = _invoice_reads(world) - before
        live_state = live.snapshot()
        again = ListedInvoices(live.chartmogul, head=await read_head(live.store))
        await again.sum()
        second = await live.payments(again)  # a later run: nothing newer than the head
    async with synced(world, tmp_path / "listed.db") as shared:
        listed = ListedInvoices(shared.chartmogul, head=None)
        before = _invoice_reads(world)
        totals = await listed.sum()  # what the enrichment step reads
        listing = _invoice_reads(world) - before
        stats = await shared.payments(listed)
        later = _invoice_reads(world) - before - listing
        state = shared.snapshot()
        each = {uuid: paid([i async for p in shared.chartmogul.invoice_pages(customer_uuid=uuid)
                            for i in p.entries]) for uuid in list(totals)[:5]}  # fmt: skip
    assert live_stats.invoices > 200 and live_stats.applied.signals > 0  # several pages
    assert stats == live_stats
    assert state == live_state
    assert listing + later == live_reads  # the listing read once, by the enrichment's sum
    assert later == stats.rechecked  # the payments step only looked up open failures again
    assert all(totals[uuid] == summed for uuid, summed in each.items())
    assert second.invoices == 0 and second.applied.signals == 0


async def test_a_listing_too_long_to_keep_sums_but_leaves_the_payments_step_its_own(
    world: World, tmp_path: Path
) -> None:
    """Past ``keep`` invoices the signals are not held for the payments step (the memory of a
    first pass over 100,000 Accounts): the sums are the same, and the listing says it cannot
    be taken, so the pass has the payments step read its own."""
    async with synced(world, tmp_path / "store.db") as shared:
        kept = ListedInvoices(shared.chartmogul, head=None)
        long = ListedInvoices(shared.chartmogul, head=None, keep=200)
        totals = await long.sum()
        assert totals == await kept.sum()
        assert kept.read and [p async for p in kept.pages()]
        assert not long.read and not long.whole and [p async for p in long.pages()] == []
        assert long.invoices == kept.invoices > 200


async def test_a_first_listing_that_says_it_is_too_long_keeps_no_page(
    world: World, tmp_path: Path
) -> None:
    """A first run's listing (no head) says its page count on its first page
    (``total_pages``): past ``keep`` invoices no page is held only to be dropped, while a
    later run's (a head, where the payments step may stop early) keeps pages up to ``keep``."""
    async with synced(world, tmp_path / "store.db") as shared:
        first = ListedInvoices(shared.chartmogul, head=None, keep=200)
        totals = await first.sum()
        assert first.invoices > 200 and not first.read  # two pages or more
        assert first.held == 0
        later = ListedInvoices(shared.chartmogul, head="inv_not_listed", keep=200)
        assert await later.sum() == totals
        assert not later.read and later.held == 200  # its first page, then dropped
        whole = ListedInvoices(shared.chartmogul, head=None, keep=first.invoices)
        await whole.sum()
        assert whole.read and whole.held == first.invoices


async def test_a_listing_read_from_a_head_the_cursor_has_left_is_dropped(
    world: World, tmp_path: Path
) -> None:
    async with synced(world, tmp_path / "store.db") as done:
        stale = InvoicesAhead(done.chartmogul, head=None)
        await _read_to_the_end(stale)
        first = await done.payments(ahead=None)  # moves the cursor past every invoice
        again = await done.payments(ahead=stale)
    assert first.invoices > 0
    assert again.invoices == 0  # read from the new head, not the stale listing's pages


async def test_an_error_reading_ahead_fails_the_payments_step_and_moves_no_cursor(
    world: World, tmp_path: Path
) -> None:
    refused = world.settings.chartmogul.model_copy(update={"api_key": SecretStr("revoked")})
    async with synced(world, tmp_path / "store.db") as done, connect(refused) as wrong:
        ahead = InvoicesAhead(wrong, head=None)
        await _read_to_the_end(ahead)
        with pytest.raises(AuthError):
            await done.payments(ahead)
        assert done.snapshot()[2] is None


def _open_failures(store: Store) -> list[tuple[str, str]]:
    with store.transaction() as tx:
        return [
            (s.customer_uuid, str(invoice))
            for s in tx.accounts.select(churn_risk=Risk.HIGH.value)
            for invoice, _ in s.memo.get("failures", ())
        ]


async def test_open_failures_are_looked_up_again_unless_the_listing_just_showed_them(
    world: World, tmp_path: Path
) -> None:
    async with synced(world, tmp_path / "store.db") as done:
        first = await done.payments(ahead=None, expiry=NEVER)
        still_open = _open_failures(done.store)
        # A first run lists every invoice: its open failures are as fresh as a lookup.
        assert first.rechecked == 0 and first.current == len(still_open) > 0
        customer_uuid, key = still_open[0]
        found = [
            invoice
            async for page in done.chartmogul.invoice_pages(
                customer_uuid=customer_uuid, external_id=key
            )
            for invoice in page.entries
        ]
        paid = {"type": "payment", "result": "successful", "external_id": f"{key}-paid",
                "date": datetime.now(UTC).isoformat()}  # fmt: skip
        await done.chartmogul.transport.request(
            "POST", f"/import/invoices/{found[0].uuid}/transactions", json=paid
        )
        second = await done.payments(ahead=None, expiry=NEVER)  # old invoices: not listed
        assert second.invoices == 0 and second.current == 0
        assert second.rechecked == len(still_open)
        assert (customer_uuid, key) not in _open_failures(done.store)  # recovered by lookup
