"""Closed-Won deals that unwind after their import, and deals ChartMogul refuses: a seeded
sandbox, real sockets.

A deal is won and imported by a real pass; then a rep moves it out of Closed Won or deletes it
through the REST API. The next pass must raise one ``deal_unwound`` problem naming the
Opportunity, the invoice and the amount; the operator's void (through the daemon's command
path, ``run_new_commands``) queues an outbox effect that the dispatcher's ChartMogul executor
sends: it deletes the invoice in ChartMogul, with the retries, dead letters and audit of any
write; keep closes the problem for good. A deal whose invoice ChartMogul refuses leaves no
customer behind.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from cmsync.chartmogul import connect
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.records import Customer, Invoice
from cmsync.chartmogul.transport import TransportPolicy
from cmsync.cli import app
from cmsync.config import Settings, load_settings
from cmsync.daemon.commands import run_new_commands
from cmsync.pipeline.closed_won.effect import VOID_DEAL
from cmsync.pipeline.closed_won.poll import ClosedWonStats
from cmsync.pipeline.dispatch.closed_won_send import ChartMogulExecutor
from cmsync.pipeline.dispatch.settle import DispatchPolicy
from cmsync.pipeline.translate import Translator
from cmsync.problems import read_groups
from cmsync.retry import RetryPolicy
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.faults import FaultProfile
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from cmsync.status import collect, render
from state import (
    CommandKind,
    CommandStatus,
    DealStatus,
    OutboxEntry,
    OutboxStatus,
    QuarantineEntry,
    QuarantineKind,
    QuarantineStatus,
    Store,
    Transaction,
)
from tests.support.drive import step_outcome


@dataclass
class World:
    sandbox: RunningSandbox
    settings: Settings

    @property
    def ds(self) -> str:
        assert self.settings.chartmogul.data_source_uuid is not None
        return self.settings.chartmogul.data_source_uuid

    def read(self, work: Any) -> Any:
        store = Store.open(self.settings.store.path)
        try:
            with store.transaction() as tx:
                return work(tx)
        finally:
            store.close()


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("closed-won-unwound")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=12, seed=33))
    )
    settings = load_settings(directory / "cmsync.toml")
    try:
        asyncio.run(_pass(settings))  # the first pass fixes the poller's start
        yield World(running, settings)
    finally:
        sandbox_loop.call(running.stop())


async def _pass(settings: Settings) -> ClosedWonStats:
    return await step_outcome(settings, "closed_won", ClosedWonStats)


def _today() -> date:
    return datetime.now(UTC).date()


async def _won_deal(gateway: SalesforceGateway, name: str, amount: float) -> tuple[str, str]:
    """A new Account and an Opportunity on it set to Closed Won, as a rep does: (Account, Opp)."""
    created = await gateway.restful("sobjects/Account", method="POST", json={"Name": name})
    account = str(created["id"])
    body = {"Name": f"{name} deal", "StageName": "Prospecting", "AccountId": account,
            "CloseDate": _today().isoformat(), "Amount": amount}  # fmt: skip
    opportunity = str(
        (await gateway.restful("sobjects/Opportunity", method="POST", json=body))["id"]
    )
    await _stage(gateway, opportunity, "Closed Won")
    return account, opportunity


async def _stage(gateway: SalesforceGateway, opportunity: str, stage: str) -> None:
    path = f"sobjects/Opportunity/{opportunity}"
    await gateway.restful(path, method="PATCH", json={"StageName": stage})


async def _customer(cm: ChartMogulClient, account: str, ds: str) -> list[Customer]:
    pages = cm.customer_pages(external_id=account, data_source_uuid=ds)
    return [c async for page in pages for c in page.entries]


async def _invoices(cm: ChartMogulClient, opportunity: str) -> list[Invoice]:
    return [i async for page in cm.invoice_pages(external_id=opportunity) for i in page.entries]


def _problem(world: World, opportunity: str) -> QuarantineEntry | None:
    def find(tx: Transaction) -> QuarantineEntry | None:
        found = [
            q
            for q in tx.queries.quarantine(QuarantineStatus.OPEN)
            if q.record_key == opportunity and q.kind is QuarantineKind.DEAL_UNWOUND
        ]
        assert len(found) <= 1
        return found[0] if found else None

    result: QuarantineEntry | None = world.read(find)
    return result


def _executor(
    world: World, store: Store, cm: ChartMogulClient, **policy: Any
) -> ChartMogulExecutor:
    translator = Translator(world.settings.fields, world.settings.sync)
    return ChartMogulExecutor(
        store, cm, world.settings, translator, clock=lambda: datetime.now(UTC),
        policy=DispatchPolicy(**policy),
    )  # fmt: skip


async def _act(
    world: World, cm: ChartMogulClient, kind: CommandKind, entry_id: int, **policy: Any
) -> str:
    """The operator's command, carried out as the daemon does (a void's effect sent at once by
    the dispatcher's ChartMogul executor); the command's result."""
    command = world.read(lambda tx: tx.commands.add(kind, f"quarantine:{entry_id}"))

    def unused(tx: Transaction, payload: dict[str, object]) -> str:
        raise AssertionError("no illegal transition is retried here")

    store = Store.open(world.settings.store.path)
    try:
        await run_new_commands(store, unused, chartmogul=_executor(world, store, cm, **policy))
    finally:
        store.close()
    done = world.read(lambda tx: tx.commands.get(command))
    assert done.status is CommandStatus.DONE, done.result
    return str(done.result)


def _voids(world: World, invoice: str) -> list[OutboxEntry]:
    rows: list[OutboxEntry] = world.read(lambda tx: tx.outbox.of_records("Invoice", [invoice]))
    return [r for r in rows if r.kind == VOID_DEAL]


async def _unwound_then_problem(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient, name: str
) -> tuple[str, str, Invoice]:
    account, opportunity = await _won_deal(gateway, name, 12_000.0)
    assert (await _pass(world.settings)).imported == 1
    [invoice] = await _invoices(cm, opportunity)
    assert _problem(world, opportunity) is None
    return account, opportunity, invoice


async def test_a_deal_moved_out_of_closed_won_is_a_problem_and_void_takes_the_revenue_out(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    account, opportunity, invoice = await _unwound_then_problem(world, gateway, cm, "Unwound Oy")
    [customer] = await _customer(cm, account, world.ds)
    assert customer.mrr == 100_000

    await _stage(gateway, opportunity, "Closed Lost")
    stats = await _pass(world.settings)
    assert stats.unwound == 1
    entry = _problem(world, opportunity)
    assert entry is not None and entry.payload["invoice_uuid"] == invoice.uuid
    assert entry.payload["amount"] == "1000.00 USD"
    assert entry.payload["actions"] == ["void", "keep"]
    assert "is now 'Closed Lost'" in entry.reason and invoice.uuid in entry.reason
    assert (await _pass(world.settings)).unwound == 0  # one problem, not one per pass
    status = collect(world.settings.store.path, datetime.now(UTC))
    [listed] = [d for d in status["unwound_deals"] if d["opportunity"] == opportunity]
    assert (listed["invoice"], listed["amount"]) == (invoice.uuid, "1000.00 USD")
    assert (
        f"unwound   Opportunity {opportunity} (quarantine:{entry.id}): invoice {invoice.uuid}, "
        "1000.00 USD: void or keep it"
    ) in render(status).splitlines()
    assert (await cm.get_customer(customer.uuid)).mrr == 100_000  # nothing changed silently

    result = await _act(world, cm, CommandKind.VOID, entry.id)
    assert result.startswith(f"void queued: invoice {invoice.uuid}")
    [row] = _voids(world, invoice.uuid)  # the write went through the outbox, target ChartMogul
    assert (row.status, row.target_system.value) == (OutboxStatus.DONE, "chartmogul")
    [audit] = [
        a for a in world.read(lambda tx: tx.queries.audit_after(0, limit=10_000))
        if (a.object, a.record_id, a.action) == ("Invoice", invoice.uuid, "delete")
    ]  # fmt: skip
    assert audit.system.value == "chartmogul" and audit.fields["deleted"] is True
    assert await _invoices(cm, opportunity) == []
    assert (await cm.get_customer(customer.uuid)).mrr == 0
    assert _problem(world, opportunity) is None
    deal = world.read(lambda tx: tx.deals.get(opportunity))
    assert deal.status is DealStatus.VOIDED
    await _stage(gateway, opportunity, "Needs Analysis")  # edited again: nothing more to raise
    assert (await _pass(world.settings)).unwound == 0


async def test_keep_closes_the_problem_for_good_and_leaves_the_invoice(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    _, opportunity, invoice = await _unwound_then_problem(world, gateway, cm, "Kept AB")
    await _stage(gateway, opportunity, "Closed Lost")
    await _pass(world.settings)
    entry = _problem(world, opportunity)
    assert entry is not None

    assert "kept" in await _act(world, cm, CommandKind.KEEP, entry.id)
    assert _problem(world, opportunity) is None
    await _stage(gateway, opportunity, "Prospecting")
    assert (await _pass(world.settings)).unwound == 0
    assert _problem(world, opportunity) is None
    assert [i.uuid for i in await _invoices(cm, opportunity)] == [invoice.uuid]


async def test_a_deleted_opportunity_is_the_same_problem_and_a_second_void_is_done(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    _, opportunity, invoice = await _unwound_then_problem(world, gateway, cm, "Deleted SA")
    await gateway.restful(f"sobjects/Opportunity/{opportunity}", method="DELETE")
    assert (await _pass(world.settings)).unwound == 1
    entry = _problem(world, opportunity)
    assert entry is not None and "was deleted" in entry.reason
    assert entry.payload["deleted"] is True

    assert await cm.delete_invoice(invoice.uuid)  # someone voided it in ChartMogul already
    await _act(world, cm, CommandKind.VOID, entry.id)  # the 404 counts as done
    [row] = _voids(world, invoice.uuid)
    assert row.status is OutboxStatus.DONE
    resolution = world.read(lambda tx: tx.quarantine.get(entry.id)).resolution
    assert resolution == f"voided by an operator: invoice {invoice.uuid} already gone in ChartMogul"
    assert _problem(world, opportunity) is None


async def test_the_problems_command_voids_and_keeps_without_a_daemon(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    """``cmsync problems void|keep`` with no daemon: the CLI queues the void's effect and sends
    it itself, through the dispatcher's own ChartMogul executor, which closes the problem;
    keep just closes it."""
    config = world.sandbox.options.directory / "cmsync.toml"
    runner = CliRunner()

    async def cli(*words: str) -> Result:
        # The command runs its own event loop (asyncio.run): off this test's loop.
        return await asyncio.to_thread(runner.invoke, app, [*words, "--config", str(config)])

    _, voided, invoice = await _unwound_then_problem(world, gateway, cm, "Cli Void Oy")
    _, kept, left = await _unwound_then_problem(world, gateway, cm, "Cli Keep Oy")
    for opportunity in (voided, kept):
        await _stage(gateway, opportunity, "Closed Lost")
    assert (await _pass(world.settings)).unwound == 2
    void_entry, keep_entry = _problem(world, voided), _problem(world, kept)
    assert void_entry is not None and keep_entry is not None

    listed = await cli("problems", "list")
    assert "cmsync problems void KEY" in listed.stdout  # the fix names the action
    done = await cli("problems", "void", f"quarantine:{void_entry.id}")
    assert done.exit_code == 0, done.stdout
    assert f"invoice {invoice.uuid} deleted" in done.stdout
    assert await _invoices(cm, voided) == []
    assert world.read(lambda tx: tx.deals.get(voided)).status is DealStatus.VOIDED
    again = await cli("problems", "void", f"quarantine:{void_entry.id}")  # closed already
    assert again.exit_code == 1 and "FAILED" in again.stdout
    # ... and says by which command, not a bare refusal (a second operator's void).
    assert f"already handled: quarantine:{void_entry.id} (salesforce {voided}) was " in again.stdout
    assert f"(command {done.stdout.split('(command ')[1].split(')')[0]}: void)" in again.stdout

    done = await cli("problems", "keep", f"quarantine:{keep_entry.id}")
    assert done.exit_code == 0, done.stdout
    assert _problem(world, kept) is None
    assert [i.uuid for i in await _invoices(cm, kept)] == [left.uuid]


async def test_a_deal_won_again_before_anyone_chose_closes_its_problem(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    _, opportunity, invoice = await _unwound_then_problem(world, gateway, cm, "Flip Flop Ltd")
    await _stage(gateway, opportunity, "Closed Lost")
    assert (await _pass(world.settings)).unwound == 1
    await _stage(gateway, opportunity, "Closed Won")  # a slip of the rep's hand, undone

    stats = await _pass(world.settings)
    assert (stats.already_imported, stats.imported, stats.unwound) == (1, 0, 0)
    assert _problem(world, opportunity) is None
    assert world.read(lambda tx: tx.deals.get(opportunity)).status is DealStatus.LIVE
    assert [i.uuid for i in await _invoices(cm, opportunity)] == [invoice.uuid]
    await _stage(gateway, opportunity, "Closed Lost")  # and unwound again: raised again
    assert (await _pass(world.settings)).unwound == 1


async def test_a_refused_deal_leaves_no_customer_and_is_quarantined_with_the_reason(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    won = world.settings.closed_won.model_copy(update={"currency": "ZZZ"})  # no ISO 4217 code
    settings = world.settings.model_copy(update={"closed_won": won})
    account, opportunity = await _won_deal(gateway, "Refused GmbH", 1_200.0)

    stats = await _pass(settings)
    assert (stats.imported, stats.customers_discarded, stats.customers_created) == (0, 1, 0)
    assert await _customer(cm, account, world.ds) == []
    assert await _invoices(cm, opportunity) == []
    [entry] = [
        q
        for q in world.read(lambda tx: tx.queries.quarantine(QuarantineStatus.OPEN))
        if q.record_key == opportunity
    ]
    assert entry.kind is QuarantineKind.BAD_RECORD
    assert "ChartMogul refused it" in entry.reason and "currency" in entry.reason
    assert json.dumps(entry.payload)  # the deal, for the operator


async def test_a_void_chartmogul_does_not_answer_stays_queued_then_is_a_dead_letter_retried(
    world: World, gateway: SalesforceGateway, cm: ChartMogulClient
) -> None:
    """A void is a write like any other: ChartMogul down, the problem stays open and the void
    waits in the outbox; given up on, it is a dead letter an operator retries, and sent then."""
    _, opportunity, invoice = await _unwound_then_problem(world, gateway, cm, "Outage Void AS")
    await _stage(gateway, opportunity, "Closed Lost")
    assert (await _pass(world.settings)).unwound == 1
    entry = _problem(world, opportunity)
    assert entry is not None

    world.sandbox.ctx.faults.set_profile(FaultProfile("down", server_error=1.0))
    try:
        no_retry = TransportPolicy(retry=RetryPolicy(max_attempts=1))
        async with connect(world.settings.chartmogul, no_retry) as down:
            result = await _act(world, down, CommandKind.VOID, entry.id, max_attempts=1)
    finally:
        world.sandbox.ctx.faults.set_profile("none")
    assert result.startswith("void queued")
    [row] = _voids(world, invoice.uuid)
    assert row.status is OutboxStatus.DEAD and row.last_error is not None
    assert _problem(world, opportunity) is not None  # nothing settled before ChartMogul answers
    [group] = [g for g in read_groups(world.settings.store.path) if f"outbox:{row.id}" in g.keys]
    assert group.cause.text.startswith("TRANSIENT on ChartMogul Invoice")  # not Salesforce's
    assert group.fix.startswith("ChartMogul kept failing on these writes")
    assert [i.uuid for i in await _invoices(cm, opportunity)] == [invoice.uuid]
    again = world.read(lambda tx: tx.commands.add(CommandKind.KEEP, f"quarantine:{entry.id}"))
    store = Store.open(world.settings.store.path)
    try:
        await run_new_commands(store, lambda tx, payload: "")  # the keep: refused, the void waits
    finally:
        store.close()
    refused = world.read(lambda tx: tx.commands.get(again))
    assert refused.status is CommandStatus.FAILED
    assert f"outbox:{row.id}: a dead letter: retry or skip it" in str(refused.result)

    # The operator's retry of the dead letter; the next dispatch sends it.
    retried = await _act_on_row(world, CommandKind.RETRY, row.id)
    assert retried == f"outbox row {row.id} queued again"
    store = Store.open(world.settings.store.path)
    try:
        sent = await _executor(world, store, cm).drain()
    finally:
        store.close()
    assert sent.voided == 1
    assert await _invoices(cm, opportunity) == []
    assert _problem(world, opportunity) is None
    assert world.read(lambda tx: tx.deals.get(opportunity)).status is DealStatus.VOIDED


async def _act_on_row(world: World, kind: CommandKind, row_id: int) -> str:
    command = world.read(lambda tx: tx.commands.add(kind, f"outbox:{row_id}"))
    store = Store.open(world.settings.store.path)
    try:
        await run_new_commands(store, lambda tx, payload: "")
    finally:
        store.close()
    done = world.read(lambda tx: tx.commands.get(command))
    assert done.status is CommandStatus.DONE, done.result
    return str(done.result)
