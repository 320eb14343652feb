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
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cmsync.chartmogul import connect
from cmsync.chartmogul.writes import NewCustomer
from cmsync.pipeline.enrichment import EnrichmentStats
from cmsync.pipeline.once import run_once
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


@pytest.fixture
async def gateway(world: World) -> AsyncIterator[SalesforceGateway]:
    gw = SalesforceGateway(world.settings.salesforce)
    try:
        yield gw
    finally:
        await gw.close()


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


def _stamp(world: World, record: str) -> datetime:
    found = world.sandbox.salesforce.store.find(record)
    assert found is not None
    stamp = found.get("SystemModstamp")
    assert isinstance(stamp, datetime), stamp
    return stamp


async def test_a_record_stamped_ahead_of_a_slow_vm_is_read_by_the_next_pass(
    world: World, gateway: SalesforceGateway
) -> None:
    # The servers' clock goes ten minutes ahead of this machine's (or this VM fell behind).
    world.sandbox.ctx.clock.advance(SKEW.total_seconds())
    contact, uuid = await _new_person(world, gateway, "ahead")
    assert _stamp(world, contact) > datetime.now(UTC) + SKEW - timedelta(seconds=5)

    stats = await _pass(world)
    assert (stats.contacts, stats.matched, stats.enqueued) == (1, 1, 1)
    assert await _uuid(gateway, contact) == uuid  # not ten minutes later: this pass
    again = await _pass(world)  # re-read once (the write touched it); nothing new
    assert again.enqueued == 0


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
