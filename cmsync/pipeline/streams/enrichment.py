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

Who has a person's email comes from the customer listing the pass's sweep has just read
(``customers.Listing``, handed over by ``SyncPass`` if at most ``LISTING_KEPT`` old): no
request per person. The listing is ChartMogul's truth as of the sweep, so an email it does
not have is on no customer, with one exception the pass makes itself: the Closed-Won step,
between the sweep and this one, creates customers in cmsync's data source, and that data
source alone is listed again (its pages only) before the first person is looked up, unless
the pass says its Closed-Won step, right after the sweep, imported nothing (``relist``
False). Without a listing (a daemon's enrichment job after its sweep's listing was used or
went stale), each email is asked for once per run (``customers/search``; the email travels
as a query parameter, never inside SOQL), and a page with more unknown emails than
``directory_after`` lists every customer once instead, 200 a call, and looks the rest of
the run's emails up in that list. Both listings, the sweep's and this one, are kept on disk
(``email_directory``) and a page of people reads the rows of its own emails: what is held
for the run is only what cost a request (the searches, the customers' figures), for a first
pass reads every Contact of the org (about 200,000 at 100,000 Accounts). A stale listing is
dropped before the step (``fresh``), not held through it.

The customer's MRR, status and UUID are those of its record as listed: the record is the
authority for them. Plan and subscription start are in no listing (the customer record has no
plan and no lifetime value: ChartMogul's "List Customers",
dev.chartmogul.com/reference/customers/list): they are the customer's as its Account shows
them, from the account state the activities step keeps (``enrich_figures``; the pass runs this
step after the activities steps, so a first pass finds every customer's state). Only a
customer with no plan there (no paid movement: a lead, a trial, a free plan) whose invoices
made a subscription has its subscriptions read, once a run, whatever the number of its
people, side by side within the client's rate limit and connection cap. The lifetime value is
what the customer's invoices add up to (ChartMogul's ``ltv`` is an account-wide metric, not
the customer's): read one customer at a time, until the run has more customers to read than
``invoices_after`` (a first run, a bulk import of Contacts); then every invoice is listed
once, 200 a call (each names its ``customer_uuid``: "List Invoices",
dev.chartmogul.com/reference/invoices/list), summed per customer as it is read
(``enrich_figures.Paid``), and the rest of the run takes its sums from there. When the
payments step follows in the same pass, that listing is a ``listed_invoices.ListedInvoices``
handed over by ``SyncPass``, which keeps it for the payments step, so the pass lists every
invoice once.

No customer: counted, nothing written. Several: quarantined as an ambiguous match, nothing
written (the candidates are in its payload; there is no link to choose, so the dashboard's
resolve does not apply to it). Exactly one: the person fields (``enrich_figures``) are
enqueued as an outbox update of the Contact, in the same transaction as the page's
watermark. The dispatcher's write bumps the record's SystemModstamp, so it may be read once
more; its update then has the same key and adds nothing.

``dry_run`` makes the same reads and writes nothing (not even the cursors);
``stats.planned`` lists the updates it would enqueue. A dry run's activities step stores no
account state either, so a dry run before any real one reads the subscriptions of every
customer that has one and shows their main subscription's plan and start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.config import PersonFieldMap
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.streams.customers import Listing
from cmsync.pipeline.streams.email_directory import EmailDirectory, Listed
from cmsync.pipeline.streams.enrich_figures import (
    Paid,
    PersonFigures,
    figures_of,
    paid,
    person_payload,
    person_update,
    reads_subscriptions,
    subscription_facts,
)
from cmsync.pipeline.streams.listed_invoices import ListedInvoices
from cmsync.progress import NO_METER, Meter
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.incremental import changed_records
from cmsync.salesforce.soql import identifier, soql
from cmsync.storeio import in_store
from state import (
    AccountState,
    OutboxItem,
    QuarantineItem,
    QuarantineKind,
    Store,
    System,
    Transaction,
)
from state.incremental import Watermark

__all__ = [
    "BACKFILL_DAYS",
    "CONTACTS_CURSOR",
    "DIRECTORY_AFTER",
    "INVOICES_AFTER",
    "LEADS_CURSOR",
    "LISTING_KEPT",
    "EnrichmentStats",
    "fresh",
    "poll_enrichment",
]

CONTACTS_CURSOR = "salesforce.contacts"
LEADS_CURSOR = "salesforce.leads"
BACKFILL_DAYS = 30  # how far back the first run looks
DIRECTORY_AFTER = 200  # unknown emails in one page above which all customers are listed once
INVOICES_AFTER = 200  # customers to read in a run above which all invoices are listed once
LISTING_KEPT = 900.0  # seconds a sweep's listing is taken as ChartMogul's truth for emails
_READERS = 20  # lookups out at once: the transport's cap (10 in flight) keeps them waiting

_NOTHING_PAID = Paid()

T = TypeVar("T")


@dataclass
class EnrichmentStats:
    """What one enrichment poll did (or, in a dry run, would do)."""

    contacts: int = 0  # new Contacts read
    leads: int = 0  # newly converted Leads read
    no_email: int = 0
    searches: int = 0  # ChartMogul searches: one per distinct email the sweep did not list
    listed: int = 0  # customers listed instead of searched for (a page of many new emails)
    customers_read: int = 0  # customers whose figures were taken: once each
    subscriptions_read: int = 0  # of them, those with no plan in their account state
    invoices_listed: int = 0  # invoices listed instead of read per customer (many to read)
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
            f"customers_read={self.customers_read} "
            f"subscriptions_read={self.subscriptions_read} invoices_listed={self.invoices_listed} "
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
    """One poll's ChartMogul lookups, each made once per run: who has an email, and each
    matched customer's figures."""

    def __init__(
        self,
        chartmogul: ChartMogulClient,
        store: Store,
        plan_names: dict[str, str],
        stats: EnrichmentStats,
        directory_after: int,
        listing: Listing | None,
        relist: str | None,
        invoices_after: int = INVOICES_AFTER,
        invoices: ListedInvoices | None = None,
    ) -> None:
        self.chartmogul = chartmogul
        self.store = store
        self.plan_names = plan_names  # plan external id (and uuid) -> name, as on the Account
        self.invoices = invoices  # the listing to sum, shared with the payments step
        self.stats = stats
        self.directory_after = directory_after
        self.listing = listing
        # The page's emails (casefolded) -> customers: per page, for a first pass reads every
        # Contact of the org. Only the searches (requests) are kept for the run.
        self.found: dict[str, Sequence[Listed]] = {}
        self.searched: dict[str, list[Listed]] = {}  # casefolded email -> customers, searched
        self.directory: EmailDirectory | None = None  # every customer, by email, on disk
        self.figures: dict[str, PersonFigures] = {}  # customer uuid -> figures
        self.relist = relist  # a data source to list again: customers made since the sweep
        self.recent: EmailDirectory | None = None  # its customers by email, listed again
        self.invoices_after = invoices_after
        self.totals: dict[str, Paid] | None = None  # every customer's invoices, summed

    async def prepare(self, records: list[dict[str, Any]]) -> None:
        """Before a page: find every email's customers, then read the figures of those matched
        (the page's lookups side by side, each made once a run)."""
        emails: dict[str, str] = {}  # casefolded -> as written, for the search
        for record in records:
            email = str(record.get("Email") or "").strip()
            if email:
                emails.setdefault(email.casefold(), email)
        self.found = {}
        if self.listing is not None:
            if self.relist is not None and emails:  # once, before the first lookup
                self.recent, self.relist = await self._list_all(self.relist), None
            self.found = self._listed(list(emails))
        else:
            self.found = {key: self.searched[key] for key in emails if key in self.searched}
        unknown = [key for key in emails if key not in self.found]
        if self.directory is None and len(unknown) > self.directory_after:
            self.directory = await self._list_all()
        if self.directory is not None:
            listed = self.directory.get_many(unknown)
            for key in unknown:
                self.found[key] = listed.get(key, ())
        else:
            self.stats.searches += len(unknown)
            found = await _side_by_side(
                [partial(self.chartmogul.search_customers, emails[key]) for key in unknown]
            )
            for key, customers in zip(unknown, found, strict=True):
                self.found[key] = self.searched[key] = [Listed.of(c) for c in customers]
        matched = {c[0].uuid: c[0] for key in emails if len(c := self.found[key]) == 1}
        unread = [customer for uuid, customer in matched.items() if uuid not in self.figures]
        # Customers read one by one add up over the pages: past the threshold, list them all.
        if self.totals is None and self.stats.customers_read + len(unread) > self.invoices_after:
            self.totals = await self._sum_invoices()
        uuids = [customer.uuid for customer in unread]
        states = await in_store(self.store, lambda tx: tx.accounts.get_many(uuids)) if uuids else {}
        self.stats.customers_read += len(unread)
        read = await _side_by_side(
            [partial(self._figures_of, c, states.get(c.uuid)) for c in unread]
        )
        for customer, figures in zip(unread, read, strict=True):
            self.figures[customer.uuid] = figures

    def _listed(self, keys: list[str]) -> dict[str, Sequence[Listed]]:
        """The customers with each email as the sweep listed them, those of the data source
        listed again since (``relist``) as they are now."""
        assert self.listing is not None and self.listing.emails is not None
        listed = self.listing.emails.get_many(keys)
        recent = self.recent.get_many(keys) if self.recent is not None else {}
        found: dict[str, Sequence[Listed]] = {}
        for key in keys:
            known = {c.uuid: c for c in listed.get(key, ())}
            known.update((c.uuid, c) for c in recent.get(key, ()))
            found[key] = list(known.values()) if known else ()
        return found

    async def _list_all(self, data_source_uuid: str | None = None) -> EmailDirectory:
        """Every customer (of the data source) by email, on disk (``email_directory``)."""
        directory = EmailDirectory()
        try:
            async for page in self.chartmogul.customer_pages(data_source_uuid=data_source_uuid):
                self.stats.listed += len(page.entries)
                directory.add(page.entries)
        except BaseException:
            directory.close()
            raise
        return directory

    def close(self) -> None:
        """Remove the directories listed (their files)."""
        for directory in (self.directory, self.recent):
            if directory is not None:
                directory.close()
        self.directory = self.recent = None

    async def _sum_invoices(self) -> dict[str, Paid]:
        """Every customer's invoices summed, from one listing of them all (the pass's, kept
        for its payments step, or one of its own)."""
        listing = self.invoices or ListedInvoices(self.chartmogul, head=None)
        totals = await listing.sum()
        self.stats.invoices_listed += listing.invoices
        return totals

    async def _figures_of(self, customer: Listed, state: AccountState | None) -> PersonFigures:
        """One customer's figures: its invoices' sum (listed, or read), then its subscriptions
        only if its account state has no plan and its invoices made one."""
        if self.totals is not None:
            # Taken out: a customer's figures are made once a run (``figures``), and the sum
            # of every customer held to the end was 20 MB of a first pass over 100,000.
            summed = self.totals.pop(customer.uuid, _NOTHING_PAID)
        else:
            summed = paid(
                [
                    invoice
                    async for page in self.chartmogul.invoice_pages(customer_uuid=customer.uuid)
                    for invoice in page.entries
                ]
            )
        subscriptions = []
        if reads_subscriptions(state, summed):
            self.stats.subscriptions_read += 1
            subscriptions = [s async for s in self.chartmogul.iter_subscriptions(customer.uuid)]
        facts = subscription_facts(state, self.plan_names, subscriptions)
        return figures_of(customer, facts, summed)

    def person(self, source: _Source, record: dict[str, Any], page: _Page) -> None:
        record_id = str(record["Id"])
        target_id = record_id if source.via is None else str(record[source.via])
        email = str(record.get("Email") or "").strip()
        if not email:
            self.stats.no_email += 1
            return
        customers = self.found[email.casefold()]
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
        figures = self.figures[customers[0].uuid]
        payload = person_payload(figures, source.fields)
        read = "" if source.via is None else f"; converted {source.sobject} {record_id}"
        if self.stats.dry_run:
            values = ", ".join(f"{k}={v}" for k, v in payload.items())
            self.stats.planned.append(
                f"update {source.target} {target_id} ({email}{read}): {values}"
            )
        reason = f"enrichment: figures of the ChartMogul customer with email {email}{read}"
        page.rows.append(person_update(source.target, target_id, payload, reason))


async def _side_by_side(calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
    """Each call's answer, in order, at most ``_READERS`` out at once (the client's rate
    limit and connection cap still hold): one after the other, each waited out a round trip
    the limit did not ask for. One failing fails the lot, the others cancelled."""
    gate = asyncio.Semaphore(_READERS)

    async def gated(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    tasks = [asyncio.ensure_future(gated(call)) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


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
    progress: Meter = NO_METER,
) -> int:
    """Enrich one kind of person; returns how many were read (and adds them to ``progress``)."""
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
            enricher.person(source, record, page)
        if not stats.dry_run:
            work = partial(_commit, page=page, cursor=after.dumps(), name=source.cursor)
            stats.enqueued += await in_store(store, work)
        progress.advanced(len(records), 1)
    return read


def fresh(listing: Listing | None) -> Listing | None:
    """The sweep's listing if it may be taken as ChartMogul's truth for emails, else None (a
    daemon's sweep long ago, or a long Closed-Won step since: customers made since would be
    missed); a stale one's emails are dropped (``Listing.drop_emails``)."""
    if listing is not None and time.monotonic() - listing.started > LISTING_KEPT:
        listing.drop_emails()
        return None
    return listing


async def poll_enrichment(
    poll: PollContext,
    *,
    now: datetime,
    listing: Listing | None = None,
    backfill_days: int = BACKFILL_DAYS,
    directory_after: int = DIRECTORY_AFTER,
    invoices_after: int = INVOICES_AFTER,
    invoices: ListedInvoices | None = None,
    relist: bool = True,
) -> EnrichmentStats:
    """Enrich the Contacts and converted Leads that are new since the cursors; ``listing``,
    the customers the pass's sweep has just listed, says who has each email; ``invoices``,
    the invoice listing to sum if every invoice is to be listed (kept for the payments step);
    ``relist`` False: nothing was made in cmsync's data source since ``listing``."""
    settings, gateway, store = poll.settings, poll.gateway, poll.store
    stats = EnrichmentStats(dry_run=poll.dry_run)
    if not settings.enrichment.enabled:
        stats.disabled = True
        return stats
    listing = fresh(listing)
    made = settings.closed_won.enabled and relist
    made_since = settings.chartmogul.data_source_uuid if made else None
    enricher = _Enricher(
        poll.chartmogul, store, poll.context.plan_names, stats, directory_after, listing,
        made_since, invoices_after, invoices,
    )  # fmt: skip
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
    enrich = partial(_poll, enricher=enricher, gateway=gateway, store=store, now=now,
                     lookback=lookback, backfill=backfill, progress=poll.progress)  # fmt: skip
    try:
        stats.contacts = await enrich(contacts)
        stats.leads = await enrich(leads)
    finally:
        enricher.close()
    return stats
