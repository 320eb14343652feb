"""Rows aimed at merged or deleted Accounts, and at inactive owners: the pure decisions
(``state.vanished``, ``state.owners``) and the store moves that carry them out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from state import MatchMethod, OutboxEntry, OutboxItem, OutboxStatus, Store, System
from state.owners import reassign
from state.vanished import AccountFate, Repoint, accounts_named, follow, winner_of
from tests.support.clock import FakeClock

NOW = datetime(2026, 3, 1, tzinfo=UTC)
LOSER, WINNER, OTHER, GONE = (f"001{c * 12}AAA" for c in "LWOG")
LATER = "001" + "Z" * 12 + "AAA"


def row(
    row_id: int, sobject: str, key: str, payload: dict[str, Any], kind: str = "update"
) -> OutboxEntry:
    return OutboxEntry(
        row_id, f"k{row_id}", kind, System.SALESFORCE, sobject, key,
        None if kind == "update" else "CM_Sync_Key__c", payload, "why",
        OutboxStatus.IN_FLIGHT, 0, NOW, None, NOW, NOW,
    )  # fmt: skip


MERGED = {
    LOSER: AccountFate(LOSER, deleted=True, master_id=WINNER),
    WINNER: AccountFate(WINNER),
    GONE: AccountFate(GONE, deleted=True),
}


def test_the_accounts_a_row_names_are_its_key_and_its_references() -> None:
    update = row(1, "Account", LOSER, {"CM_MRR__c": 1, "CM_Customer_UUID__c": "cus_1"})
    task = row(2, "Task", "sync-1", {"WhatId": LOSER, "OwnerId": "005" + "x" * 15}, "upsert")
    assert accounts_named(update) == {LOSER}
    assert accounts_named(task) == {LOSER}


def test_a_winner_is_followed_down_a_chain_of_merges() -> None:
    chain = {**MERGED, WINNER: AccountFate(WINNER, deleted=True, master_id=LATER)}
    assert winner_of(LOSER, MERGED) == WINNER
    assert winner_of(LOSER, chain) == LATER  # not asked about: live as far as we know
    assert winner_of(GONE, MERGED) is None
    assert winner_of(LOSER, {**chain, LATER: AccountFate(LATER, found=False)}) is None


def test_rows_for_a_merged_account_are_repointed_and_its_link_moves() -> None:
    update = row(1, "Account", LOSER, {"CM_MRR__c": 1})
    task = row(2, "Task", "sync-1", {"WhatId": LOSER, "Subject": "x"}, "upsert")
    plan = follow([update, task], MERGED, {LOSER: "cus_1"})
    assert [(r.id, r.target_key, dict(r.payload)) for r in plan.repoint] == [
        (1, WINNER, {"CM_MRR__c": 1}),
        (2, "sync-1", {"WhatId": WINNER, "Subject": "x"}),
    ]
    assert [(m.customer_uuid, m.loser, m.winner) for m in plan.moves] == [("cus_1", LOSER, WINNER)]
    assert plan.dropped == [] and plan.unlinked == {}


def test_rows_for_a_deleted_account_are_dropped_and_its_link_with_them() -> None:
    update = row(1, "Account", GONE, {"CM_MRR__c": 1})
    plan = follow([update], MERGED, {GONE: "cus_2"})
    assert [(r.id, why) for r, why in plan.dropped] == [
        (1, f"dropped: Account {GONE} was deleted in Salesforce")
    ]
    assert set(plan.unlinked) == {"cus_2"} and plan.repoint == []


def test_a_winner_linked_to_another_customer_takes_no_foreign_writes() -> None:
    update = row(1, "Account", LOSER, {"CM_MRR__c": 1})
    plan = follow([update], MERGED, {LOSER: "cus_1", WINNER: "cus_9"})
    assert plan.repoint == [] and [r.id for r, _ in plan.dropped] == [1]
    assert "cus_9" in plan.unlinked["cus_1"]


def test_a_row_whose_accounts_are_all_live_is_left_to_the_retry() -> None:
    update = row(1, "Account", OTHER, {"CM_MRR__c": 1})
    plan = follow([update], {**MERGED, OTHER: AccountFate(OTHER)}, {})
    assert plan.unresolved == [update]


def test_an_inactive_owner_gives_way_to_the_fallback_then_to_none() -> None:
    task = row(3, "Task", "sync-2", {"OwnerId": "005A", "Subject": "x"}, "upsert")
    to_fallback = reassign(task, "005F")
    assert isinstance(to_fallback, Repoint) and to_fallback.payload["OwnerId"] == "005F"
    unowned = reassign(task, None)
    assert isinstance(unowned, Repoint) and "OwnerId" not in unowned.payload
    fallback_inactive = reassign(row(4, "Task", "s", {"OwnerId": "005F"}, "upsert"), "005F")
    assert isinstance(fallback_inactive, Repoint) and "OwnerId" not in fallback_inactive.payload
    assert isinstance(reassign(row(5, "Task", "s", {}, "upsert"), None), str)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)  # the clock of the ``store`` fixture (tests/conftest.py), at NOW


def test_a_link_moves_to_the_winner_unless_the_winner_is_taken(store: Store) -> None:
    with store.transaction() as tx:
        tx.links.put("cus_1", LOSER, MatchMethod.DOMAIN)
        tx.links.put("cus_9", OTHER, MatchMethod.DOMAIN)
        assert tx.links.move("cus_1", LOSER, WINNER) is True
        assert tx.links.move("cus_1", LOSER, WINNER) is False  # not that link any more
        link = tx.links.get("cus_1")
        assert link is not None and (link.account_id, link.matched_by) == (
            WINNER, MatchMethod.DOMAIN,
        )  # fmt: skip
        assert tx.links.move("cus_1", WINNER, OTHER) is False
        assert tx.links.by_account(OTHER) is not None


def test_a_repointed_row_is_pending_again_with_its_new_target(store: Store) -> None:
    with store.transaction() as tx:
        tx.outbox.enqueue(
            [OutboxItem("k", "update", System.SALESFORCE, "Account", LOSER, {"A": 1}, "r")]
        )
        [claimed] = tx.outbox.claim_due(10)
        tx.outbox.repoint([Repoint(claimed.id, WINNER, {"A": 1, "B": LOSER}, "merged")])
        [again] = tx.outbox.pending(target_system=System.SALESFORCE)
    assert (again.target_key, dict(again.payload), again.attempts) == (
        WINNER, {"A": 1, "B": LOSER}, 1,
    )  # fmt: skip
    assert again.last_error == "merged"
