"""Linked ChartMogul customers merged or deleted: the pure decisions (``state.departed``) and
the store moves that carry them out (a link re-keyed to the survivor, its state and applied
signals carried over, or dropped)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cmsync.pipeline.streams.departed import drop_link, follow_merge
from state import AccountState, MatchMethod, SignalRef, Store
from state.departed import DropLink, FollowMerge, Gone, decide, held_back
from tests.support.clock import FakeClock

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ACCOUNT, OTHER = "001A00000000001AAA", "001A00000000002AAA"


def test_a_gone_customer_follows_the_survivor_carrying_its_account_id() -> None:
    decisions = decide([Gone("cus_a", ACCOUNT)], {ACCOUNT: "cus_b", "stripe-1": "cus_b"}, {})
    assert decisions == [FollowMerge("cus_a", "cus_b", ACCOUNT)]


def test_no_survivor_or_a_linked_one_drops_the_link() -> None:
    [deleted] = decide([Gone("cus_a", ACCOUNT)], {"stripe-1": "cus_b"}, {})
    assert isinstance(deleted, DropLink) and "deleted" in deleted.reason
    [taken] = decide([Gone("cus_a", ACCOUNT)], {ACCOUNT: "cus_b"}, {"cus_b": OTHER})
    assert isinstance(taken, DropLink) and OTHER in taken.reason


def test_two_gone_customers_never_both_follow_one_survivor() -> None:
    gone = [Gone("cus_a", ACCOUNT), Gone("cus_c", OTHER)]
    decisions = decide(gone, {ACCOUNT: "cus_b", OTHER: "cus_b"}, {})
    assert decisions[0] == FollowMerge("cus_a", "cus_b", ACCOUNT)
    assert isinstance(decisions[1], DropLink) and ACCOUNT in decisions[1].reason


def test_a_mass_disappearance_is_held_back_not_acted_on() -> None:
    assert not held_back(3, 10)  # a few merges in a small book
    assert not held_back(21, 1_000)  # a clean-up
    assert held_back(900, 1_000)  # another ChartMogul account's key


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)  # the clock of the ``store`` fixture (tests/conftest.py), at NOW


def test_a_merge_moves_link_state_and_applied_signals(store: Store) -> None:
    key = f"mrr|cus_a|sub-1|new_biz|{NOW.isoformat()}|1000"
    with store.transaction() as tx:
        tx.links.put("cus_a", ACCOUNT, MatchMethod.EXTERNAL_ID)
        tx.accounts.put(AccountState("cus_a", "active", mrr_cents=1000, status="Active"))
        tx.accounts.put(AccountState("cus_b", "lead"))
        tx.signals.mark([SignalRef("cus_a", key)])
        tx.pending_matches.add("cus_b", "no Account matches yet")
    with store.transaction() as tx:
        assert follow_merge(tx, "cus_a", "cus_b") is True
    with store.transaction() as tx:
        link = tx.links.by_account(ACCOUNT)
        assert link is not None and link.customer_uuid == "cus_b"
        assert tx.links.get("cus_a") is None
        assert tx.accounts.get("cus_a") is None
        moved = tx.accounts.get("cus_b")
        assert moved is not None and (moved.lifecycle_state, moved.mrr_cents) == ("active", 1000)
        assert tx.signals.has(SignalRef("cus_b", key.replace("cus_a", "cus_b")))
        assert tx.pending_matches.count() == 0
        assert follow_merge(tx, "cus_a", "cus_b") is False  # nothing left to move


def test_a_survivor_linked_already_keeps_its_link(store: Store) -> None:
    with store.transaction() as tx:
        tx.links.put("cus_a", ACCOUNT, MatchMethod.EXTERNAL_ID)
        tx.links.put("cus_b", OTHER, MatchMethod.EXTERNAL_ID)
        assert follow_merge(tx, "cus_a", "cus_b") is False
        drop_link(tx, "cus_a")
        assert tx.links.pairs() == {"cus_b": OTHER}
