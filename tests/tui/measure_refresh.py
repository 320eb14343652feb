"""A rough measurement, not a test: the CPU one dashboard refresh costs over a big store.

    .venv/bin/python -m tests.tui.measure_refresh [DIR]

Builds (once, kept in DIR, default a temporary directory) a store with 100,000 accounts,
1,000,000 outbox rows and 1,000,000 audit entries through the store's API, then measures,
in CPU seconds: the first full read, a full read after a commit, a poll when nothing changed
(the ``data_version`` short-circuit), and the panels' redraw on the UI side. Two outbox
shapes are measured: a busy backlog (all rows still pending: the worst case for the counts)
and the usual one (almost all delivered).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from state import AccountState, AuditItem, OutboxItem, Store, System
from tests.tui.storefill import Clock
from tui import Dashboard, DataSource

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNTS = 100_000
OUTBOX = 1_000_000
AUDIT = 1_000_000
STAGES = ("lead", "trial", "new", "active", "at_risk", "churned")
BATCH = 20_000


def build(path: Path) -> None:
    clock = Clock(NOW - timedelta(days=1))
    started = time.perf_counter()
    with Store.open(path, clock=clock) as store:
        for first in range(0, ACCOUNTS, BATCH):
            with store.transaction() as tx:
                tx.accounts.put_many(
                    AccountState(f"cus_{n:07d}", STAGES[n % 6], mrr_cents=(n % 97) * 1000)
                    for n in range(first, first + BATCH)
                )
        for first in range(0, OUTBOX, BATCH):
            with store.transaction() as tx:
                tx.outbox.enqueue(
                    OutboxItem(
                        f"cus_{n % ACCOUNTS:07d}:sig:{n}",
                        "update_account",
                        System.SALESFORCE,
                        "Account",
                        f"001{n % ACCOUNTS:015d}",
                        {"CM_MRR__c": n},
                        reason=f"signal {n}",
                    )
                    for n in range(first, first + BATCH)
                )
        # A day of writes, spread evenly: about 700 a minute.
        step = timedelta(days=1) / AUDIT
        for first in range(0, AUDIT, BATCH):
            with store.transaction() as tx:
                tx.audit.append(
                    AuditItem(
                        System.SALESFORCE,
                        "Account",
                        f"001{n % ACCOUNTS:015d}",
                        "update",
                        {"CM_MRR__c": n},
                        f"signal {n}",
                        at=NOW - timedelta(days=1) + step * n,
                    )
                    for n in range(first, first + BATCH)
                )
        with store.transaction() as tx:
            tx.daemon.beat(1, NOW, "sandbox")
    print(f"built {path} in {time.perf_counter() - started:.0f} s")


def cpu(action: Callable[[], object]) -> float:
    before = time.process_time()
    action()
    return time.process_time() - before


def deliver_most(path: Path) -> None:
    """The usual shape: all but 5,000 rows delivered (claimed and marked done by the API)."""
    clock = Clock(NOW)
    with Store.open(path, clock=clock) as store:
        while True:
            with store.transaction() as tx:
                left = tx.outbox.counts().pending - 5_000
                if left <= 0:
                    break
                claimed = tx.outbox.claim_due(min(BATCH, left))
                tx.outbox.mark_done(entry.id for entry in claimed)


def measure(path: Path, pid: int) -> None:
    source = DataSource(path, clock=lambda: NOW)
    first = cpu(source.poll)
    unchanged = cpu(source.poll)
    with Store.open(path, create=False, clock=Clock(NOW)) as store, store.transaction() as tx:
        tx.daemon.beat(pid, NOW, "sandbox")  # a real change, so the next poll re-reads
    again = cpu(source.poll)
    counts = source.poll().outbox
    source.close()
    print(
        f"outbox with {counts.pending:,} pending: first read {first * 1000:.0f} ms CPU, "
        f"read after a commit {again * 1000:.0f} ms, "
        f"poll with nothing changed {unchanged * 1000:.2f} ms"
    )


async def measure_ui(path: Path) -> None:
    app = Dashboard(
        DataSource(path, clock=lambda: NOW),
        target_label="sandbox",
        clock=lambda: NOW,
        refresh_every=None,
    )
    async with app.run_test(size=(160, 48)) as pilot:
        await app.refresh_now().wait()
        await pilot.pause()
        print(f"UI side: redrawing every panel {cpu(app.show_data) * 1000:.1f} ms CPU")


def main() -> None:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    path = directory / "big.db"
    if not path.exists():
        build(path)
    measure(path, pid=2)
    deliver_most(path)
    measure(path, pid=3)
    asyncio.run(measure_ui(path))


if __name__ == "__main__":
    main()
