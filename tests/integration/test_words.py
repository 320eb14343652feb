"""What cmsync wrote and why, in words: after the passes ``cmsync once`` runs against a seeded
sandbox (real sockets), every audit row and every live-feed line says why in words an account
manager reads, never a signal key, and ``cmsync status --json`` still names each write's keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from rich.console import Console

from cmsync.sandbox.serve import LoopThread
from cmsync.status import collect
from state import AuditEntry, Store, System
from tests.support.drive import import_invoice, start_world, sync_until_settled
from tests.support.invariants import World
from tui.widgets.feed import feed_row

_KEY_MARKS = ("|", "mrr|", "payfail|", "fields|", "cmsync:")


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path_factory.mktemp("words"), seed=23, accounts=12) as w:
        yield w


def _audit(world: World) -> list[AuditEntry]:
    store = Store.open_readonly(world.store_path)
    try:
        with store.snapshot() as q:
            return q.audit_after(0, limit=10_000)
    finally:
        store.close()


def _feed_lines(entries: list[AuditEntry]) -> list[str]:
    """The dashboard's live-feed rows as a terminal shows them."""
    console = Console(width=200, record=True)
    for _, cells in (feed_row(entry) for entry in entries):
        console.print(*cells)
    return console.export_text().splitlines()


async def test_the_audit_the_feed_and_the_status_say_why_in_words(world: World) -> None:
    await sync_until_settled(world)
    customer, account = next(iter(world.linked().items()))
    import_invoice(world, customer, "words", failed=True)
    await sync_until_settled(world)

    audit = _audit(world)
    mine = [e for e in audit if e.system is System.SALESFORCE and e.record_id == account]
    reasons = " / ".join(e.reason for e in mine)
    assert "/mo on " in reasons and "(ChartMogul)" in reasons, reasons
    assert "payment failed on invoice words-inv ($29.00, " in reasons, reasons
    for entry in audit:
        assert entry.reason and not any(m in entry.reason for m in _KEY_MARKS), entry
    # The keys are kept beside the words: the failed payment's signal among them.
    assert any(f"payfail|{customer}|words-inv|" in e.keys for e in mine), mine

    lines = _feed_lines(audit[-50:])
    assert lines and not any(m in line for line in lines for m in _KEY_MARKS), lines

    status = collect(world.store_path, datetime.now(UTC))
    writes = status["recent_writes"]
    assert writes and all(w["why"] and "|" not in w["why"] for w in writes), writes
    failed = [w for w in writes if "payment failed on invoice words-inv" in w["why"]]
    assert failed, writes
    assert any(k.startswith(f"fields|payfail|{customer}|") for w in failed for k in w["keys"])
