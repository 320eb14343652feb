"""Closed-Won Opportunities into ChartMogul: a customer, a plan and one paid invoice per deal.

Theory of operation. The poller reads won Opportunities changed since its watermark
(``changed_records`` over SystemModstamp, filter ``IsWon = true`` and no ``CM_Sync_Key__c``:
the expansion Opportunities cmsync itself writes come from ChartMogul already; cursor
``salesforce.closed_won``) and, per page, decides each deal, then commits the page's links,
outbox rows, quarantine entries and the advanced watermark in one store transaction. The
pages are decided in chunks of about ``CHUNK_DEALS`` deals: what deciding a chunk's deals
needs is read for all of them before the first is decided (``prefetch``, ``lookups``): the
store's imported deals and links, the Accounts' first Contact emails by SOQL IN lists, and
the customers they can name from one customer listing, read once per run and indexed
whole on disk (``named_index``); never a request per deal where one of those holds the
answer. A chunk is dropped once its pages are committed, so a first pass over a large org
holds a chunk of deals, not its whole window (84,004 won deals over 100,000 Accounts). The
poll reads ChartMogul but writes nothing there: a deal to import becomes one outbox effect
(``effect``, target ChartMogul), which the dispatcher's ChartMogul executor sends
(``dispatch.closed_won_send``: the plan, the customer, the invoice). For each deal, in order:

1. its era (``deal.Horizon``): a deal closed before the backfill window is history
   and costs no call at all;
2. already imported? An invoice whose external id is the Opportunity Id means yes (read only
   where it can exist: the store records the deal, or some customer names its Account; an
   import nobody recorded is refused its external id when sent, and found then): nothing is
   imported again, whatever was edited since. A changed Amount is reported (``amount_changed``,
   a note and a warning), never re-imported: changing a running contract is a decision for a
   person in ChartMogul. The link and the Account's UUID are still made sure of, which is how a
   crash between the import and the commit heals;
3. refused (no Account, no Amount, not positive): quarantined with the reason;
4. the customer: the Account's stored link (unless ChartMogul no longer has that customer:
   merged into another, or deleted; then it is looked for as for an unlinked Account, and the
   link follows the survivor of a merge, which carries the Account Id in its
   ``external_ids``, or is replaced), else the customer its ``CM_Customer_UUID__c``
   names, else the customer whose external id is the Account Id in the data source, else the
   one customer with the email of the Account's first Contact (if no other Account matches
   it; several, or one matching elsewhere, is for an operator: quarantined), else a new one
   (made by the effect).
   A backfill deal whose Account already has a paying customer is history: that customer's
   billing is in ChartMogul already, from wherever it comes;
5. the plan (``plan_key``): found in the customer's data source, else one ``create_plans``
   defines (the effect creates it), else the deal is quarantined saying which plan is missing
   (before any customer is made);
6. the effect, enqueued with the watermark. When it is sent: the plan and the customer made if
   needed, then the import: one invoice, one subscription line item, one successful payment.
   ChartMogul has no dry run, so a refused invoice (4xx) is known only then: the customer this
   deal created is deleted again if it holds no invoice, and the deal is quarantined with
   ChartMogul's reason (nothing is left that nothing uses). Then, with the row's fate, the
   imported deal is recorded (``tx.deals``; also when step 2 finds it imported) and the link
   (Account <-> customer) and an outbox update of the Account with the customer's UUID and its
   ChartMogul URL, nothing more. The figures (MRR, ARR, status, since) are not read back:
   ChartMogul processes an import "within a few minutes" (help article 360002155580), so a
   read right after it shows the customer as it was (a new one at MRR 0, a lead), and writing
   that would put a zero over the Account's real figures until the next sweep. They arrive
   the way every other change does: the deal's movement through the activities feed, the
   record through the customer sweep, once ChartMogul has processed it.

After the won deals, the same poll looks for imported deals that unwound (left Closed Won, or
were deleted): each becomes a problem an operator voids or keeps (``unwound``).

Nothing is ever created twice: ChartMogul refuses a second customer, invoice, line item or
transaction with the same external id, and the client's creates look up what a lost attempt
created. A crash before the page's commit replays the page from its watermark (step 2 or the
external ids turn the replay into lookups); a crash while an effect is sent leaves its row in
flight, requeued at the next start and sent again, finding what the cut-short send made. A
transient failure of a read fails the step and the page is replayed; of a send, the row is
retried with the outbox's backoff, and dead-lettered after ``max_attempts``.

``dry_run`` reads both systems the same way and writes nothing anywhere (no ChartMogul create,
no store write, not even the cursor); ``stats.planned`` lists what would be done.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

from cmsync.chartmogul.errors import ChartMogulClientError
from cmsync.chartmogul.records import Invoice
from cmsync.config import Settings
from cmsync.errors import FatalError
from cmsync.pipeline.closed_won.deal import (
    Deal,
    Era,
    Horizon,
    Interval,
    line_amount_cents,
    plan_key,
    refusal,
)
from cmsync.pipeline.closed_won.effect import DealImport, import_row
from cmsync.pipeline.closed_won.lookups import CustomerLookups, ListedCustomers, primary_emails
from cmsync.pipeline.closed_won.steps import (
    ChartMogulSide,
    ClosedWonStats,
    DealRefused,
    Holder,
    money,
)
from cmsync.pipeline.closed_won.unwound import watch_unwound
from cmsync.pipeline.context import SyncContext
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.streams.departed import drop_link, follow_merge
from cmsync.pipeline.translate import AccountTarget, Translator
from cmsync.salesforce.incremental import changed_records
from cmsync.salesforce.soql import identifier
from cmsync.storeio import in_store
from state import (
    DealStatus,
    ImportedDeal,
    LinkConflictError,
    MatchMethod,
    OutboxItem,
    QuarantineItem,
    QuarantineKind,
    System,
    Transaction,
)
from state.effects import AccountField, FieldValue
from state.incremental import Watermark

__all__ = [
    "BACKFILL_DAYS",
    "CHUNK_DEALS",
    "CURSOR",
    "ClosedWonStats",
    "DealWrites",
    "commit_writes",
    "dump_cursor",
    "link",
    "load_cursor",
    "poll_closed_won",
    "quarantine",
    "remember",
]

log = logging.getLogger("cmsync.closed_won")

CURSOR = "salesforce.closed_won"
BACKFILL_DAYS = 30  # default backfill window before the poller's first run (see Horizon)
# Deals decided per chunk: whole pages are read until a chunk holds at least this many. Its
# IN lists and store reads stay batched (a few SOQL queries a chunk), and its memory, not the
# window's, is what the step holds.
CHUNK_DEALS = 2_000


def load_cursor(text: str | None) -> tuple[Watermark, date | None]:
    """The stored watermark and the poller's start date (None before its first run)."""
    watermark = Watermark.loads(text)
    since = json.loads(text).get("since") if text else None
    return watermark, date.fromisoformat(since) if isinstance(since, str) else None


def dump_cursor(watermark: Watermark, since: date) -> str:
    """The cursor's stored form: the watermark's own JSON plus the start date, as its last
    member. Written once, not parsed and written again: a first pass's window keeps tens of
    thousands of keys (every won deal stamped within the lookback of the newest), and that
    round trip, with every page, made a list and two strings per key."""
    return watermark.dumps(since=since.isoformat())


@dataclass
class DealWrites:
    """A page's store effects, committed with its watermark (or one import's, with its
    outbox row's fate: ``dispatch.closed_won_send``)."""

    links: list[tuple[str, str, MatchMethod]] = field(default_factory=list)
    rows: list[OutboxItem] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)
    # (gone customer, its Account, the survivor the link follows or None to replace it)
    stale: list[tuple[str, str, str | None]] = field(default_factory=list)
    deals: list[ImportedDeal] = field(default_factory=list)
    imports: list[OutboxItem] = field(default_factory=list)  # the deals' ChartMogul effects


class _Run:
    """One poll: the settings, the ChartMogul side, and the per-deal decisions."""

    def __init__(
        self,
        side: ChartMogulSide,
        context: SyncContext,
        translator: Translator,
        settings: Settings,
        horizon: Horizon,
    ) -> None:
        self.side = side
        self.context = context
        self.translator = translator
        self.settings = settings
        self.won = settings.closed_won
        self.horizon = horizon
        self.stats = side.stats
        self.dry_run = side.dry_run
        self.plan_line = side.plan_line

    # --- one deal -----------------------------------------------------------------------

    async def deal(self, deal: Deal, writes: DealWrites, version: str) -> None:
        try:
            await self._deal(deal, writes, version)
        except DealRefused as exc:
            self._quarantine(deal, str(exc), writes)
        except ChartMogulClientError as exc:  # a 4xx: this deal's request is wrong as sent
            self._quarantine(deal, f"ChartMogul refused it: {exc}", writes)

    async def _deal(self, deal: Deal, writes: DealWrites, version: str) -> None:
        era = self.horizon.era(deal.close_date) if deal.close_date else None
        if era is Era.HISTORY:
            self.stats.history += 1
            return
        if self._may_be_imported(deal):
            existing = await self.side.invoice(deal.opportunity_id)
            if existing is not None:
                await self._already_imported(deal, existing, writes)
                return
        reason = refusal(deal)
        if reason is not None:
            raise DealRefused(reason)
        holder = await self.side.holder(deal)
        if era is Era.BACKFILL and holder is not None and holder.pays:
            self.stats.history += 1
            self.plan_line(
                f"skip Opportunity {deal.opportunity_id}: closed {deal.close_date} before "
                f"cmsync started ({self.horizon.since}) and {holder.label} is billed already"
            )
            return
        # The plan before the customer: a deal refused for its plan creates no customer.
        key, chosen_by = plan_key(deal, self.won)
        ds = holder.data_source_uuid if holder is not None else self.side.data_source_uuid
        plan = await self.side.plan(key, chosen_by, ds)
        if not self.dry_run:
            # Decided: the ChartMogul writes are an effect the dispatcher sends
            # (``dispatch.closed_won_send``), enqueued with the page's watermark.
            account_id = deal.account_id
            assert account_id is not None
            email = None if holder is not None else await self.side.primary_email(account_id)
            stale = self.side.stale.get(account_id)
            decided = DealImport(deal, key, chosen_by, holder, ds, email, stale)
            writes.imports.append(import_row(decided, version))
            self.stats.queued += 1
            return
        if holder is None:
            holder = await self.side.create_customer(deal)
        await self.side.import_deal(deal, holder, plan)
        self._link(deal, holder, writes)

    def _may_be_imported(self, deal: Deal) -> bool:
        """Whether ChartMogul may hold the deal's invoice: the store records it imported, or
        some customer names its Account. An invoice goes to the customer a run chose for the
        deal, so where no customer could be chosen none was, and the import is refused a
        second time anyway (its external id), which the executor then finds."""
        if deal.opportunity_id in self.side.imported:
            return True
        return deal.account_id is None or deal.account_id not in self.side.unowned

    async def prefetch(self, deals: list[Deal]) -> None:
        """Read what deciding ``deals`` (a chunk) needs, for all of them at once: the imported deals
        and the Accounts' links (the store), the Accounts' first Contact emails (SOQL by IN
        lists), and the customers those can name (one listing): see ``lookups``."""
        live = [
            d for d in deals
            if d.account_id and not (d.close_date and self.horizon.era(d.close_date) is Era.HISTORY)
        ]  # fmt: skip
        if not live:
            return
        accounts = list(dict.fromkeys(d.account_id for d in live if d.account_id))
        opportunities = [d.opportunity_id for d in live]

        def read(tx: Transaction) -> tuple[set[str], dict[str, str]]:
            imported = set(tx.deals.get_many(opportunities))
            links = {a: link.customer_uuid for a, link in tx.links.by_accounts(accounts).items()}
            return imported, links

        side = self.side
        side.imported, links = await in_store(side.store, read)
        emails = await primary_emails(side.gateway, accounts)
        side.emails = emails  # the chunk's Accounts (one a deal lacks is read by itself)
        side.unowned = set()
        uuid_fields = {d.account_id: d.uuid_field for d in live if d.uuid_field}
        await side.lookups.read(
            uuids=[*links.values(), *uuid_fields.values()],
            external_ids=accounts,
            emails=[e for e in emails.values() if e],
        )
        if isinstance(side.lookups, ListedCustomers):
            listed = side.lookups
            for account in accounts:
                email = emails.get(account)
                named = (
                    account in links
                    or listed.has(uuid_fields.get(account))
                    or await listed.by_external_id(account, side.data_source_uuid) is not None
                    or bool(email and await listed.by_email(email))
                )
                if not named:
                    side.unowned.add(account)

    def _quarantine(self, deal: Deal, reason: str, writes: DealWrites) -> None:
        self.stats.quarantined += 1
        self.plan_line(f"quarantine Opportunity {deal.opportunity_id}: {reason}")
        quarantine(deal, reason, writes)

    def _remember(
        self, deal: Deal, invoice: Invoice, customer_uuid: str | None, writes: DealWrites
    ) -> None:
        """Record the imported deal, so that its unwinding is noticed (``unwound``)."""
        if not self.dry_run:
            remember(deal, invoice, customer_uuid, writes)

    def _link(self, deal: Deal, holder: Holder, writes: DealWrites) -> None:
        """Link the Account to its customer; write its UUID and URL on the Account (never
        figures: see the module doc, step 6)."""
        account_id = deal.account_id
        assert account_id is not None
        uuid_field = self.settings.fields.account.customer_uuid
        if holder.uuid is None:
            self.plan_line(f"link Account {account_id} to the new customer; set {uuid_field}")
            return
        if deal.uuid_field != holder.uuid:
            self.plan_line(f"update Account {account_id}: {uuid_field} = {holder.uuid}")
        if self.dry_run:
            return
        link(deal, holder, self.translator, self.context.org.target(account_id), writes)

    async def _already_imported(self, deal: Deal, invoice: Invoice, writes: DealWrites) -> None:
        self.stats.already_imported += 1
        item = next(
            (i for i in invoice.line_items if i.subscription_external_id == deal.opportunity_id),
            None,
        )
        interval = self.side.intervals.get(item.plan_uuid or "") if item is not None else None
        if item is not None and interval is not None and deal.amount is not None:
            expected = line_amount_cents(deal.amount, interval, self.won.term_months)
            if expected != item.amount_in_cents:
                self.stats.amount_changed += 1
                note = (
                    f"Opportunity {deal.opportunity_id}: Amount is now {deal.amount} "
                    f"({money(expected, invoice.currency)} per {interval.describe()}), "
                    f"ChartMogul has {money(item.amount_in_cents, invoice.currency)} from its "
                    "import; not re-imported: change the subscription in ChartMogul if the "
                    "contract changed"
                )
                self.stats.notes.append(note)
                log.warning("%s", note)
        self._remember(deal, invoice, None, writes)  # also deals imported before they were kept
        customer_uuid, account_id = invoice.customer_uuid, deal.account_id
        if customer_uuid is None or account_id is None:
            return
        link = await in_store(self.side.store, lambda tx: tx.links.by_account(account_id))
        if link is not None:
            return  # linked already (to this customer, or an operator chose another)
        customer = await self.side.customer(customer_uuid)
        if customer is None:
            return
        # Imported, then the run stopped before its commit: link it as it was chosen then.
        if account_id in (customer.external_id, *customer.external_ids):
            how = MatchMethod.EXTERNAL_ID
        elif deal.uuid_field == customer.uuid:
            how = MatchMethod.UUID_FIELD
        else:
            how = MatchMethod.CONTACT_EMAIL  # the only other way a customer is chosen
        self._link(deal, Holder.of(customer, self.side.data_source_uuid, how), writes)


def quarantine(deal: Deal, reason: str, writes: DealWrites) -> None:
    """The deal set aside with ``reason``, and what it was, for the operator."""
    writes.quarantine.append(
        QuarantineItem(
            kind=QuarantineKind.BAD_RECORD,
            source=System.SALESFORCE,
            record_key=deal.opportunity_id,
            reason=f"Closed-Won Opportunity {deal.name!r}: {reason}",
            payload={
                "object": "Opportunity",
                "id": deal.opportunity_id,
                "name": deal.name,
                "account_id": deal.account_id,
                "amount": None if deal.amount is None else str(deal.amount),
                "close_date": deal.close_date.isoformat() if deal.close_date else None,
                "type": deal.type,
            },
        )
    )


def remember(deal: Deal, invoice: Invoice, customer_uuid: str | None, writes: DealWrites) -> None:
    """The imported deal, recorded with the page (or the send) so that its unwinding is
    noticed (``unwound``)."""
    customer_uuid = customer_uuid or invoice.customer_uuid  # an import's answer has none
    if deal.account_id is None or customer_uuid is None:
        return
    ours = [i for i in invoice.line_items if i.subscription_external_id == deal.opportunity_id]
    writes.deals.append(
        ImportedDeal(
            opportunity_id=deal.opportunity_id,
            account_id=deal.account_id,
            customer_uuid=customer_uuid,
            invoice_uuid=invoice.uuid,
            amount_in_cents=sum(i.amount_in_cents for i in ours or invoice.line_items),
            currency=invoice.currency,
        )
    )


def link(
    deal: Deal, holder: Holder, translator: Translator, target: AccountTarget, writes: DealWrites
) -> None:
    """The Account's link to its customer, and an update of its UUID and URL (never figures:
    see the module doc, step 6)."""
    account_id = deal.account_id
    assert account_id is not None and holder.uuid is not None
    if holder.stale is not None:
        survivor = holder.uuid if holder.survives else None
        writes.stale.append((holder.stale, account_id, survivor))
    if holder.link_by is not None:
        writes.links.append((holder.uuid, account_id, holder.link_by))
    values: dict[AccountField, FieldValue] = {AccountField.CUSTOMER_UUID: holder.uuid}
    if holder.url:
        values[AccountField.URL] = holder.url
    writes.rows.append(
        translator.update_row(
            target,
            values,
            key=f"closed_won|{deal.opportunity_id}|{holder.uuid}",
            reason=f"Closed-Won Opportunity {deal.opportunity_id} is {holder.label}'s",
        )
    )


def _commit(tx: Transaction, writes: DealWrites, cursor: str) -> int:
    """A page's writes with its watermark: the deals' import effects, and what the deals
    found imported already or refused leave in the store."""
    enqueued = commit_writes(tx, writes)
    tx.outbox.enqueue(writes.imports)
    tx.cursors.set(CURSOR, cursor)
    return enqueued


def commit_writes(tx: Transaction, writes: DealWrites) -> int:
    """Links, quarantine entries, imported deals and Account updates; the updates enqueued."""
    refused: set[str] = set()
    for stale, _, survivor in writes.stale:  # the Account's customer is gone from ChartMogul
        if survivor is None or not follow_merge(tx, stale, survivor):
            drop_link(tx, stale)
    for uuid, account_id, how in writes.links:
        try:
            tx.links.put(uuid, account_id, how)
        except LinkConflictError as exc:  # linked meanwhile (an operator, the sweep)
            refused.add(account_id)
            tx.quarantine.add(  # keyed as the sweep keys its matches: resolving links them
                QuarantineItem(
                    kind=QuarantineKind.AMBIGUOUS_MATCH,
                    source=System.CHARTMOGUL,
                    record_key=uuid,
                    reason=f"a Closed-Won deal of Account {account_id} went to it, but {exc}",
                    candidates=(account_id,),
                )
            )
    for item in writes.quarantine:
        tx.quarantine.add(item)
    for deal in writes.deals:  # each one won now
        tx.deals.record(deal)
        if tx.deals.mark(deal.opportunity_id, DealStatus.LIVE, was=DealStatus.UNWOUND):
            # Back in Closed Won before anyone chose: its invoice is right again.
            tx.quarantine.resolve_open(
                deal.opportunity_id, QuarantineKind.DEAL_UNWOUND, "won again: nothing to do"
            )
    return tx.outbox.enqueue(r for r in writes.rows if r.target_key not in refused)


def _won(settings: Settings) -> str:
    """Won deals made by people: cmsync's own expansion Opportunities (Closed Won by default,
    carrying its sync key) come from ChartMogul, and importing them would count them twice."""
    return f"IsWon = true AND {identifier(settings.fields.sync_key)} = null"


def _fields(settings: Settings) -> list[str]:
    plan_field = settings.closed_won.plan_field
    return [
        "Name", "AccountId", "Amount", "CloseDate", "Type",
        *([plan_field] if plan_field else []),
        "Account.Name", "Account.BillingCountry", "Account.CreatedDate", "Account.Website",
        f"Account.{settings.fields.account.customer_uuid}",
    ]  # fmt: skip


async def poll_closed_won(
    poll: PollContext,
    *,
    now: datetime,
    backfill_days: int = BACKFILL_DAYS,
    lookups: CustomerLookups | None = None,
    chunk_deals: int = CHUNK_DEALS,
) -> ClosedWonStats:
    """Import the won Opportunities changed since the cursor; see the module doc.
    ``lookups``: where the deals' customers are found (None: one listing, ``lookups``);
    ``chunk_deals``: the deals decided per chunk (whole pages, at least this many)."""
    chartmogul, gateway, store, context, translator, settings, dry_run = (
        poll.chartmogul, poll.gateway, poll.store, poll.context, poll.translator,
        poll.settings, poll.dry_run,
    )  # fmt: skip
    stats = ClosedWonStats(dry_run=dry_run)
    if not settings.closed_won.enabled:
        stats.disabled = True
        return stats
    ds = settings.chartmogul.data_source_uuid
    if ds is None:
        raise FatalError(
            "chartmogul.data_source_uuid is not set: Closed-Won deals need a custom (Import "
            "API) data source to create customers and subscriptions in"
        )
    watermark, since = load_cursor(await in_store(store, lambda tx: tx.cursors.get(CURSOR)))
    since = since or now.astimezone(UTC).date()  # the first run starts the poller's era
    intervals = {
        key: Interval(plan.interval_count, plan.interval_unit)
        for key, plan in context.plans.items()
    }
    own = ListedCustomers(chartmogul) if lookups is None else None  # closed at the end
    side = ChartMogulSide(
        chartmogul, gateway, store, settings,
        data_source_uuid=ds, stats=stats, intervals=intervals, org=context.org,
        lookups=lookups or own,
    )  # fmt: skip
    run = _Run(side, context, translator, settings, Horizon(since, backfill_days))
    try:
        await _window(run, poll, watermark, since, now, chunk_deals)
    finally:
        if own is not None:
            own.close()  # its index, on disk
    await watch_unwound(gateway, store, settings, stats, now=now, plan_line=side.plan_line)
    return stats


async def _window(
    run: _Run, poll: PollContext, watermark: Watermark, since: date, now: datetime, chunk_deals: int
) -> None:
    """The won deals changed since ``watermark``, decided chunk by chunk."""
    gateway, settings = poll.gateway, poll.settings
    plan_field = settings.closed_won.plan_field
    uuid_field = settings.fields.account.customer_uuid
    pages = changed_records(
        gateway, "Opportunity", _fields(settings), where=_won(settings), watermark=watermark,
        lookback=timedelta(seconds=settings.sync.lookback_seconds), now=now,
    )  # fmt: skip
    # Whole pages are read until a chunk holds ``chunk_deals`` deals, then what deciding
    # them needs is read for all of the chunk (``_Run.prefetch``), then each page decided
    # and committed with its watermark, and the chunk dropped.
    # Deciding is the long part of a first pass (a lookup or two per deal): the step's meter
    # counts the deals decided, of those read so far.
    chunk: list[tuple[list[tuple[Deal, str]], Watermark]] = []
    held = read = read_pages = 0
    async for records, after in pages:
        page = [
            (Deal.from_row(row, plan_field=plan_field, uuid_field=uuid_field),
             str(row.get("SystemModstamp") or ""))
            for row in records
        ]  # fmt: skip
        chunk.append((page, after))
        held, read, read_pages = held + len(page), read + len(page), read_pages + 1
        if held >= chunk_deals:
            poll.progress.expect(records=read, pages=read_pages)
            await _decide(run, poll, chunk, since)
            chunk, held = [], 0
    if chunk:
        poll.progress.expect(records=read, pages=read_pages)
        await _decide(run, poll, chunk, since)


async def _decide(
    run: _Run, poll: PollContext, chunk: list[tuple[list[tuple[Deal, str]], Watermark]], since: date
) -> None:
    """A chunk's pages: what they need read together, then each decided and committed with
    its watermark."""
    stats, progress = run.stats, poll.progress
    await run.prefetch([deal for page, _ in chunk for deal, _ in page])
    for page, after in chunk:
        writes = DealWrites()
        for deal, version in page:
            stats.read += 1
            await run.deal(deal, writes, version)
            progress.advanced(1)
        if not run.dry_run:
            work = partial(_commit, writes=writes, cursor=dump_cursor(after, since))
            stats.enqueued += await in_store(run.side.store, work)
        progress.advanced(pages=1)
