"""Enriching new Contacts and newly converted Leads with their ChartMogul customer's figures.

Theory of operation. Two incremental reads, each over SystemModstamp with its own watermark
(``changed_records``; cursors ``salesforce.contacts`` and ``salesforce.leads``), narrowed to
what is new:

- Contacts created since the start of the read window (``CreatedDate >= start``): a Contact
  edited later is not new, and is left to reconciliation;
- Leads converted since the start of the window (``IsConverted = true AND ConvertedDate >=
  start``, a date, so a Lead converted today is new all day).

A converted Lead is never written: Salesforce refuses any update of one
(CANNOT_UPDATE_CONVERTED_LEAD, Salesforce Help article 000384333) unless the user has "View
and Edit Converted Leads", and the person lives on as the Contact it was converted into. Its
figures go onto that Contact (``ConvertedContactId``, with the Contact field mapping), found
by the Lead's email; a Lead whose Contact already carries a customer UUID is not read. With
that permission nothing changes: the Contact is still the record kept current. The Contact
a conversion creates is also new to the Contacts read; both give the same update (same
key), which the outbox takes once.

The first run has no window: it starts ``backfill_days`` back, so the people created or
converted lately are enriched once and the rest of the org is not searched for.

For each person with an email, ChartMogul is asked once per run (``customers/search``; the
email travels as a query parameter, never inside SOQL). A page with more unknown emails than
``directory_after`` (a backfill, or a bulk import of Contacts) lists every customer once
instead, 200 a call, and looks the rest of the run's emails up in that list.

No customer: counted, nothing written. Several: quarantined as an ambiguous match, nothing
written (the candidates are in its payload; there is no link to choose, so the dashboard's
resolve does not apply to it). Exactly one: the person fields (``enrich_figures``) are
enqueued as an outbox update of the Contact, in the same transaction as the page's
watermark. The dispatcher's write bumps the record's SystemModstamp, so it may be read once
more; its update then has the same key and adds nothing.

``dry_run`` makes the same reads and writes nothing (not even the cursors);
``stats.planned`` lists the updates it would enqueue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.records import Customer
from cmsync.config import PersonFieldMap, Settings
from cmsync.pipeline.streams.enrich_figures import (
    PersonFigures,
    person_figures,
    person_payload,
    person_update,
)
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.incremental import changed_records
from cmsync.salesforce.soql import identifier, soql
from cmsync.storeio import in_store
from state import OutboxItem, QuarantineItem, QuarantineKind, Store, System, Transaction
from state.incremental import Watermark

__all__ = [
    "BACKFILL_DAYS",
    "CONTACTS_CURSOR",
    "DIRECTORY_AFTER",
    "LEADS_CURSOR",
    "EnrichmentStats",
    "poll_enrichment",
]

CONTACTS_CURSOR = "salesforce.contacts"
LEADS_CURSOR = "salesforce.leads"
BACKFILL_DAYS = 30  # how far back the first run looks
DIRECTORY_AFTER = 200  # unknown emails in one page above which all customers are listed once


@dataclass
class EnrichmentStats:
    """What one enrichment poll did (or, in a dry run, would do)."""

    contacts: int = 0  # new Contacts read
    leads: int = 0  # newly converted Leads read
    no_email: int = 0
    searches: int = 0  # ChartMogul searches: one per distinct email
    listed: int = 0  # customers listed instead of searched for (a page of many new emails)
    matched: int = 0
    unmatched: int = 0  # no ChartMogul customer has the email: nothing written
    ambiguous: int = 0
    enqueued: int = 0
    dry_run: bool = False
    disabled: bool = False
    planned: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.disabled:
            return "disabled (enrichment.enabled = false)"
        line = (
            f"contacts={self.contacts} leads={self.leads} no_email={self.no_email} "
            f"searches={self.searches} listed={self.listed} matched={self.matched} "
            f"unmatched={self.unmatched} "
            f"ambiguous={self.ambiguous} enqueued={self.enqueued}"
        )
        if self.dry_run:
            return f"dry run, nothing written: {line} planned={len(self.planned)}"
        return line


@dataclass(frozen=True)
class _Source:
    """One kind of person to enrich: its object, cursor, what makes it new, what is written.

    ``via`` names the reference to the record written instead of the one read (a converted
    Lead's Contact), ``target`` that record's object and ``fields`` its field mapping.
    """

    sobject: str
    cursor: str
    fields: PersonFieldMap
    new_since: Callable[[datetime], str]  # the constant filter for a window starting then
    unenriched: str  # the constant filter: the record written has no customer UUID yet
    target: str
    via: str | None = None


def _contacts_since(start: datetime) -> str:
    return soql("CreatedDate >= {start}", start=start)


def _leads_since(start: datetime) -> str:
    return soql(
        "IsConverted = true AND ConvertedDate >= {day} AND ConvertedContactId != null",
        day=start.date(),
    )


@dataclass
class _Page:
    rows: list[OutboxItem] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)


class _Enricher:
    """One poll's ChartMogul lookups, each made once per run."""

    def __init__(
        self, chartmogul: ChartMogulClient, stats: EnrichmentStats, directory_after: int
    ) -> None:
        self.chartmogul = chartmogul
        self.stats = stats
        self.directory_after = directory_after
        self.found: dict[str, list[Customer]] = {}  # casefolded email -> customers
        self.directory: dict[str, list[Customer]] | None = None  # every customer, by email
        self.figures: dict[str, PersonFigures] = {}  # customer uuid -> figures

    async def prepare(self, records: list[dict[str, Any]]) -> None:
        """Before a page: list every customer once if searching would cost more calls."""
        emails = {str(r.get("Email") or "").strip().casefold() for r in records} - {""}
        if self.directory is not None or len(emails - self.found.keys()) <= self.directory_after:
            return
        self.directory = {}
        async for page in self.chartmogul.customer_pages():
            self.stats.listed += len(page.entries)
            for customer in page.entries:
                if customer.email:
                    self.directory.setdefault(customer.email.casefold(), []).append(customer)

    async def search(self, email: str) -> list[Customer]:
        key = email.casefold()
        if key not in self.found:
            if self.directory is not None:
                self.found[key] = self.directory.get(key, [])
            else:
                self.stats.searches += 1
                self.found[key] = await self.chartmogul.search_customers(email)
        return self.found[key]

    async def figures_of(self, customer: Customer) -> PersonFigures:
        if customer.uuid not in self.figures:
            subscriptions = [s async for s in self.chartmogul.iter_subscriptions(customer.uuid)]
            invoices = [
                invoice
                async for page in self.chartmogul.invoice_pages(customer_uuid=customer.uuid)
                for invoice in page.entries
            ]
            self.figures[customer.uuid] = person_figures(customer, subscriptions, invoices)
        return self.figures[customer.uuid]

    async def person(self, source: _Source, record: dict[str, Any], page: _Page) -> None:
        record_id = str(record["Id"])
        target_id = record_id if source.via is None else str(record[source.via])
        email = str(record.get("Email") or "").strip()
        if not email:
            self.stats.no_email += 1
            return
        customers = await self.search(email)
        if not customers:
            self.stats.unmatched += 1
            return
        if len(customers) > 1:
            self.stats.ambiguous += 1
            uuids = [c.uuid for c in customers]
            reason = (
                f"{source.sobject} {record_id}: its email {email} is on {len(uuids)} ChartMogul "
                f"customers ({', '.join(uuids)}); nothing is written until one customer has it"
            )
            if self.stats.dry_run:
                self.stats.planned.append(f"quarantine {reason}")
            page.quarantine.append(
                QuarantineItem(
                    kind=QuarantineKind.AMBIGUOUS_MATCH,
                    source=System.SALESFORCE,
                    record_key=record_id,
                    reason=reason,
                    payload={"object": source.sobject, "id": record_id, "email": email,
                             "customers": uuids},
                )
            )  # fmt: skip
            return
        self.stats.matched += 1
        figures = await self.figures_of(customers[0])
        payload = person_payload(figures, source.fields)
        read = "" if source.via is None else f"; converted {source.sobject} {record_id}"
        if self.stats.dry_run:
            values = ", ".join(f"{k}={v}" for k, v in payload.items())
            self.stats.planned.append(
                f"update {source.target} {target_id} ({email}{read}): {values}"
            )
        reason = f"enrichment: figures of the ChartMogul customer with email {email}{read}"
        page.rows.append(person_update(source.target, target_id, payload, reason))


def _commit(tx: Transaction, page: _Page, cursor: str, name: str) -> int:
    for item in page.quarantine:
        tx.quarantine.add(item)
    enqueued = tx.outbox.enqueue(page.rows)
    tx.cursors.set(name, cursor)
    return enqueued


async def _poll(
    source: _Source,
    enricher: _Enricher,
    gateway: SalesforceGateway,
    store: Store,
    *,
    lookback: timedelta,
    backfill: timedelta,
    now: datetime,
) -> int:
    """Enrich one kind of person; returns how many were read."""
    stats = enricher.stats
    watermark = Watermark.loads(await in_store(store, lambda tx: tx.cursors.get(source.cursor)))
    start = watermark.window(lookback, now).start or now - backfill
    # Not yet enriched only: cmsync's own writes move a person's SystemModstamp, and once
    # enriched a person is kept current by reconciliation, not searched for again.
    reads = ["Email", *([source.via] if source.via else [])]
    pages = changed_records(
        gateway, source.sobject, reads,
        where=f"{source.new_since(start)} AND {source.unenriched}",
        watermark=watermark, lookback=lookback, now=now,
    )  # fmt: skip
    read = 0
    async for records, after in pages:
        page = _Page()
        await enricher.prepare(records)
        for record in records:
            read += 1
            await enricher.person(source, record, page)
        if not stats.dry_run:
            work = partial(_commit, page=page, cursor=after.dumps(), name=source.cursor)
            stats.enqueued += await in_store(store, work)
    return read


async def poll_enrichment(
    chartmogul: ChartMogulClient,
    gateway: SalesforceGateway,
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    dry_run: bool = False,
    backfill_days: int = BACKFILL_DAYS,
    directory_after: int = DIRECTORY_AFTER,
) -> EnrichmentStats:
    """Enrich the Contacts and converted Leads that are new since the cursors."""
    stats = EnrichmentStats(dry_run=dry_run)
    if not settings.enrichment.enabled:
        stats.disabled = True
        return stats
    enricher = _Enricher(chartmogul, stats, directory_after)
    lookback = timedelta(seconds=settings.sync.lookback_seconds)
    backfill = timedelta(days=backfill_days)
    contact_fields = settings.fields.contact
    uuid = identifier(contact_fields.customer_uuid)
    contacts = _Source("Contact", CONTACTS_CURSOR, contact_fields, _contacts_since,
                       f"{uuid} = null", "Contact")  # fmt: skip
    # A converted Lead is read, its Contact written (see the module doc).
    leads = _Source("Lead", LEADS_CURSOR, contact_fields, _leads_since,
                    f"ConvertedContact.{uuid} = null", "Contact",
                    via="ConvertedContactId")  # fmt: skip
    poll = partial(_poll, enricher=enricher, gateway=gateway, store=store, now=now,
                   lookback=lookback, backfill=backfill)  # fmt: skip
    stats.contacts = await poll(contacts)
    stats.leads = await poll(leads)
    return stats
