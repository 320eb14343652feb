"""Accounts merged or deleted in Salesforce under a running sync, through ``cmsync once``.

A merge deletes the losers, each keeping ``MasterRecordId`` = the winner, and moves their
children to the winner (Salesforce Help, "Merge Duplicate Accounts"); a write aimed at a loser
is refused ``ENTITY_IS_DELETED`` (SOAP API Developer Guide, "StatusCode"). cmsync must follow:

- merged: writes already queued for the loser land on the winner, the customer's link moves
  there (with ``CM_Customer_UUID__c``), and nothing is dead-lettered; a merge that nothing
  writes to is noticed by the next pass's read of the org all the same;
- deleted outright: the rows for it are dropped with an audit line, the link is dropped, and
  the next customer sweep matches the customer again (here by a Contact's email on a new
  Account).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
import requests

from cmsync.chartmogul import connect
from cmsync.pipeline.dispatch.dispatcher import DispatchReport
from cmsync.pipeline.sync_pass import SyncPass
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.serve import LoopThread
from state import AccountLink, AuditEntry, MatchMethod, OutboxEntry, Store
from tests.support.drive import import_invoice, start_world, sync_until_settled
from tests.support.invariants import World, read_truth

SEED, ACCOUNTS = 23, 12
T = TypeVar("T")


@pytest.fixture
def world(sandbox_loop: LoopThread, tmp_path: Path) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path / "merged", seed=SEED, accounts=ACCOUNTS) as world:
        asyncio.run(sync_until_settled(world))
        yield world


def _paying(world: World) -> list[tuple[str, str]]:
    """Linked customers with MRR, as (customer uuid, Account Id)."""
    truth = asyncio.run(read_truth(world.settings))
    return sorted(
        (uuid, account)
        for uuid, account in world.prompt_linked().items()
        if (c := truth.customers.get(uuid)) is not None and c.mrr
    )


def _store_view(
    world: World, uuid: str
) -> tuple[AccountLink | None, list[OutboxEntry], list[AuditEntry]]:
    store = Store.open(world.store_path)
    try:
        with store.transaction() as tx:
            return tx.links.get(uuid), tx.queries.dead_letters(1000), tx.queries.recent_audit(500)
    finally:
        store.close()


def _admin(world: World, path: str, body: object) -> requests.Response:
    url = world.sandbox.info["salesforce"]["admin_url"] + path
    return requests.post(url, json=body, verify=world.sandbox.info["ca_bundle"], timeout=30)


def _merge(world: World, loser: str) -> str:
    winner = world.sandbox.salesforce.store.insert("Account", {"Name": "Survivor Holdings"})
    merged = _admin(world, "/merge", {"object": "Account", "winner": winner, "losers": [loser]})
    assert merged.status_code == 200, merged.text
    return winner


def _check_followed(world: World, uuid: str, winner: str) -> list[AuditEntry]:
    """The winner holds the customer's figures, the link names it, and nothing is dead."""
    truth = asyncio.run(read_truth(world.settings)).customers[uuid]
    held = world.sandbox.salesforce.store.get("Account", winner)
    assert held.get("CM_Customer_UUID__c") == uuid
    assert held.get("CM_MRR__c") == truth.mrr / 100
    assert held.get("CM_Status__c") == truth.status
    link, dead, audit = _store_view(world, uuid)
    assert link is not None and link.account_id == winner
    assert dead == []
    return audit


async def _steps_around(world: World, change: Callable[[], T]) -> tuple[T, DispatchReport]:
    """A pass up to its queued writes, then ``change`` in Salesforce, then its dispatch."""
    settings = world.settings
    store = Store.open(settings.store.path)
    try:
        async with connect(settings.chartmogul) as chartmogul:
            gateway = SalesforceGateway(
                settings.salesforce, budget=ApiBudget(settings.sync.api_budget_share)
            )
            sync = SyncPass(settings, store, chartmogul, gateway, lambda: datetime.now(UTC))
            try:
                for name in ("load_context", "customers"):
                    assert (await sync.run_step(name)).ok
                changed = change()
                dispatched = await sync.run_step("dispatch")
                assert dispatched.ok, dispatched.detail
                return changed, dispatched.outcome
            finally:
                await sync.close()
    finally:
        store.close()


def test_writes_queued_for_a_merged_account_land_on_the_winner_and_the_link_follows(
    world: World,
) -> None:
    (uuid, loser), *_ = _paying(world)
    import_invoice(world, uuid, "before-merge")  # the customer's MRR moves: a write is due
    winner, dispatched = asyncio.run(_steps_around(world, lambda: _merge(world, loser)))
    assert dispatched.repointed >= 1 and dispatched.dead == 0

    audit = _check_followed(world, uuid, winner)
    assert any(a.action == "repointed" and loser in a.reason for a in audit)
    assert asyncio.run(sync_until_settled(world))[-1].ok


def test_a_merge_nothing_writes_to_is_noticed_by_the_next_pass(world: World) -> None:
    (uuid, loser), *_ = _paying(world)
    winner = _merge(world, loser)
    reports = asyncio.run(sync_until_settled(world))
    assert all(r.ok for r in reports), reports[-1].summary()
    _check_followed(world, uuid, winner)


def test_a_deleted_account_drops_its_link_and_the_customer_is_matched_again(
    world: World,
) -> None:
    (uuid, doomed), *_ = _paying(world)
    sf = world.sandbox.salesforce.store
    import_invoice(world, uuid, "before-delete")
    _, dispatched = asyncio.run(_steps_around(world, lambda: sf.delete("Account", doomed)))
    assert dispatched.dropped >= 1 and dispatched.dead == 0
    link, dead, audit = _store_view(world, uuid)
    assert link is None and dead == []
    assert any(a.action == "dropped" and a.record_id == doomed for a in audit)
    store = Store.open(world.store_path)
    try:
        with store.transaction() as tx:
            assert uuid in {p.customer_uuid for p in tx.pending_matches.oldest(1000)}
    finally:
        store.close()

    # A new Account with a Contact carrying the customer's email: the next sweep links it.
    email = asyncio.run(read_truth(world.settings)).customers[uuid].email
    assert email
    fresh = sf.insert("Account", {"Name": "Reborn Ltd"})
    sf.insert("Contact", {"LastName": "Buyer", "Email": email, "AccountId": fresh})
    asyncio.run(sync_until_settled(world))
    link, dead, _ = _store_view(world, uuid)
    assert link is not None and (link.account_id, link.matched_by) == (
        fresh,
        MatchMethod.CONTACT_EMAIL,
    )
    assert dead == []
    assert sf.get("Account", fresh).get("CM_Customer_UUID__c") == uuid
