"""Claiming whole records, and looking rows up by pairs of keys without scanning the table.

``claim_records`` is what lets the dispatcher write a busy record once per drain instead of
once per window its rows straddle; the pair lookups (last-written values) and the hash lookups
(applied signals) are what kept every page of a catch-up as fast as the first.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta

import pytest

from state import FieldWrite, OutboxItem, OutboxRetry, RecordRef, SignalRef, Store, System
from state.sql import PAIRS, pair_params, pairs_where
from tests.support.clock import START, FakeClock


def row(record: str, n: int, system: System = System.SALESFORCE) -> OutboxItem:
    # Upserts: updates of one record would be merged into one row as they are enqueued.
    return OutboxItem(f"{record}|{n}", "upsert", system, "Account", record, {"n": n}, f"s{n}",
                      key_field="Key__c")  # fmt: skip


def enqueue(store: Store, rows: list[OutboxItem]) -> None:
    with store.transaction() as tx:
        tx.outbox.enqueue(rows)


def claimed_records(store: Store, limit: int) -> tuple[list[tuple[str, int]], bool]:
    with store.transaction() as tx:
        entries, full = tx.outbox.claim_records(limit, target_system=System.SALESFORCE)
    return [(e.target_key, int(e.payload["n"])) for e in entries], full


def test_a_record_is_claimed_with_all_its_due_rows_in_the_order_records_fell_due(
    store: Store,
) -> None:
    # Ids interleave the records: a, b, c, a, b, c, a (claim_due(4) would split a and b).
    enqueue(store, [row(r, n) for n in range(3) for r in "abc" if (r, n) != ("b", 2)])
    enqueue(store, [row("c", 9, System.CHARTMOGUL)])  # another consumer's row of "c"

    taken, full = claimed_records(store, 5)

    assert sorted(taken) == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]
    assert full  # c's three rows did not fit: more is due
    taken, full = claimed_records(store, 5)
    assert (sorted(taken), full) == ([("c", 0), ("c", 1), ("c", 2)], False)
    assert claimed_records(store, 5) == ([], False)


def test_rows_waiting_for_a_retry_stay_behind(store: Store, clock: FakeClock) -> None:
    enqueue(store, [row("a", 0)])
    with store.transaction() as tx:
        (first,) = tx.outbox.claim_due(1)
        tx.outbox.retry_later([OutboxRetry(first.id, START + timedelta(minutes=5), "locked")])
    enqueue(store, [row("a", 1), row("b", 0)])

    taken, full = claimed_records(store, 10)

    assert (sorted(taken), full) == ([("a", 1), ("b", 0)], False)
    clock.now = START + timedelta(minutes=5)
    assert claimed_records(store, 10) == ([("a", 0)], False)


def test_a_record_bigger_than_the_window_is_taken_a_window_at_a_time(store: Store) -> None:
    enqueue(store, [row("big", n) for n in range(7)] + [row("small", 0)])

    taken, full = claimed_records(store, 3)

    assert (taken, full) == ([("big", 0), ("big", 1), ("big", 2)], True)
    assert claimed_records(store, 3) == ([("big", 3), ("big", 4), ("big", 5)], True)
    taken, _ = claimed_records(store, 3)
    assert sorted(taken) == [("big", 6), ("small", 0)]


def test_pair_lookups_find_exactly_the_pairs_asked_for_past_one_query(store: Store) -> None:
    refs = [SignalRef(f"cus_{n % 7}", f"sig-{n}") for n in range(PAIRS * 2 + 3)]
    writes = [FieldWrite("Account", f"001{n:015d}", "CM_MRR__c", n) for n in range(PAIRS + 5)]
    with store.transaction() as tx:
        tx.signals.mark(refs[::2])
        tx.last_written.put_many(writes)
    asked = [*refs, SignalRef("cus_0", "sig-1")]  # cus_0/sig-1 was never applied (1 % 7 = 1)
    records = [RecordRef("Account", w.record_id) for w in writes]
    with store.transaction() as tx:
        assert tx.signals.applied(asked) == set(refs[::2])
        found = tx.last_written.get_many([*records, RecordRef("Contact", writes[0].record_id)])
        assert found == {RecordRef("Account", w.record_id): {"CM_MRR__c": w.value} for w in writes}
        assert tx.last_written.forget(records[: PAIRS + 1]) == PAIRS + 1
        assert len(tx.last_written.get_many(records)) == 4


def _plan(store: Store, sql: str, params: object) -> str:
    with closing(sqlite3.connect(store.path)) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " | ".join(str(step[-1]) for step in plan)


def test_pair_lookups_search_the_primary_key_instead_of_scanning(store: Store) -> None:
    pairs = [("Account", "001A"), ("Contact", "003B")]
    where = pairs_where("object", "record_id", len(pairs))
    details = _plan(store, f"SELECT value FROM last_written WHERE {where}", pair_params(pairs))  # noqa: S608 (column names, bound values)
    assert "SEARCH last_written USING PRIMARY KEY" in details
    assert "SCAN last_written" not in details  # a row-value IN (...) list scans the table


def test_applied_signals_are_searched_by_hash_and_by_a_customers_range(store: Store) -> None:
    """The page's lookup and a merge's carry both search the hash index, never the table."""
    by_hash = _plan(
        store, "SELECT customer_uuid, signal_key FROM applied_signal WHERE signal_hash IN (?, ?)",
        (1, 2),
    )  # fmt: skip
    assert "SEARCH applied_signal USING INDEX ix_applied_signal_hash (signal_hash=?)" in by_hash
    of_customer = _plan(
        store,
        "SELECT signal_key FROM applied_signal "
        "WHERE signal_hash BETWEEN ? AND ? AND customer_uuid = ?",
        (1, 2, "cus_1"),
    )
    assert "USING INDEX ix_applied_signal_hash (signal_hash>? AND signal_hash<?)" in of_customer
    assert "SCAN applied_signal" not in by_hash + of_customer


def test_pairs_where_refuses_more_pairs_than_sqlite_can_parse() -> None:
    with pytest.raises(ValueError, match="pairs per query"):
        pairs_where("a", "b", PAIRS + 1)
