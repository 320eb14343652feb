"""Reconciliation: every linked Account (and enriched person) brought back to ChartMogul's truth.

The pollers apply changes as they happen; some never reach them: ChartMogul backfills and
corrections (old-dated, so behind every cursor), someone editing a synced field by hand, an
effect lost before cmsync ran. Reconciliation repairs all of them by comparing states rather
than replaying events.

Theory of operation.

1. Read what Salesforce holds: one paged SOQL over Accounts with the figure fields, and one
   over each of Contact and Lead for the people enrichment gave a customer UUID (never a
   converted Lead: it cannot be updated, its Contact is compared instead). Never a query
   per record.
2. Page every ChartMogul customer (200 a call). For each page, in one transaction: read the
   links; for each linked customer compute what its Account should hold (``figures``, in wire
   form) and what its people should hold, and compare field by field (``reconcile_diff``).
   Customers without a link (pending or ambiguous) record nothing.
3. For each drifting record, enqueue ONE update holding only the drifting fields, and set
   those fields' last-written values to what Salesforce was seen holding. The dispatcher
   drops fields equal to what it last wrote; after a hand edit or a lost write that memory is
   wrong, and would make it drop the repair. Recording the observed value (rather than
   forgetting the whole record) keeps every other field's memory, so the next pass does not
   re-send values that were right.

A dry run does steps 1 and 2 and returns the drift (fields, both values) writing nothing.
People are compared whatever their Account's link: enrichment matched them to the customer
by email, and the UUID they carry says which customer that was.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cmsync.chartmogul.records import Customer
from cmsync.config import PersonFieldMap, Settings
from cmsync.pipeline.context import SyncContext
from cmsync.pipeline.org import Scratch
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.reconcile_diff import (
    FIGURE_FIELDS,
    RecordDrift,
    account_wanted,
    diff_fields,
    person_wanted,
)
from cmsync.pipeline.translate import Translator
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import distinct_fields, identifier
from cmsync.storeio import in_store
from state import FieldWrite, OutboxItem, System, Transaction
from state.words import drift_words
from state.writeplan import Operation

__all__ = ["ReconcileStats", "reconcile"]


@dataclass
class ReconcileStats:
    """What a reconciliation found (and, unless a dry run, enqueued)."""

    dry_run: bool = False
    customers: int = 0
    rejected: int = 0  # customer records that did not parse (the sweep quarantines them)
    linked: int = 0
    unlinked: int = 0  # no link yet, or ambiguous: nothing recorded for them
    missing: int = 0  # linked to an Account Salesforce no longer has
    records: int = 0  # records compared (Accounts and people)
    unchanged: int = 0
    drifted: int = 0  # records with at least one drifting field
    fields: int = 0  # drifting fields, over all records
    by_field: Counter[str] = field(default_factory=Counter)  # "Object.Field" -> records
    enqueued: int = 0
    drift: list[RecordDrift] = field(default_factory=list)

    def add(self, other: ReconcileStats) -> None:
        for name in ("customers", "rejected", "linked", "unlinked", "missing", "records",
                     "unchanged", "drifted", "fields", "enqueued"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.by_field.update(other.by_field)
        self.drift.extend(other.drift)

    def describe(self) -> str:
        """One line: what was compared, and which fields drifted how often."""
        per_field = ", ".join(f"{name}={n}" for name, n in sorted(self.by_field.items()))
        writes = f"would enqueue={self.drifted}" if self.dry_run else f"enqueued={self.enqueued}"
        return (
            f"{'dry run: ' if self.dry_run else ''}customers={self.customers} "
            f"linked={self.linked} unlinked={self.unlinked} missing={self.missing} "
            f"checked={self.records} unchanged={self.unchanged} drifted={self.drifted} "
            f"fields={self.fields}{f' ({per_field})' if per_field else ''} {writes}"
        )


@dataclass(frozen=True)
class _Person:
    sobject: str
    record_id: str
    names: PersonFieldMap
    held: Mapping[str, Any]


class _Columns:
    """Account Id -> its fields, kept on disk (``scratch_database``) until asked for.

    A reconciliation compares every Account of the org; held in memory (as query-result
    dicts, later as a tuple per Account) that was the largest allocation of a catch-up over
    100,000 Accounts. A page of customers asks for its own Accounts. Values go through JSON,
    which gives back exactly what the query's JSON gave (text, numbers, booleans, nulls).
    """

    def __init__(self, columns: tuple[str, ...]) -> None:
        self._columns = columns
        self._db = Scratch("CREATE TABLE held (id TEXT PRIMARY KEY, row TEXT) WITHOUT ROWID")

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        values = [(row["Id"], json.dumps([row.get(c) for c in self._columns])) for row in rows]
        self._db.write("INSERT OR REPLACE INTO held VALUES (?, ?)", values)

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """The fields of those of ``account_ids`` the org has."""
        rows = self._db.select("SELECT id, row FROM held WHERE id IN ({marks})", account_ids)
        return {a: dict(zip(self._columns, json.loads(row), strict=True)) for a, row in rows}

    def close(self) -> None:
        self._db.close()


class _People:
    """Customer UUID -> the people carrying it (``_Person``), kept on disk until asked for.

    Every enriched Contact of the org carries a customer UUID: after a first pass over
    100,000 Accounts, about 65,000 of them. Held as query-result dicts until the customers'
    pages asked (with their ``attributes``), they were the step's largest allocation: it
    peaked at 263 MB where the steps before it stayed at 230. A page of customers asks for its
    own people. A customer's people come back in the order they were read
    (``seq``): Contacts, then Leads, each in its query's order.
    """

    def __init__(self) -> None:
        self._kinds: list[tuple[str, PersonFieldMap, tuple[str, ...]]] = []
        self._db = Scratch(
            "CREATE TABLE person (seq INTEGER PRIMARY KEY, uuid TEXT NOT NULL,"
            " kind INTEGER NOT NULL, id TEXT NOT NULL, row TEXT NOT NULL)",
            "CREATE INDEX ix_person ON person (uuid, seq)",
        )

    def kind(self, sobject: str, names: PersonFieldMap, columns: tuple[str, ...]) -> int:
        """A kind of person, read with ``columns``; its number for ``add``."""
        self._kinds.append((sobject, names, columns))
        return len(self._kinds) - 1

    def add(self, kind: int, rows: Iterable[Mapping[str, Any]]) -> None:
        _, names, columns = self._kinds[kind]
        uuid = identifier(names.customer_uuid)
        values = [
            (row[uuid], kind, row["Id"], json.dumps([row.get(c) for c in columns])) for row in rows
        ]
        self._db.write("INSERT INTO person (uuid, kind, id, row) VALUES (?, ?, ?, ?)", values)

    def get_many(self, uuids: Iterable[str]) -> dict[str, list[_Person]]:
        """The people carrying each of ``uuids`` that has any."""
        rows = self._db.select(
            "SELECT uuid, kind, id, row FROM person WHERE uuid IN ({marks}) ORDER BY seq", uuids
        )
        found: dict[str, list[_Person]] = {}
        for uuid, kind, record_id, row in rows:
            sobject, names, columns = self._kinds[kind]
            held = dict(zip(columns, json.loads(row), strict=True))
            found.setdefault(uuid, []).append(_Person(sobject, record_id, names, held))
        return found

    def close(self) -> None:
        self._db.close()


@dataclass(frozen=True)
class _Held:
    """What Salesforce holds, read once per reconciliation."""

    accounts: _Columns  # Account Id -> its figure fields
    people: _People  # customer UUID -> the people carrying it

    def close(self) -> None:
        """Their scratch files go now, not whenever they are collected."""
        self.accounts.close()
        self.people.close()


async def _read_salesforce(
    gateway: SalesforceGateway, translator: Translator, settings: Settings
) -> _Held:
    names = translator.fields.account
    columns = distinct_fields(["Id", "Name", *(getattr(names, f.value) for f in FIGURE_FIELDS)])
    query = f"SELECT {', '.join(columns)} FROM Account"  # noqa: S608 (identifier() checked each)
    held = _Held(_Columns(tuple(columns)), _People())
    try:
        async for page in gateway.query_pages(query):
            held.accounts.add(page)
        if settings.enrichment.enabled:
            fields = settings.fields
            # Converted Leads are left out: Salesforce refuses their updates
            # (CANNOT_UPDATE_CONVERTED_LEAD), and their figures live on the Contact they became,
            # compared as a Contact. Only a Lead still open (and enriched by an older version)
            # is compared as a Lead.
            kinds = (
                ("Contact", fields.contact, ""),
                ("Lead", fields.lead, " AND IsConverted = false"),
            )
            for sobject, mapped, only in kinds:
                uuid = identifier(mapped.customer_uuid)
                wanted = distinct_fields(["Id", uuid, mapped.mrr, mapped.status])
                kind = held.people.kind(sobject, mapped, tuple(wanted))
                where = f"{uuid} != null{only}"
                query = f"SELECT {', '.join(wanted)} FROM {sobject} WHERE {where}"  # noqa: S608
                async for page in gateway.query_pages(query):
                    held.people.add(kind, page)
        return held
    except BaseException:  # a read that failed (or was cancelled) leaves no scratch file
        held.close()
        raise


def _account_row(
    customer: Customer,
    account_id: str,
    account: Mapping[str, Any],
    context: SyncContext,
    translator: Translator,
    run_id: str,
) -> tuple[RecordDrift, OutboxItem] | None:
    wanted = account_wanted(customer, translator)
    drifting = diff_fields({api: sent for api, (_, _, sent) in wanted.items()}, account)
    if not drifting:
        return None
    target = context.org.target(account_id)
    name = target.name or account.get("Name")
    drift = RecordDrift("Account", account_id, customer.uuid, drifting, name)
    values = {wanted[f.field][0]: wanted[f.field][1] for f in drifting}
    key = f"reconcile|{run_id}|Account|{account_id}"
    return drift, translator.update_row(target, values, key, _reason(drift))


def _person_row(
    customer: Customer, person: _Person, run_id: str
) -> tuple[RecordDrift, OutboxItem] | None:
    drifting = diff_fields(person_wanted(customer, person.names), person.held)
    if not drifting:
        return None
    drift = RecordDrift(person.sobject, person.record_id, customer.uuid, drifting)
    row = OutboxItem(
        idempotency_key=f"reconcile|{run_id}|{person.sobject}|{person.record_id}",
        kind=Operation.UPDATE.value,
        target_system=System.SALESFORCE,
        target_object=person.sobject,
        target_key=person.record_id,
        payload=drift.payload,
        reason=_reason(drift),
    )
    return drift, row


def _page(
    tx: Transaction,
    customers: tuple[Customer, ...],
    held: _Held,
    context: SyncContext,
    translator: Translator,
    run_id: str,
    dry_run: bool,
) -> ReconcileStats:
    stats = ReconcileStats(dry_run=dry_run, customers=len(customers))
    links = tx.links.get_many(c.uuid for c in customers)
    accounts = held.accounts.get_many(link.account_id for link in links.values())
    people = held.people.get_many(c.uuid for c in customers)
    found: list[tuple[RecordDrift, OutboxItem] | None] = []
    for customer in customers:
        link = links.get(customer.uuid)
        if link is None:
            stats.unlinked += 1
        elif (account := accounts.get(link.account_id)) is None:
            stats.linked += 1
            stats.missing += 1
        else:
            stats.linked += 1
            found.append(
                _account_row(customer, link.account_id, account, context, translator, run_id)
            )
        found.extend(_person_row(customer, p, run_id) for p in people.get(customer.uuid, ()))
    stats.records = len(found)
    drifts = [pair for pair in found if pair is not None]
    stats.unchanged = stats.records - len(drifts)
    for drift, _ in drifts:
        stats.drifted += 1
        stats.fields += len(drift.fields)
        stats.by_field.update(f"{drift.sobject}.{f.field}" for f in drift.fields)
        stats.drift.append(drift)
    if not dry_run:
        tx.last_written.put_many(w for drift, _ in drifts for w in _observed(drift))
        stats.enqueued = tx.outbox.enqueue(row for _, row in drifts)
    return stats


def _observed(drift: RecordDrift) -> list[FieldWrite]:
    """The drifting fields as Salesforce holds them: the dispatcher's diff starts from these."""
    return [FieldWrite(drift.sobject, drift.record_id, f.field, f.held) for f in drift.fields]


def _reason(drift: RecordDrift) -> str:
    return drift_words((f.field, f.held, f.want) for f in drift.fields)


async def reconcile(
    poll: PollContext,
    *,
    now: datetime,
) -> ReconcileStats:
    """Compare every linked Account (and enriched person) with ChartMogul and repair drift.

    Enqueues one update per drifting record with only its drifting fields (none in a dry
    run); returns what was compared and found, record by record in ``drift``.
    """
    chartmogul, gateway, store, context, translator, settings, dry_run = (
        poll.chartmogul, poll.gateway, poll.store, poll.context, poll.translator,
        poll.settings, poll.dry_run,
    )  # fmt: skip
    held = await _read_salesforce(gateway, translator, settings)
    try:
        total = ReconcileStats(dry_run=dry_run)
        run_id = now.isoformat()  # a later pass repairs the same record again if it drifts again
        async for page in chartmogul.customer_pages():
            if page.total_pages is not None:  # said on the first page
                poll.progress.expect(pages=page.total_pages)

            def work(
                tx: Transaction, entries: tuple[Customer, ...] = page.entries
            ) -> ReconcileStats:
                return _page(tx, entries, held, context, translator, run_id, dry_run)

            total.add(await in_store(store, work))
            total.rejected += len(page.rejected)
            poll.progress.advanced(len(page.entries) + len(page.rejected), 1)
        return total
    finally:
        held.close()
