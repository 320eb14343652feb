"""A store filled with a small, realistic company, written through the store's own API.

Every timestamp comes from a clock the helper steps, so the figures (ages, durations, the
writes-per-minute series) are fixed relative to ``NOW``, the dashboard's clock in the tests.
``EXPECTED`` states what the panels must show for this data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from state import (
    AccountState,
    AuditItem,
    BudgetSnapshot,
    JobResult,
    MatchMethod,
    OutboxDead,
    OutboxItem,
    OutboxRetry,
    QuarantineItem,
    QuarantineKind,
    Store,
    System,
)
from state.incremental import Watermark
from tests.support.clock import FakeClock

__all__ = ["EXPECTED", "NOW", "START", "fill_store"]

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)  # the daemon started
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # the dashboard's clock


# (stage, MRR in cents of each account in it)
STAGES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("lead", (0, 0, 0)),
    ("trial", (0, 0)),
    ("new", (4_900, 9_900, 9_900, 19_900)),
    ("active", (9_900, 19_900, 19_900, 49_900, 99_900, 250_000)),
    ("at_risk", (19_900, 49_900)),
    ("churned", (0, 0, 0)),
)


@dataclass(frozen=True)
class Expected:
    accounts: dict[str, tuple[int, int]]  # stage -> (accounts, MRR cents)
    total_accounts: int
    total_mrr_cents: int
    pending: int
    retrying: int
    in_flight: int
    dead: int
    pending_matches: int
    ambiguous_candidates: tuple[str, ...]
    writes_per_minute: tuple[int, ...]  # the sparkline, 11:31 to 12:00


def _ids(prefix: str, count: int) -> Iterator[str]:
    for n in range(1, count + 1):
        yield f"{prefix}{n:015d}"


def _item(n: int, kind: str = "update_account") -> OutboxItem:
    account = f"001{n:015d}"
    return OutboxItem(
        idempotency_key=f"cus_{n:05d}:mrr:{n}",
        kind=kind,
        target_system=System.SALESFORCE,
        target_object="Account",
        target_key=account,
        payload={"CM_MRR__c": n * 10.0},
        reason=f"mrr movement of cus_{n:05d}",
    )


def fill_store(path: Path) -> Store:
    """Create and fill the store at ``path``; returns it open (the caller closes it)."""
    clock = FakeClock(START)  # tests set ``now`` before each transaction
    store = Store.open(path, clock=clock)
    uuids = list(_ids("cus_", sum(len(m) for _, m in STAGES)))
    accounts = list(_ids("001", len(uuids)))
    with store.transaction() as tx:
        tx.daemon.beat(4242, START, "sandbox")
        states = []
        index = 0
        for stage, mrrs in STAGES:
            for mrr in mrrs:
                states.append(AccountState(uuids[index], stage, mrr_cents=mrr, currency="USD"))
                if stage not in ("lead", "trial"):
                    tx.links.put(uuids[index], accounts[index], MatchMethod.UUID_FIELD)
                index += 1
        tx.accounts.put_many(states)
        tx.pending_matches.add("cus_unmatched_1", "no Account with that domain")
        tx.pending_matches.add("cus_unmatched_2", "no Contact with that email")

    # The outbox: 20 effects; 10 delivered, 2 dead, 3 in flight, 2 retrying, 3 pending.
    clock.now = NOW - timedelta(minutes=40)
    with store.transaction() as tx:
        tx.outbox.enqueue(_item(n) for n in range(1, 21))
    clock.now = NOW - timedelta(minutes=35)
    with store.transaction() as tx:
        claimed = tx.outbox.claim_due(15)
        ids = [entry.id for entry in claimed]
        tx.outbox.mark_done(ids[:10])
        tx.outbox.mark_dead(
            [
                OutboxDead(ids[10], "FIELD_CUSTOM_VALIDATION_EXCEPTION: MRR must not be negative"),
                OutboxDead(ids[11], "INVALID_FIELD: No such column 'CM_Plan__c' on Account"),
            ]
        )
        tx.outbox.retry_later(
            [
                OutboxRetry(ids[12], NOW + timedelta(minutes=1), "UNABLE_TO_LOCK_ROW"),
                OutboxRetry(ids[13], NOW + timedelta(minutes=2), "503 Service Unavailable"),
            ]
        )
        # ids[14] stays claimed below, with two more: three in flight
    clock.now = NOW - timedelta(seconds=20)
    with store.transaction() as tx:
        tx.outbox.claim_due(2)

    # Writes: 1, 2, 4 and 5 Account updates 25, 10, 3 and 0 minutes (and 5 s) ago, then a Task.
    for minutes_ago, writes in ((25, 1), (10, 2), (3, 4), (0, 5)):
        clock.now = NOW - timedelta(minutes=minutes_ago, seconds=5)
        with store.transaction() as tx:
            tx.audit.append(
                AuditItem(
                    System.SALESFORCE,
                    "Account",
                    accounts[k],
                    "update",
                    {"CM_MRR__c": 99.0 + k, "CM_Status__c": "Active"},
                    f"cus_{k:05d}:movement:expansion:2025-03-01",
                )
                for k in range(writes)
            )
    clock.now = NOW - timedelta(seconds=10)
    with store.transaction() as tx:
        tx.audit.append(
            [
                AuditItem(
                    System.SALESFORCE,
                    "Task",
                    "CMSYNC-churn-risk-cus_000000000000017",
                    "upsert",
                    {"Subject": "Churn risk: payment failed"},
                    "cus_000000000000017:payment_failed:inv_88",
                )
            ]
        )

    clock.now = NOW - timedelta(minutes=50)
    with store.transaction() as tx:
        tx.quarantine.add(
            QuarantineItem(
                QuarantineKind.AMBIGUOUS_MATCH,
                System.CHARTMOGUL,
                "cus_ambiguous_1",
                "2 Accounts share the domain acme.example",
                candidates=("001ACME00000000001", "001ACME00000000002"),
                payload={"name": "Acme Corp", "email": "billing@acme.example"},
            )
        )
    clock.now = NOW - timedelta(minutes=45)
    with store.transaction() as tx:
        tx.quarantine.add(
            QuarantineItem(
                QuarantineKind.BAD_RECORD,
                System.CHARTMOGUL,
                "customer:cus_broken_1",
                "customer cus_broken_1: field 'mrr' is missing",
                payload={"uuid": "cus_broken_1"},
            )
        )

    # Job runs: three finished (one failed), one still running.
    for job, started_ago, took, result, detail in (
        ("chartmogul.activities", 65, 1.2, JobResult.OK, "120 activities"),
        ("salesforce.closed_won", 40, 3.5, JobResult.ERROR, "UNABLE_TO_LOCK_ROW on Opportunity"),
        ("dispatch", 5, 0.25, JobResult.OK, "5 records written"),
    ):
        clock.now = NOW - timedelta(seconds=started_ago)
        with store.transaction() as tx:
            run = tx.jobs.start(job)
        clock.now += timedelta(seconds=took)
        with store.transaction() as tx:
            tx.jobs.finish(run, result, detail)
    clock.now = NOW - timedelta(seconds=30)
    with store.transaction() as tx:
        tx.jobs.start("reconcile")

    clock.now = NOW - timedelta(seconds=70)
    with store.transaction() as tx:
        stamp = Watermark(stamp=NOW - timedelta(minutes=2, seconds=30))
        tx.cursors.set("chartmogul.activities", stamp.dumps())
        tx.cursors.set("chartmogul.invoices", '{"head": "inv_0001"}')
    clock.now = NOW - timedelta(seconds=40)
    with store.transaction() as tx:
        tx.cursors.set("salesforce.closed_won", Watermark(stamp=NOW - timedelta(hours=2)).dumps())

    clock.now = NOW - timedelta(seconds=2)
    with store.transaction() as tx:
        tx.daemon.beat(4242, START, "sandbox")
        tx.daemon.put_budget(BudgetSnapshot(System.SALESFORCE, used=41_250, max=100_000, share=0.5))
        tx.daemon.put_budget(BudgetSnapshot(System.CHARTMOGUL, used=12, max=40, share=1.0))
    return store


EXPECTED = Expected(
    accounts={stage: (len(mrrs), sum(mrrs)) for stage, mrrs in STAGES},
    total_accounts=sum(len(mrrs) for _, mrrs in STAGES),
    total_mrr_cents=sum(sum(mrrs) for _, mrrs in STAGES),
    pending=5,  # 3 never tried + 2 retrying
    retrying=2,
    in_flight=3,
    dead=2,
    pending_matches=2,
    ambiguous_candidates=("001ACME00000000001", "001ACME00000000002"),
    writes_per_minute=tuple(
        {3: 1, 18: 2, 25: 4, 28: 6}.get(minute, 0) for minute in range(30)
    ),  # 11:34, 11:49, 11:56, and 11:59 (five updates and the Task)
)
