"""A Salesforce read keeps no key of what had settled when it began: records stamped more than
the lookback before its cap had all shown (the lookback is the longest a transaction may run
before its records show), so none can come late, and the window's start moves up to them. An
org's people made in bulk long ago, all stamped within seconds of each other, leave no keys in
the cursors that read them; a record made since is still kept, and read once.

Against a seeded sandbox over real sockets; its clock is moved past the seeding's lookback.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from cmsync.config import Settings, load_settings
from cmsync.pipeline.closed_won.poll import CURSOR as CLOSED_WON_CURSOR
from cmsync.pipeline.streams.enrichment import CONTACTS_CURSOR, EnrichmentStats
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import Store
from state.incremental import Watermark
from tests.support.drive import step_outcome


@dataclass
class World:
    sandbox: RunningSandbox
    settings: Settings

    def cursor(self, name: str) -> Watermark:
        store = Store.open(self.settings.store.path)
        try:
            with store.transaction() as tx:
                return Watermark.loads(tx.cursors.get(name))
        finally:
            store.close()


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("settled")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=30, seed=23))
    )
    built = World(running, load_settings(directory / "cmsync.toml"))
    # The seeding, an hour ago as Salesforce and ChartMogul see it.
    running.ctx.clock.advance(3600 + built.settings.sync.lookback_seconds)
    try:
        yield built
    finally:
        sandbox_loop.call(running.stop())


async def _pass(world: World) -> EnrichmentStats:
    return await step_outcome(world.settings, "enrichment", EnrichmentStats)


async def test_people_made_long_ago_leave_no_keys_and_one_made_since_is_read_once(
    world: World,
) -> None:
    lookback = timedelta(seconds=world.settings.sync.lookback_seconds)
    first = await _pass(world)
    assert first.contacts >= 20  # the seeded people, all read
    for name in (CONTACTS_CURSOR, CLOSED_WON_CURSOR):
        cursor = world.cursor(name)
        assert cursor.stamp is not None and cursor.settled is not None
        assert cursor.settled > cursor.stamp  # the read reached what had settled
        assert cursor.seen == frozenset(), name  # nothing it read can come late
        assert cursor.window(lookback, world.sandbox.ctx.clock.now()).start == cursor.settled

    gateway = SalesforceGateway(world.settings.salesforce)
    try:
        made = await gateway.restful(
            "sobjects/Contact", method="POST",
            json={"LastName": "Newcomer", "Email": "newcomer@nobody.example"},
        )  # fmt: skip
    finally:
        await gateway.close()
    second = await _pass(world)
    assert (second.contacts, second.unmatched, second.enqueued) == (1, 1, 0)
    kept = world.cursor(CONTACTS_CURSOR).seen
    # Made within the lookback of the read's cap: kept, as others may yet show before it.
    assert [key for key, _ in kept] == [made["id"]]
    third = await _pass(world)
    assert third.contacts == 0  # re-read in the window, and known
