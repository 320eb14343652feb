"""The outbox: idempotent enqueueing, claiming due rows, and every move between statuses."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from state import (
    OutboxDead,
    OutboxItem,
    OutboxRetry,
    OutboxStatus,
    OutboxTransitionError,
    Store,
    System,
)
from tests.support.clock import START, FakeClock


def item(key: str, target: System = System.SALESFORCE) -> OutboxItem:
    payload = {"CM_MRR__c": 10, "key": key}
    return OutboxItem(key, "update", target, "Account", f"001-{key}", payload, f"sig-{key}")


def enqueue(store: Store, *keys: str) -> int:
    with store.transaction() as tx:
        return tx.outbox.enqueue(item(k) for k in keys)


def test_duplicate_keys_are_ignored_not_errors(store: Store) -> None:
    assert enqueue(store, "a", "b") == 2
    assert enqueue(store, "b", "c", "c") == 1  # b exists; the second c repeats the first
    with store.transaction() as tx:
        first = tx.outbox.claim_due(10)
        assert [e.idempotency_key for e in first] == ["a", "b", "c"]
        assert first[1].payload == {"CM_MRR__c": 10, "key": "b"}
        assert first[1].reason == "sig-b"
    assert enqueue(store, "a") == 0  # even once it is in flight (or done), a key is spent
    with store.transaction() as tx:
        assert tx.outbox.counts().pending == 0


def test_claim_takes_due_rows_in_id_order_up_to_the_limit(store: Store, clock: FakeClock) -> None:
    with store.transaction() as tx:
        tx.outbox.enqueue([item("1"), item("2"), item("3")])
        later = OutboxItem(
            "later",
            "upsert",
            System.SALESFORCE,
            "Task",
            "churn-risk:cus_1:2025-03-01",
            {"Subject": "Churn risk"},
            "sig-later",
            not_before=START + timedelta(minutes=5),
            key_field="CM_Sync_Key__c",
        )
        tx.outbox.enqueue([later, item("4"), item("cm", System.CHARTMOGUL)])
    with store.transaction() as tx:
        claimed = tx.outbox.claim_due(2)
        assert [e.idempotency_key for e in claimed] == ["1", "2"]
        assert {e.status for e in claimed} == {OutboxStatus.IN_FLIGHT}
        assert [
            e.idempotency_key for e in tx.outbox.claim_due(10, target_system=System.CHARTMOGUL)
        ] == ["cm"]
        assert [e.idempotency_key for e in tx.outbox.claim_due(10)] == ["3", "4"]  # not "later"
        assert tx.outbox.claim_due(10) == []
        assert tx.outbox.next_due_at() == START + timedelta(minutes=5)
    clock.advance(300)
    with store.transaction() as tx:
        (upsert,) = tx.outbox.claim_due(10)
        assert (upsert.idempotency_key, upsert.key_field) == ("later", "CM_Sync_Key__c")
        assert (upsert.target_object, upsert.payload) == ("Task", {"Subject": "Churn risk"})
        assert tx.outbox.counts().in_flight == 6


def test_done_retry_and_dead_transitions(store: Store, clock: FakeClock) -> None:
    enqueue(store, "ok", "flaky", "broken")
    with store.transaction() as tx:
        ok, flaky, broken = tx.outbox.claim_due(10)
    clock.advance(1)
    with store.transaction() as tx:
        tx.outbox.mark_done([ok.id])
        tx.outbox.retry_later([OutboxRetry(flaky.id, clock.now + timedelta(seconds=30), "503")])
        tx.outbox.mark_dead([OutboxDead(broken.id, "REQUIRED_FIELD_MISSING: Name")])
        counts = tx.outbox.counts(finished=True)
    assert (counts.pending, counts.retrying, counts.in_flight, counts.done, counts.dead) == (
        1,
        1,
        0,
        1,
        1,
    )
    with store.transaction() as tx:
        retried = tx.outbox.get(flaky.id)
        dead = tx.outbox.get(broken.id)
        assert retried is not None and dead is not None
        assert (retried.status, retried.attempts, retried.last_error) == (
            OutboxStatus.PENDING,
            1,
            "503",
        )
        assert retried.next_attempt_at == START + timedelta(seconds=31)
        assert (dead.status, dead.attempts, dead.last_error) == (
            OutboxStatus.DEAD,
            1,
            "REQUIRED_FIELD_MISSING: Name",
        )
        assert tx.outbox.claim_due(10) == []  # the retry is not due yet
        assert [d.id for d in tx.queries.dead_letters()] == [broken.id]
    clock.advance(30)
    with store.transaction() as tx:
        assert [e.id for e in tx.outbox.claim_due(10)] == [flaky.id]


def _move_cursor_and_kill(store: Store, outbox_id: int) -> None:
    with store.transaction() as tx:
        tx.cursors.set("feed", "moved")
        tx.outbox.mark_dead([OutboxDead(outbox_id, "too late")])


def test_a_move_from_the_wrong_status_refuses_the_whole_unit(store: Store) -> None:
    enqueue(store, "a", "b")
    with store.transaction() as tx:
        (a,) = tx.outbox.claim_due(1)
        tx.outbox.mark_done([a.id])
    with pytest.raises(OutboxTransitionError, match=f"\\[{a.id}\\]"):
        _move_cursor_and_kill(store, a.id)  # done rows cannot die
    with store.transaction() as tx:
        assert tx.cursors.get("feed") is None
        done = tx.outbox.get(a.id)
        assert done is not None and done.status is OutboxStatus.DONE
    with store.transaction() as tx:
        (b,) = tx.outbox.claim_due(1)
        with pytest.raises(ValueError, match="twice"):
            tx.outbox.retry_later([OutboxRetry(b.id, START, "x"), OutboxRetry(b.id, START, "y")])
        with pytest.raises(OutboxTransitionError):
            tx.outbox.mark_done([b.id, 999])  # a row that does not exist is not in flight


def test_an_operator_retries_or_skips_dead_rows(store: Store) -> None:
    enqueue(store, "a", "b")
    with store.transaction() as tx:
        a, b = tx.outbox.claim_due(10)
        tx.outbox.mark_dead([OutboxDead(a.id, "bad"), OutboxDead(b.id, "bad")])
    with store.transaction() as tx:
        assert tx.outbox.retry_dead([a.id, 12345]) == 1
        assert tx.outbox.skip_dead([b.id]) == 1
        assert tx.outbox.skip_dead([b.id]) == 0  # already skipped: nothing to do
        retried = tx.outbox.get(a.id)
        assert retried is not None and (retried.status, retried.attempts) == (
            OutboxStatus.PENDING,
            0,
        )
        assert tx.queries.dead_letters() == []
        assert [e.id for e in tx.outbox.claim_due(10)] == [a.id]


REQUEUE_CHILD = textwrap.dedent(
    """
    import os, sys
    from state import OutboxItem, Store, System

    store = Store.open(sys.argv[1])
    with store.transaction() as tx:
        tx.outbox.enqueue(
            OutboxItem(k, "update", System.SALESFORCE, "Account", k, {}) for k in "abcde"
        )
    with store.transaction() as tx:
        claimed = tx.outbox.claim_due(3)
    os._exit(7)  # the dispatcher dies while sending what it claimed
    """
)


def test_rows_left_in_flight_by_a_crash_are_requeued(tmp_path: Path) -> None:
    path = tmp_path / "cmsync.db"
    child = subprocess.run(
        [sys.executable, "-c", REQUEUE_CHILD, str(path)],
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert child.returncode == 7
    with Store.open(path, create=False) as store:
        with store.transaction() as tx:
            assert (tx.outbox.counts().in_flight, tx.outbox.counts().pending) == (3, 2)
            assert tx.outbox.requeue_in_flight() == 3
        with store.transaction() as tx:
            assert tx.outbox.counts().in_flight == 0
            assert [e.idempotency_key for e in tx.outbox.claim_due(10)] == [*"abcde"]


def test_finished_rows_are_purged_after_their_retention(store: Store, clock: FakeClock) -> None:
    enqueue(store, "old", "new", "waiting")
    with store.transaction() as tx:
        old, new = tx.outbox.claim_due(2)
        tx.outbox.mark_done([old.id])
    clock.advance(86_400)
    with store.transaction() as tx:
        tx.outbox.mark_done([new.id])
        assert tx.outbox.purge_finished(before=clock.now - timedelta(hours=1)) == 1
        assert tx.outbox.get(old.id) is None
        assert tx.outbox.counts(finished=True).done == 1
        assert tx.outbox.counts().pending == 1


def update(key: str, record: str, **fields: object) -> OutboxItem:
    return OutboxItem(key, "update", System.SALESFORCE, "Account", record, fields, f"sig-{key}")


def test_updates_of_a_waiting_record_merge_into_one_row(store: Store, clock: FakeClock) -> None:
    """Later values win, reasons and keys add up, replays stay no-ops, and a row being sent or
    waiting on a retry is never changed: the new values queue behind it."""
    with store.transaction() as tx:
        assert (
            tx.outbox.enqueue([update("a1", "A", mrr=1, plan="p"), update("b1", "B", mrr=7)]) == 2
        )
        assert tx.outbox.enqueue([update("a2", "A", mrr=2), update("a3", "A", stage="x")]) == 2
        assert tx.outbox.enqueue([update("a2", "A", mrr=99)]) == 0  # a replay: ignored
        (row_a, row_b) = tx.outbox.pending()
        assert dict(row_a.payload) == {"mrr": 2, "plan": "p", "stage": "x"}
        assert row_a.reason == "sig-a1; sig-a2; sig-a3"
        # The merged effects' keys stay with the row, for the audit entry of its write.
        assert (row_a.idempotency_key, row_a.merged_keys) == ("a1", "a2; a3")
        assert dict(row_b.payload) == {"mrr": 7} and row_b.merged_keys == ""
        tx.outbox.claim_due(1)  # A is being sent
        tx.outbox.enqueue([update("a4", "A", mrr=4)])
        assert [dict(r.payload) for r in tx.outbox.pending(target_keys=["A"])] == [{"mrr": 4}]
    with store.transaction() as tx:
        (sent,) = [e for e in tx.outbox.claim_due(10) if e.target_key == "A"]
        tx.outbox.retry_later([OutboxRetry(sent.id, clock.now + timedelta(minutes=5), "locked")])
        tx.outbox.enqueue([update("a5", "A", mrr=5)])  # behind a retry: a row of its own
        rows = tx.outbox.pending(target_keys=["A"])
        assert [(r.attempts, dict(r.payload)) for r in rows] == [(1, {"mrr": 4}), (0, {"mrr": 5})]
        later = OutboxItem("a6", "update", System.SALESFORCE, "Account", "A", {"mrr": 6},
                           not_before=clock.now + timedelta(hours=1))  # fmt: skip
        tx.outbox.enqueue([later])  # due later: never folded into a row due now
        assert len(tx.outbox.pending(target_keys=["A"])) == 3


def test_a_caller_that_dedupes_itself_merges_without_keeping_merged_keys(store: Store) -> None:
    """``remember_merged=False`` writes no merged-key row, so a merged key enqueued again is
    merged again: only for callers that rule replays out themselves (the lifecycle)."""
    with store.transaction() as tx:
        tx.outbox.enqueue([update("a1", "A", mrr=1)], remember_merged=False)
        assert tx.outbox.enqueue([update("a2", "A", mrr=2)], remember_merged=False) == 1
        (row,) = tx.outbox.pending()
        assert dict(row.payload) == {"mrr": 2} and row.reason == "sig-a1; sig-a2"
        assert tx.outbox.enqueue([update("a1", "A", mrr=1)], remember_merged=False) == 0
        assert tx.outbox.enqueue([update("a2", "A", mrr=3)], remember_merged=False) == 1
        assert tx.outbox.enqueue([update("a3", "A", mrr=4)]) == 1  # the default remembers
        assert tx.outbox.enqueue([update("a3", "A", mrr=5)]) == 0
        (row,) = tx.outbox.pending()
        assert dict(row.payload) == {"mrr": 4}
