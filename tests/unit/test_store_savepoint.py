"""A savepoint undoes its own block and nothing else of the unit of work."""

from __future__ import annotations

import dataclasses

import pytest

from state import AccountState, StaleStateError, Store, Transaction


def _overflow(tx: Transaction) -> None:
    with tx.savepoint():
        tx.cursors.set("feed", '"inside"')
        tx.accounts.put_many([AccountState("cus_big", "active", mrr_cents=2**63)])


def _fail_after_write(tx: Transaction, state: AccountState) -> None:
    with tx.savepoint():
        tx.accounts.put_many([dataclasses.replace(state, lifecycle_state="active")])
        raise RuntimeError("a bug after the write")


def test_a_failed_block_is_undone_alone_and_the_rest_commits(store: Store) -> None:
    with store.transaction() as tx:
        tx.cursors.set("feed", '"before"')
        with tx.savepoint():
            tx.accounts.put_many([AccountState("cus_kept", "active", mrr_cents=1)])
        with pytest.raises(OverflowError):
            _overflow(tx)
        tx.cursors.set("after", '"yes"')
    with store.transaction() as tx:
        assert tx.cursors.get("feed") == '"before"'
        assert tx.cursors.get("after") == '"yes"'
        assert set(tx.accounts.get_many(["cus_kept", "cus_big"])) == {"cus_kept"}


def test_a_state_written_in_an_undone_block_is_checked_again(store: Store) -> None:
    with store.transaction() as tx:
        tx.accounts.put_many([AccountState("cus_a", "lead")])
    with store.transaction() as tx:
        state = tx.accounts.get("cus_a")
        assert state is not None and state.revision == 1
        with pytest.raises(RuntimeError):
            _fail_after_write(tx, state)
        # Undone: the store holds revision 1 again, so a put from revision 2 is stale.
        with pytest.raises(StaleStateError):
            tx.accounts.put_many([dataclasses.replace(state, revision=2)])
    with store.transaction() as tx:
        tx.accounts.put_many([dataclasses.replace(state, lifecycle_state="trial")])
    with store.transaction() as tx:
        final = tx.accounts.get("cus_a")
        assert final is not None and (final.lifecycle_state, final.revision) == ("trial", 2)
