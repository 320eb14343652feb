"""A unit of work commits whole or not at all: on an exception, and when the process dies."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from state import AccountState, OutboxItem, Store, StoreError, System

# A child process that opens the store and dies inside a transaction. ``cache_size`` is made
# tiny (reaching into the store's connection on purpose) so SQLite spills the uncommitted
# pages into the WAL before the kill: recovery must then ignore frames that are really there.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from state import AccountState, OutboxItem, Store, System

    store = Store.open(sys.argv[1])
    store._raw.execute("PRAGMA cache_size = 5")
    with store.transaction() as tx:
        tx.cursors.set("activities", '"page-2"')
        tx.accounts.put_many(AccountState(f"cus_{i}", "active", mrr_cents=i) for i in range(500))
        tx.outbox.enqueue(
            OutboxItem(f"key-{i}", "update", System.SALESFORCE, "Account", str(i), {"x": "y" * 200})
            for i in range(2000)
        )
        if sys.argv[2] == "exit":
            os._exit(3)
        print("in the middle", flush=True)
        time.sleep(60)
    """
)

# A child that commits unit after unit until it is killed: each unit reads the cursor, moves
# every state to the next revision, adds 40 outbox rows and advances the cursor.
LOOPER = textwrap.dedent(
    """
    import dataclasses, sys
    from state import AccountState, OutboxItem, Store, System

    store = Store.open(sys.argv[1])
    customers = [f"cus_{i}" for i in range(200)]
    print("started", flush=True)
    while True:
        with store.transaction() as tx:
            n = int(tx.cursors.get("feed") or "0") + 1
            known = tx.accounts.get_many(customers)
            tx.accounts.put_many(
                dataclasses.replace(known[c], mrr_cents=n) if c in known
                else AccountState(c, "active", mrr_cents=n)
                for c in customers
            )
            tx.outbox.enqueue(
                OutboxItem(f"{n}-{i}", "update", System.SALESFORCE, "Account", f"{n}.{i}", {"n": n})
                for i in range(40)
            )
            tx.cursors.set("feed", str(n))
    """
)


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _nothing_written(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.cursors.get("activities") is None
        assert tx.accounts.get_many(f"cus_{i}" for i in range(500)) == {}
        assert tx.outbox.counts().pending == 0
        assert tx.queries.stage_summary() == []


class Boom(Exception):
    pass


def _write_a_page_then_fail(store: Store) -> None:
    with store.transaction() as tx:
        tx.cursors.set("activities", '"page-2"')
        tx.accounts.put_many(AccountState(f"cus_{i}", "active", mrr_cents=i) for i in range(500))
        tx.outbox.enqueue(
            OutboxItem(f"key-{i}", "update", System.SALESFORCE, "Account", f"001{i}", {})
            for i in range(100)
        )
        raise Boom


def test_an_exception_rolls_back_cursor_states_and_outbox(store: Store) -> None:
    with pytest.raises(Boom):
        _write_a_page_then_fail(store)
    _nothing_written(store)
    with store.transaction() as tx:  # and the store is usable afterwards
        tx.cursors.set("activities", '"page-1"')
    with store.transaction() as tx:
        assert tx.cursors.get("activities") == '"page-1"'


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_a_process_killed_mid_transaction_leaves_nothing(tmp_path: Path, how: str) -> None:
    path = tmp_path / "cmsync.db"
    Store.open(path).close()
    with _child(CHILD, str(path), how) as child:
        if how == "sigkill":
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "in the middle"
            child.kill()
        child.wait(timeout=30)
    assert child.returncode == (3 if how == "exit" else -9)  # died where meant, not on import
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 100_000, "the child should have spilled uncommitted pages"
    with Store.open(path, create=False) as store:
        _nothing_written(store)
    assert _integrity(path) == "ok"


def test_killing_a_busy_writer_at_random_points_never_tears_a_unit(tmp_path: Path) -> None:
    path = tmp_path / "cmsync.db"
    rng = random.Random(20240501)
    units = 0
    for _ in range(3):
        with _child(LOOPER, str(path)) as child:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "started"
            try:
                child.wait(timeout=rng.uniform(0.05, 0.4))
            except subprocess.TimeoutExpired:
                child.kill()
            child.wait(timeout=30)
        assert child.returncode == -9  # killed, not crashed on its own
        with Store.open(path, create=False) as store, store.transaction() as tx:
            before, units = units, int(tx.cursors.get("feed") or "0")
            assert units >= before  # a committed unit is never lost by a later kill
            states = tx.accounts.get_many(f"cus_{i}" for i in range(200))
            assert tx.outbox.counts().pending == 40 * units
            if units:
                assert {s.mrr_cents for s in states.values()} == {units}
                assert {s.revision for s in states.values()} == {units}
        assert _integrity(path) == "ok"
    assert units > 3, "the child hardly committed: the test proved little"


def test_transactions_do_not_nest_and_a_finished_one_cannot_be_used(store: Store) -> None:
    with store.transaction() as tx:
        tx.cursors.set("outer", "1")
        with pytest.raises(StoreError, match="do not nest"), store.transaction():
            pass
    with pytest.raises(Exception, match="closed"):
        tx.cursors.set("late", "1")
    with store.transaction() as tx:
        assert tx.cursors.get("outer") == "1"
        assert tx.cursors.get("late") is None


def test_the_clock_must_be_timezone_aware(tmp_path: Path) -> None:
    with (
        Store.open(tmp_path / "a.db", clock=lambda: datetime(2025, 1, 1, tzinfo=UTC)) as store,
        store.transaction() as tx,
    ):
        assert tx.now == datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        Store.open(tmp_path / "b.db", clock=lambda: datetime(2025, 1, 1))
