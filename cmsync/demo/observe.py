"""Reading the demo's outcome: both emulators, in-process, and the daemon's store.

ChartMogul is read through the emulator's own resource operations (``customers.retrieve``
answers what ``GET /v1/customers/{uuid}`` would), under its lock; Salesforce from the org's
tables. The store gives the daemon's links, its audit trail (every Salesforce write, with the
reasons behind it), job runs, quarantine and outbox. Call these once the daemon has stopped:
the readings are meant to be one moment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from cmsync.config import FieldSettings
from cmsync.demo.consistency import (
    AccountFigures,
    ClosedWonDeal,
    CustomerFigures,
    KeyedRecord,
    Observation,
    to_cents,
)
from cmsync.sandbox.runner import RunningSandbox
from state import JobResult, OutboxCounts, QuarantineStatus, Store

__all__ = [
    "Baseline",
    "Creations",
    "StoreActivity",
    "baseline",
    "creations",
    "observe",
    "read_store",
]

KEYED = ("Task", "Case", "Opportunity")  # what cmsync creates, upserting on its sync key
REPAIR = "reconcile|"  # how a reconciliation's outbox rows begin their key (audit ``keys``)


@dataclass(frozen=True)
class Baseline:
    """ChartMogul before the daemon ran: what exists is not the Closed-Won sync's doing."""

    customers: frozenset[str]
    invoices: frozenset[str]


@dataclass(frozen=True)
class Creations:
    """Customers and invoices the Closed-Won sync created in ChartMogul."""

    customers: tuple[str, ...]  # names
    invoices: tuple[tuple[str, str], ...]  # (Opportunity Id, customer name)


@dataclass
class StoreActivity:
    """What the daemon did, from its store."""

    writes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (object, action)
    records: dict[str, set[str]] = field(default_factory=dict)  # object -> records written
    repaired_records: set[tuple[str, str]] = field(default_factory=set)
    repaired_fields: int = 0
    reconcile_runs: int = 0
    quarantine: Counter[str] = field(default_factory=Counter)  # open entries by kind
    outbox: OutboxCounts = field(default_factory=OutboxCounts)

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())


def baseline(sandbox: RunningSandbox) -> Baseline:
    reg = sandbox.chartmogul.store.registry
    with sandbox.chartmogul.store.lock:
        return Baseline(frozenset(reg.customers), frozenset(reg.invoices))


def _won(sandbox: RunningSandbox) -> set[str]:
    with sandbox.salesforce.store.lock:
        table = sandbox.salesforce.store.table("Opportunity")
        return {r.id for r in table if not r.deleted and r.get("IsWon")}


def creations(sandbox: RunningSandbox, before: Baseline) -> Creations:
    won = _won(sandbox)
    store = sandbox.chartmogul.store
    with store.lock:
        reg = store.registry
        customers = tuple(
            c.name
            for c in reg.customer_order
            if c.uuid in reg.customers and c.uuid not in before.customers
        )
        invoices = tuple(
            (inv.external_id, inv.customer.name)
            for inv in reg.invoice_order
            if inv.uuid in reg.invoices and inv.uuid not in before.invoices
            and inv.external_id in won
        )  # fmt: skip
    return Creations(customers, invoices)


def _chartmogul(sandbox: RunningSandbox) -> tuple[dict[str, CustomerFigures], Counter[str]]:
    store = sandbox.chartmogul.store
    with store.lock:
        customers = {}
        for uuid in list(store.registry.customers):
            wire = store.customers.retrieve(uuid)
            customers[uuid] = CustomerFigures(
                uuid, int(wire["mrr"]), int(wire["arr"]), str(wire["status"])
            )
        invoices = Counter(inv.external_id for inv in store.registry.invoices.values())
    return customers, invoices


def observe(
    sandbox: RunningSandbox, store_path: Path, fields: FieldSettings, expected: Collection[str]
) -> Observation:
    """Both systems and the daemon's links, for ``consistency.check``; ``expected``: the won
    Opportunities the Closed-Won sync must have imported."""
    customers, invoices = _chartmogul(sandbox)
    names, key = fields.account, fields.sync_key
    org = sandbox.salesforce.store
    with org.lock:
        accounts = {
            r.id: AccountFigures(
                r.id,
                _text(r.get(names.customer_uuid)),
                to_cents(r.get(names.mrr)),
                to_cents(r.get(names.arr)),
                _text(r.get(names.status)),
            )
            for r in org.table("Account")
            if not r.deleted
        }
        keyed = [
            KeyedRecord(sobject, r.id, str(r.get(key)))
            for sobject in KEYED
            for r in org.table(sobject)
            if not r.deleted and r.get(key) is not None
        ]
        won = [r.id for r in org.table("Opportunity") if not r.deleted and r.get("IsWon")]
    deals = [ClosedWonDeal(opp, invoices[opp] + invoices[opp[:15]], opp in expected) for opp in won]
    store = Store.open(store_path, create=False)
    try:
        with store.transaction() as tx:
            links = {uuid: link.account_id for uuid, link in tx.links.get_many(customers).items()}
    finally:
        store.close()
    return Observation(customers, accounts, links, keyed, deals)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def read_store(store_path: Path, reports_object: str) -> StoreActivity:
    """The audit trail, reconciliations, quarantine and outbox of the daemon's store."""
    out = StoreActivity()
    store = Store.open(store_path, create=False)
    try:
        with store.transaction() as tx:
            q = tx.queries
            last = 0
            while page := q.audit_after(last, limit=500):
                for entry in page:
                    out.writes[(entry.object, entry.action)] += 1
                    out.records.setdefault(entry.object, set()).add(entry.record_id)
                    if REPAIR in entry.keys and entry.object != reports_object:
                        out.repaired_records.add((entry.object, entry.record_id))
                        out.repaired_fields += len(entry.fields)
                last = page[-1].id
            out.reconcile_runs = sum(
                1 for run in q.job_runs("reconcile", limit=1000) if run.result is JobResult.OK
            )
            out.quarantine = Counter(
                str(entry.kind) for entry in q.quarantine(QuarantineStatus.OPEN, limit=10_000)
            )
            out.outbox = q.outbox_counts(finished=True)
    finally:
        store.close()
    return out
