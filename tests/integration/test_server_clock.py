"""Windows end at the server's clock: cmsync's real pass (``run_once``) against a sandbox whose
clock is not this machine's.

A Salesforce record is stamped by Salesforce's clock (``SystemModstamp``), and a read window
ends at "now". With the local clock as that "now", a VM behind Salesforce leaves the newest
records out of every pass until its own clock catches up. Each client measures its server's
clock from the ``Date`` header of its answers (RFC 9110 §6.6.1), and each source's windows end
at its server's "now". The sandbox dates its answers by its emulated clock, which a test moves
ahead (``POST /__sandbox/clock``); a VM ahead of its servers is a local clock passed to
``run_once``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cmsync.chartmogul import connect
from cmsync.chartmogul.writes import NewCustomer
from cmsync.pipeline.once import run_once
from cmsync.pipeline.streams.activities import PollStats
from cmsync.pipeline.streams.enrichment import EnrichmentStats
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.runner import SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from tests.support.invariants import World

SKEW = timedelta(minutes=10)


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    options = SandboxOptions(directory=tmp_path_factory.mktemp("server-clock"), accounts=6)
    running = sandbox_loop.call(start_sandbox(options))
    try:
        built = World.of(running)
        asyncio.run(_pass(built))  # the first pass: the seeded people, once
        yield built
    finally:
        sandbox_loop.call(running.stop())


def _local() -> datetime:
    return datetime.now(UTC)


async def _pass(world: World, clock: Callable[[], datetime] = _local) -> EnrichmentStats:
    """One whole pass with ``clock`` as this machine's; the enrichment step's outcome."""
    report = await run_once(world.settings, clock=clock)
    assert report.ok, report.summary()
    step = report.step("enrichment")
    assert step is not None and isinstance(step.outcome, EnrichmentStats), report.summary()
    return step.outcome


async def _new_person(world: World, gateway: SalesforceGateway, key: str) -> tuple[str, str]:
    """A ChartMogul customer and a new Contact with its email: (Contact Id, customer uuid)."""
    email = f"{key}@server-clock.example"
    ds = world.settings.chartmogul.data_source_uuid
    assert ds is not None
    async with connect(world.settings.chartmogul) as cm:
        customer = await cm.create_customer(
            NewCustomer(data_source_uuid=ds, external_id=f"clock-{key}", name=key, email=email)
        )
    answer = await gateway.restful(
        "sobjects/Contact", method="POST", json={"LastName": key, "Email": email}
    )
    return str(answer["id"]), customer.uuid


async def _uuid(gateway: SalesforceGateway, contact: str) -> Any:
    fields = await gateway.restful(
        f"sobjects/Contact/{contact}", params={"fields": "SystemModstamp,CM_Customer_UUID__c"}
    )
    return fields["CM_Customer_UUID__c"]


def _servers_ahead(world: World) -> None:
    """The servers' clock at least SKEW ahead of this machine's (or this VM fell behind)."""
    clock = world.sandbox.ctx.clock
    clock.advance(max(0.0, SKEW.total_seconds() - clock.offset_seconds))


def _movement_now(world: World, customer_uuid: str, tag: str) -> datetime:
    """A new monthly subscription, invoiced a minute ago by ChartMogul's clock: its date."""
    cm = world.sandbox.chartmogul.store
    source = cm.registry.customers[customer_uuid].data_source.uuid  # plans are per source
    plans = cm.run(cm.sources.list_plans, {"data_source_uuid": source})["plans"]
    plan = next(p for p in plans if p["interval_unit"] == "month")
    start = world.sandbox.ctx.clock.now().replace(microsecond=0) - timedelta(minutes=1)
    stamp = start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    item = {"type": "subscription", "subscription_external_id": f"{tag}-sub",
            "plan_uuid": plan["uuid"], "service_period_start": stamp,
            "service_period_end": (start + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "amount_in_cents": 2_900, "quantity": 1, "external_id": f"{tag}-li"}  # fmt: skip
    paid = {"type": "payment", "date": stamp, "result": "successful", "external_id": f"{tag}-tx"}
    invoice = {"external_id": f"{tag}-inv", "date": stamp, "currency": "USD",
               "line_items": [item], "transactions": [paid]}  # fmt: skip
    cm.import_invoices(customer_uuid, [invoice])
    return start


def _stamp(world: World, record: str) -> datetime:
    found = world.sandbox.salesforce.store.find(record)
    assert found is not None
    stamp = found.get("SystemModstamp")
    assert isinstance(stamp, datetime), stamp
    return stamp


async def test_a_record_stamped_ahead_of_a_slow_vm_is_read_by_the_next_pass(
    world: World, gateway: SalesforceGateway, caplog: pytest.LogCaptureFixture
) -> None:
    _servers_ahead(world)
    contact, uuid = await _new_person(world, gateway, "ahead")
    assert _stamp(world, contact) > datetime.now(UTC) + SKEW - timedelta(seconds=5)

    with caplog.at_level(logging.WARNING, logger="cmsync.pass"):
        stats = await _pass(world)
    assert (stats.contacts, stats.matched, stats.enqueued) == (1, 1, 1)
    assert await _uuid(gateway, contact) == uuid  # not ten minutes later: this pass
    said = [r.getMessage() for r in caplog.records if r.name == "cmsync.pass"]
    # Measured to the second Date has: 600 s, or one off if every answer came late in it.
    told = re.compile(r"clock is (599|600|601) s behind Salesforce's")
    assert any(told.search(line) for line in said), said
    again = await _pass(world)  # re-read once (the write touched it); nothing new
    assert again.enqueued == 0


async def test_a_movement_dated_ahead_of_a_slow_vm_is_read_by_the_next_pass(world: World) -> None:
    _servers_ahead(world)
    customer = sorted(world.prompt_linked())[0]
    when = _movement_now(world, customer, "clock-ahead")
    assert when > datetime.now(UTC) + SKEW - timedelta(minutes=2)

    report = await run_once(world.settings)
    assert report.ok, report.summary()
    step = report.step("activities")
    assert step is not None and isinstance(step.outcome, PollStats), report.summary()
    assert step.outcome.new == 1, step.detail  # not ten minutes later: this pass
    assert step.outcome.applied.enqueued >= 1, step.detail  # the Account's MRR moves


async def test_a_vm_ahead_of_its_servers_loses_nothing(
    world: World, gateway: SalesforceGateway
) -> None:
    def ahead() -> datetime:  # this machine ten minutes ahead of the (emulated) servers
        return world.sandbox.ctx.clock.now() + SKEW

    for round_ in range(2):
        contact, uuid = await _new_person(world, gateway, f"behind-{round_}")
        stats = await _pass(world, ahead)
        assert (stats.contacts, stats.matched, stats.enqueued) == (1, 1, 1), round_
        assert await _uuid(gateway, contact) == uuid
    assert (await _pass(world, ahead)).enqueued == 0
