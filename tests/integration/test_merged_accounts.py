"""Accounts merged or deleted in Salesforce under a running sync, through ``cmsync once``.

A merge deletes the losers, each keeping ``MasterRecordId`` = the winner, and moves their
children to the winner (Salesforce Help, "Merge Duplicate Accounts"); a write aimed at a loser
is refused ``ENTITY_IS_DELETED`` (SOAP API Developer Guide, "StatusCode"). cmsync must follow:

- merged: the customer's writes land on the winner, its link moves there (with
  ``CM_Customer_UUID__c``), and nothing is dead-lettered;
- deleted outright: the rows for it are dropped with an audit line, the link is dropped, and
  the next customer sweep matches the customer again (here by a Contact's email on a new
  Account).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cmsync.sandbox.serve import LoopThread
from state import AccountLink, AuditEntry, MatchMethod, OutboxEntry, Store
from tests.support.drive import import_invoice, start_world, sync_until_settled
from tests.support.invariants import World, read_truth

SEED, ACCOUNTS = 23, 12


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
        for uuid, account in world.linked().items()
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


def test_writes_for_a_merged_account_land_on_the_winner_and_the_link_follows(
    world: World,
) -> None:
    (uuid, loser), *_ = _paying(world)
    sf = world.sandbox.salesforce.store
    winner = sf.insert("Account", {"Name": "Survivor Holdings"})
    merged = _admin(world, "/merge", {"object": "Account", "winner": winner, "losers": [loser]})
    assert merged.status_code == 200, merged.text

    import_invoice(world, uuid, "after-merge")  # the customer's MRR moves: a write is due
    reports = asyncio.run(sync_until_settled(world))

    dispatched = [s.outcome for r in reports for s in r.steps if s.name == "dispatch" and s.ok]
    assert sum(d.repointed for d in dispatched) >= 1
    assert all(r.ok for r in reports), reports[-1].summary()
    truth = asyncio.run(read_truth(world.settings)).customers[uuid]
    held = sf.get("Account", winner)
    assert held.get("CM_Customer_UUID__c") == uuid
    assert held.get("CM_MRR__c") == truth.mrr / 100
    assert held.get("CM_Status__c") == truth.status
    link, dead, audit = _store_view(world, uuid)
    assert link is not None and link.account_id == winner
    assert dead == []
    assert any(a.action == "repointed" and loser in a.reason for a in audit)


def test_a_deleted_account_drops_its_link_and_the_customer_is_matched_again(
    world: World,
) -> None:
    (uuid, doomed), *_ = _paying(world)
    sf = world.sandbox.salesforce.store
    sf.delete("Account", doomed)
    import_invoice(world, uuid, "after-delete")

    first = asyncio.run(sync_until_settled(world))
    assert all(r.ok for r in first), first[-1].summary()
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
