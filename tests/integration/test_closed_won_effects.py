"""A Closed-Won deal's ChartMogul writes go through the outbox: a seeded sandbox, real sockets.

The poll only decides and enqueues (one ``import_deal`` row, target ChartMogul, committed with
its cursor); the dispatcher's ChartMogul executor creates the customer and imports the invoice,
with the outbox's retries, dead letters, operator retry and audit. A process killed between
the customer and the invoice (a real process, ended with no clean-up) leaves a row in flight
that the next ``once`` requeues and finishes: one customer, one invoice.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from cmsync.chartmogul import connect
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.records import Customer, Invoice
from cmsync.chartmogul.transport import TransportPolicy
from cmsync.config import Settings, load_settings
from cmsync.daemon.commands import run_new_commands
from cmsync.pipeline.closed_won.effect import IMPORT_DEAL
from cmsync.pipeline.closed_won.poll import ClosedWonStats, poll_closed_won
from cmsync.pipeline.context import load_context
from cmsync.pipeline.dispatch.closed_won_send import ChartMogulExecutor
from cmsync.pipeline.dispatch.preview import Preview
from cmsync.pipeline.dispatch.settle import DispatchPolicy
from cmsync.pipeline.once import run_once
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.translate import Translator
from cmsync.retry import RetryPolicy
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.faults import FaultProfile
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import (
    CommandKind,
    CommandStatus,
    OutboxEntry,
    OutboxStatus,
    Store,
    System,
    Transaction,
)
from tests.support.drive import step_outcome
from tests.support.killed_send import KILLED
from tests.support.processes import cmsync_env

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    sandbox: RunningSandbox
    settings: Settings

    @property
    def ds(self) -> str:
        assert self.settings.chartmogul.data_source_uuid is not None
        return self.settings.chartmogul.data_source_uuid

    @property
    def config(self) -> Path:
        return self.sandbox.options.directory / "cmsync.toml"

    def read(self, work: Any) -> Any:
        store = Store.open(self.settings.store.path)
        try:
            with store.transaction() as tx:
                return work(tx)
        finally:
            store.close()

    def creates(self) -> int:
        stats = self.sandbox.chartmogul.stats.by_endpoint
        return sum(n for endpoint, n in stats.items() if endpoint.startswith("POST "))


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("closed-won-effects")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=12, seed=23))
    )
    settings = load_settings(directory / "cmsync.toml")
    try:
        asyncio.run(_pass(settings))  # the first pass starts the poller's era
        yield World(running, settings)
    finally:
        sandbox_loop.call(running.stop())


async def _pass(settings: Settings) -> ClosedWonStats:
    return await step_outcome(settings, "closed_won", ClosedWonStats)


async def _poll_only(settings: Settings) -> ClosedWonStats:
    """The Closed-Won poll alone: it decides and enqueues, and sends nothing."""
    store = Store.open(settings.store.path)
    gateway = SalesforceGateway(settings.salesforce)
    try:
        async with connect(settings.chartmogul) as chartmogul:
            context = await load_context(gateway, chartmogul, settings.fields)
            translator = Translator(settings.fields, settings.sync, context.plan_names)
            poll = PollContext(settings, store, chartmogul, gateway, context, translator)
            return await poll_closed_won(poll, now=datetime.now(UTC))
    finally:
        await gateway.close()
        store.close()


async def _won_deal(gateway: SalesforceGateway, name: str, amount: float) -> tuple[str, str]:
    """A new Account with a Contact, and an Opportunity on it set to Closed Won: (Account, Opp)."""
    created = await gateway.restful(
        "sobjects/Account", method="POST", json={"Name": name, "BillingCountry": "FR"}
    )
    account = str(created["id"])
    slug = name.lower().replace(" ", "-")
    contact = {"LastName": "Primary", "AccountId": account, "Email": f"billing@{slug}.example"}
    await gateway.restful("sobjects/Contact", method="POST", json=contact)
    body = {"Name": f"{name} deal", "StageName": "Prospecting", "AccountId": account,
            "CloseDate": date.today().isoformat(), "Amount": amount}  # fmt: skip
    opportunity = str(
        (await gateway.restful("sobjects/Opportunity", method="POST", json=body))["id"]
    )
    path = f"sobjects/Opportunity/{opportunity}"
    await gateway.restful(path, method="PATCH", json={"StageName": "Closed Won"})
    return account, opportunity


async def _customers(cm: ChartMogulClient, account: str, ds: str) -> list[Customer]:
    pages = cm.customer_pages(external_id=account, data_source_uuid=ds)
    return [c async for page in pages for c in page.entries]


async def _invoices(cm: ChartMogulClient, opportunity: str) -> list[Invoice]:
    return [i async for page in cm.invoice_pages(external_id=opportunity) for i in page.entries]


def _rows(world: World, opportunity: str) -> list[OutboxEntry]:
    """The outbox rows of the deal's ChartMogul effect (any status)."""

    def find(tx: Transaction) -> list[OutboxEntry]:
        rows = tx.outbox.pending(target_system=System.CHARTMOGUL, target_keys=[opportunity])
        dead = [e for e in tx.queries.dead_letters() if e.target_key == opportunity]
        return [*rows, *dead]

    return world.read(find)


async def test_the_poll_only_enqueues_and_the_dispatcher_writes_with_an_audit_trail(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account, opportunity = await _won_deal(gateway, "Outbox First SAS", 6_000.0)
    creates = world.creates()

    polled = await _poll_only(world.settings)
    assert (polled.queued, polled.imported, polled.customers_created) == (1, 0, 0)
    assert world.creates() == creates  # nothing written to ChartMogul by the poll
    [row] = _rows(world, opportunity)
    assert (row.kind, row.target_system, row.status) == (
        IMPORT_DEAL, System.CHARTMOGUL, OutboxStatus.PENDING,
    )  # fmt: skip

    stats = await _pass(world.settings)  # the step sends what is due
    assert (stats.imported, stats.customers_created) == (1, 1)
    [customer] = await _customers(cm, account, world.ds)
    [invoice] = await _invoices(cm, opportunity)
    assert invoice.customer_uuid in (None, customer.uuid)
    assert world.read(lambda tx: tx.outbox.get(row.id)).status is OutboxStatus.DONE
    assert world.read(lambda tx: tx.links.by_account(account)).customer_uuid == customer.uuid
    audit = world.read(lambda tx: tx.queries.record_history("Invoice", opportunity))
    assert [(a.system, a.action) for a in audit] == [(System.CHARTMOGUL, "import")]
    history = world.read(lambda tx: tx.queries.record_history("Customer", customer.uuid))
    assert [(a.system, a.action) for a in history] == [(System.CHARTMOGUL, "create")]


async def test_a_process_killed_between_the_customer_and_the_invoice_makes_neither_twice(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account, opportunity = await _won_deal(gateway, "Cut Short GmbH", 3_600.0)
    assert (await _poll_only(world.settings)).queued == 1
    [queued] = _rows(world, opportunity)

    died = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.support.killed_send", str(world.config)],
        cwd=ROOT, env=cmsync_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert died.returncode == KILLED, died.stderr[-3000:]
    [customer] = await _customers(cm, account, world.ds)  # made before the process died
    assert await _invoices(cm, opportunity) == []
    row = world.read(lambda tx: tx.outbox.get(queued.id))
    assert row.status is OutboxStatus.IN_FLIGHT  # as a kill leaves it

    await _pass(world.settings)  # ``once`` requeues what a stopped process left, and sends it
    assert [c.uuid for c in await _customers(cm, account, world.ds)] == [customer.uuid]
    assert len(await _invoices(cm, opportunity)) == 1
    assert world.read(lambda tx: tx.outbox.get(row.id)).status is OutboxStatus.DONE
    assert world.read(lambda tx: tx.deals.get(opportunity)).customer_uuid == customer.uuid


async def test_a_process_killed_with_several_deals_in_flight_makes_each_exactly_once(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    """The executor sends deals side by side: killed at its third import, others' customer
    creates and imports are under way. The next pass makes each deal's customer and invoice
    exactly once, and settles every row."""
    won = [await _won_deal(gateway, f"In Flight {n} KG", 1_200.0 * n) for n in range(1, 6)]
    assert (await _poll_only(world.settings)).queued == len(won)
    queued = [row.id for _, opportunity in won for row in _rows(world, opportunity)]

    died = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.support.killed_send", str(world.config), "3"],
        cwd=ROOT, env=cmsync_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert died.returncode == KILLED, died.stderr[-3000:]
    statuses = world.read(lambda tx: [tx.outbox.get(row).status for row in queued])
    assert statuses.count(OutboxStatus.IN_FLIGHT) >= 3  # the dying one and others under way

    await _pass(world.settings)
    for account, opportunity in won:
        [customer] = await _customers(cm, account, world.ds)
        [invoice] = await _invoices(cm, opportunity)
        assert invoice.customer_uuid in (None, customer.uuid)
        assert world.read(lambda tx: tx.deals.get(opportunity)).customer_uuid == customer.uuid  # noqa: B023
        assert world.read(lambda tx: tx.links.by_account(account)).customer_uuid == customer.uuid  # noqa: B023
    statuses = world.read(lambda tx: [tx.outbox.get(row).status for row in queued])
    assert statuses == [OutboxStatus.DONE] * len(won)


async def test_a_chartmogul_outage_makes_a_dead_letter_an_operator_retries(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account, opportunity = await _won_deal(gateway, "Down Time AB", 2_400.0)
    assert (await _poll_only(world.settings)).queued == 1
    creates = world.creates()

    # ChartMogul answers every call with a 5xx; one attempt a call, one attempt a row.
    world.sandbox.ctx.faults.set_profile(FaultProfile("down", server_error=1.0))
    store = Store.open(world.settings.store.path)
    try:
        no_retry = TransportPolicy(retry=RetryPolicy(max_attempts=1))
        async with connect(world.settings.chartmogul, no_retry) as client:
            translator = Translator(world.settings.fields, world.settings.sync)
            executor = ChartMogulExecutor(
                store, client, world.settings, translator, clock=lambda: datetime.now(UTC),
                policy=DispatchPolicy(max_attempts=1),
            )  # fmt: skip
            sent = await executor.drain()
    finally:
        world.sandbox.ctx.faults.set_profile("none")
        store.close()
    assert (sent.dead, sent.imported) == (1, 0) and sent.outage is not None
    [dead] = [e for e in _rows(world, opportunity) if e.status is OutboxStatus.DEAD]
    assert dead.last_error is not None and dead.last_error.startswith("gave up after 1 attempts")
    assert world.creates() == creates

    # The operator's retry (r on the dashboard), carried out as the daemon does.
    command = world.read(lambda tx: tx.commands.add(CommandKind.RETRY, f"outbox:{dead.id}"))
    store = Store.open(world.settings.store.path)
    try:
        await run_new_commands(store, lambda tx, payload: "")
    finally:
        store.close()
    assert world.read(lambda tx: tx.commands.get(command)).status is CommandStatus.DONE

    assert (await _pass(world.settings)).imported == 1
    [customer] = await _customers(cm, account, world.ds)
    assert len(await _invoices(cm, opportunity)) == 1
    assert world.read(lambda tx: tx.outbox.get(dead.id)).status is OutboxStatus.DONE
    assert world.read(lambda tx: tx.links.by_account(account)).customer_uuid == customer.uuid


async def test_a_refused_import_settles_its_row_with_an_audit_line_and_no_dead_letter(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    won = world.settings.closed_won.model_copy(update={"currency": "ZZZ"})  # no ISO 4217 code
    settings = world.settings.model_copy(update={"closed_won": won})
    account, opportunity = await _won_deal(gateway, "Refused Again BV", 1_800.0)
    assert (await _poll_only(settings)).queued == 1
    [queued] = _rows(world, opportunity)

    stats = await _pass(settings)  # sent with the same (wrong) settings: ChartMogul refuses
    assert (stats.imported, stats.customers_discarded, stats.quarantined) == (0, 1, 1)
    assert await _customers(cm, account, world.ds) == []  # the customer made for it went again
    assert world.read(lambda tx: tx.outbox.get(queued.id)).status is OutboxStatus.DONE
    [refused] = world.read(lambda tx: tx.queries.record_history("Invoice", opportunity))
    assert (refused.system, refused.action) == (System.CHARTMOGUL, "refused")
    assert "currency" in refused.fields["reason"]
    assert _rows(world, opportunity) == []  # not pending, not a dead letter: a quarantine entry


async def test_the_dry_run_preview_lists_the_pending_chartmogul_rows_and_sends_none(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    """``cmsync once --dry-run`` shows what the pending ChartMogul rows would import (the deal,
    the customer it makes, the amount), beside the Salesforce writes, and sends nothing."""
    account, opportunity = await _won_deal(gateway, "Dry Run Oy", 3_600.0)
    assert (await _poll_only(world.settings)).queued == 1
    creates = world.creates()

    report = await run_once(world.settings, dry_run=True)
    preview = report.step("preview")
    assert preview is not None and isinstance(preview.outcome, Preview)
    [planned] = [p for p in preview.outcome.chartmogul if p.key == opportunity]
    currency = world.settings.closed_won.currency
    assert planned.action == "import"
    assert planned.detail.startswith(
        f"'Dry Run Oy deal' into a new customer (external id {account}), "
        f"amount 3600.00 {currency}, plan "
    )
    shown = preview.outcome.render(limit=500)
    assert "would send to ChartMogul: import=" in shown
    assert f"  import  Opportunity {opportunity}: 'Dry Run Oy deal' into a new customer" in shown
    assert world.creates() == creates  # nothing sent
    [row] = [r for r in _rows(world, opportunity) if r.kind == IMPORT_DEAL]
    assert row.status is OutboxStatus.PENDING
    assert (await _pass(world.settings)).imported == 1  # and the real pass sends it
