"""Failed payments and their recovery, from invoice transactions.

ChartMogul lists invoices newest import first and has no "changed since" filter, so the poller
reads from the top until it meets the newest invoice the previous run saw (the cursor), turning
each failed payment into ``PaymentFailed`` and a later successful payment on the same invoice
into ``PaymentRecovered``. A payment added later to an older invoice does not move it to the
top, so invoices with an open failure (known from the accounts' state) are looked up again by
external id on every run, until they are recovered or, after ``failure_expiry``, taken as
settled (``FailureExpired``); not the ones this run's listing has just shown, whose payments
are already as fresh as a lookup would make them (a first run's listing shows every failure:
looking each up again cost a call per open failure, 3 s of a catch-up at the rate limit).
Signals carry natural keys: re-reading an invoice adds nothing.

The first run has no cursor and reads every invoice once (a bootstrap cost of one call per 200
invoices); later runs read only what is new.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.errors import ChartMogulClientError
from cmsync.chartmogul.records import Invoice, Page, Rejected, record_key
from cmsync.pipeline.apply import ApplyStats, apply_signals
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.streams.customers import quarantine_rejected
from cmsync.pipeline.streams.readahead import read_ahead
from cmsync.pipeline.streams.runner import Stream, run_stream
from cmsync.storeio import in_store
from state import QuarantineItem, QuarantineKind, Store, System, Transaction
from state.lifecycle import Risk
from state.signals import FailureExpired, PaymentFailed, PaymentRecovered

__all__ = [
    "CURSOR",
    "InvoicePage",
    "InvoicesAhead",
    "InvoicesRead",
    "PaymentStats",
    "PaymentStream",
    "invoice_listing",
    "invoice_page",
    "payment_signals",
    "poll_payments",
    "read_head",
]

CURSOR = "chartmogul.invoices"

PaymentSignal = PaymentFailed | PaymentRecovered | FailureExpired


@dataclass
class PaymentStats:
    invoices: int = 0
    rechecked: int = 0
    expired: int = 0
    current: int = 0  # open failures on invoices this run listed: not looked up again
    applied: ApplyStats = field(default_factory=ApplyStats)


def invoice_key(invoice: Invoice) -> str:
    return invoice.external_id or invoice.uuid


def payment_signals(invoice: Invoice) -> list[PaymentSignal]:
    """A failure per failed payment; a recovery for a success after a failure."""
    if invoice.customer_uuid is None:
        return []
    amount = sum(item.amount_in_cents for item in invoice.line_items)
    out: list[PaymentSignal] = []
    failed = False
    for tx in sorted(invoice.transactions, key=lambda t: t.date):
        if tx.type != "payment":
            continue
        if tx.result == "failed":
            failed = True
            key = invoice_key(invoice)
            out.append(PaymentFailed(invoice.customer_uuid, tx.date, key, amount, invoice.currency))
        elif failed:
            failed = False
            out.append(
                PaymentRecovered(
                    invoice.customer_uuid, tx.date, invoice_key(invoice), amount, invoice.currency
                )
            )
    return out


async def _open_failures(store: Store) -> list[tuple[str, str, datetime]]:
    """(customer uuid, invoice key, failed at) of every failed payment not yet recovered."""

    def read(tx: Transaction) -> list[tuple[str, str, datetime]]:
        states = tx.accounts.select(churn_risk=Risk.HIGH.value)
        return [
            (s.customer_uuid, str(invoice), datetime.fromisoformat(when))
            for s in states
            for invoice, when in s.memo.get("failures", ())
        ]

    return await in_store(store, read)


@dataclass(frozen=True)
class InvoicePage:
    """One page of the invoice listing, reduced to what the poller keeps of it."""

    signals: tuple[PaymentSignal, ...]
    rejected: tuple[Rejected, ...]
    invoices: int  # invoices on the page newer than the head
    newest: str | None  # the first of them
    last: bool  # the head was met, or the listing ended


async def read_head(store: Store) -> str | None:
    """The newest invoice the previous run saw (None before the first run)."""
    raw = await in_store(store, lambda tx: tx.cursors.get(CURSOR))
    head = json.loads(raw).get("head") if raw else None
    return str(head) if head is not None else None


async def invoice_listing(
    chartmogul: ChartMogulClient, head: str | None
) -> AsyncGenerator[InvoicePage, None]:
    """The invoices newer than ``head`` (every invoice without one), page by page."""

    def final(page: Page[Invoice]) -> bool:
        return not page.has_more or any(invoice.uuid == head for invoice in page.entries)

    # The next page is read while this one is used, unless this one is the last needed: a
    # first run reads every invoice, and its reads then cost no more than the rate limit.
    async with aclosing(read_ahead(chartmogul.invoice_pages(), last=final)) as pages:
        async for page in pages:
            reduced = invoice_page(page, head)
            yield reduced
            if reduced.last:
                return


def invoice_page(page: Page[Invoice], head: str | None) -> InvoicePage:
    """One page of the listing as the poller keeps it: the payment signals of the invoices
    newer than ``head``, and whether the listing ends with it (the head met, or no more)."""
    signals: list[PaymentSignal] = []
    newest: str | None = None
    count = 0
    reached = False
    for invoice in page.entries:
        if invoice.uuid == head:
            reached = True
            break
        newest = newest or invoice.uuid
        count += 1
        signals.extend(payment_signals(invoice))
    last = reached or not page.has_more
    return InvoicePage(tuple(signals), page.rejected, count, newest, last)


class InvoicesRead(Protocol):
    """The invoice listing from ``head``, read before the payments step asks for it: in the
    background (``InvoicesAhead``), or by the enrichment step of the same pass
    (``listed_invoices.ListedInvoices``)."""

    @property
    def head(self) -> str | None: ...

    def pages(self) -> AsyncIterator[InvoicePage]:
        """The pages in listing order; the reading stops with it."""
        ...

    async def cancel(self) -> None:
        """Stop reading (idempotent); what was read is dropped."""
        ...


class InvoicesAhead:
    """The invoice listing, read in the background while another step works.

    A first run lists every invoice, and that is bound by the client's rate limit (a
    catch-up of 20,000 accounts: 276 pages, 9 s) while the CPU idles; the activities step
    before it is bound by the CPU with requests to spare. Started with that step, the listing
    costs it little and the payments step then only applies. Each page is reduced to its
    payment signals as it arrives (a few small objects, never the invoices) and applied in
    listing order by the payments step, so the store ends exactly as if it had read them
    itself. An error ends the listing and is raised where the payments step takes it.
    """

    # While nobody waits for the pages, they are read at most at this share of the client's
    # rate limit: the step they run beside pages through its own feed, and sharing the limit
    # evenly left it waiting for pages with the CPU idle (a tenth of the activities step).
    # Once the payments step asks for them, the rest is read at the full rate.
    SHARE = 1 / 3

    def __init__(self, chartmogul: ChartMogulClient, head: str | None) -> None:
        self.head = head
        self._pages: asyncio.Queue[InvoicePage | Exception | None] = asyncio.Queue()
        self._wanted = asyncio.Event()
        self._pace = chartmogul.transport.share(self.SHARE)
        self._task = asyncio.create_task(self._read(chartmogul), name="invoices ahead")

    async def _read(self, chartmogul: ChartMogulClient) -> None:
        try:
            async for page in invoice_listing(chartmogul, self.head):
                self._pages.put_nowait(page)
                if not self._wanted.is_set():
                    await self._pace.acquire()
        except Exception as exc:  # the payments step's to raise, as if it had read the page
            self._pages.put_nowait(exc)
        else:
            self._pages.put_nowait(None)

    @property
    def finished(self) -> bool:
        """The listing has been read to its end (or failed, or was cancelled)."""
        return self._task.done()

    async def pages(self) -> AsyncGenerator[InvoicePage, None]:
        """The pages in order, waiting for those not read yet; the reading stops with it."""
        self._wanted.set()
        try:
            while (item := await self._pages.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            await self.cancel()

    async def cancel(self) -> None:
        """Stop reading (idempotent); what was read is dropped."""
        if not self._task.done():
            self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task


@dataclass(frozen=True)
class _PaymentPage:
    page: InvoicePage
    cursor: str | None  # the head once this page is committed (set with the last page)


class PaymentStream(Stream[InvoicePage, _PaymentPage, ApplyStats]):
    """The invoices newer than the head (from ``ahead`` if given), newest first: cursor
    ``CURSOR``, the newest invoice listed, set with the last page (a run cut short reads the
    same invoices again, and their signals are replays)."""

    cursor = CURSOR
    ahead = False  # ``invoice_listing`` reads ahead itself; ``InvoicesAhead`` has read

    def __init__(
        self, poll: PollContext, stats: PaymentStats, *, head: str | None,
        ahead: InvoicesRead | None, now: datetime,
    ) -> None:  # fmt: skip
        self.poll, self.stats, self.head, self.reader, self.now = poll, stats, head, ahead, now
        self.newest: str | None = None
        self.listed: set[str] = set()  # the invoices with a failure that the listing showed

    def pages(self) -> AsyncIterator[InvoicePage]:
        if self.reader is not None:
            return self.reader.pages()
        return invoice_listing(self.poll.chartmogul, self.head)

    def map(self, page: InvoicePage) -> _PaymentPage:
        self.listed.update(s.invoice for s in page.signals if isinstance(s, PaymentFailed))
        self.stats.invoices += page.invoices
        self.newest = self.newest or page.newest
        cursor = json.dumps({"head": self.newest or self.head}) if page.last else None
        return _PaymentPage(page, cursor)

    def commit(self, tx: Transaction, unit: _PaymentPage) -> ApplyStats:
        quarantine_rejected(tx, unit.page.rejected)
        return _apply(tx, self.poll, unit.page.signals, self.now)

    def position(self, unit: _PaymentPage) -> str | None:
        return unit.cursor

    def count(self, unit: _PaymentPage, done: ApplyStats) -> None:
        self.stats.applied.add(done)

    def records(self, page: InvoicePage) -> int:
        return page.invoices


def _apply(
    tx: Transaction, poll: PollContext, signals: Iterable[PaymentSignal], now: datetime
) -> ApplyStats:
    batch = sorted(signals, key=lambda s: s.at)
    return apply_signals(
        tx, batch, context=poll.context, translator=poll.translator, policy=poll.policy, now=now
    )


async def poll_payments(
    poll: PollContext,
    *,
    now: datetime,
    failure_expiry: timedelta,
    ahead: InvoicesRead | None = None,
) -> PaymentStats:
    """Apply the payments of invoices new since the last run (from ``ahead``, if it read from
    the same head), then look up the open failures again."""
    chartmogul, store = poll.chartmogul, poll.store
    stats = PaymentStats()
    head = await read_head(store)

    async def commit(
        signals: Iterable[PaymentSignal],
        refused: Iterable[tuple[str, str, ChartMogulClientError]] = (),
    ) -> None:
        def work(tx: Transaction) -> ApplyStats:
            _quarantine_refused(tx, refused)
            return _apply(tx, poll, signals, now)

        stats.applied.add(await in_store(store, work))

    if ahead is not None and ahead.head != head:  # the cursor moved since: read afresh
        await ahead.cancel()
        ahead = None
    stream = PaymentStream(poll, stats, head=head, ahead=ahead, now=now)
    await run_stream(stream, store, poll.progress)
    listed = stream.listed

    recovered: list[PaymentSignal] = []
    lookups: list[tuple[str, str]] = []
    for customer_uuid, key, failed_at in await _open_failures(store):
        if failed_at + failure_expiry <= now:
            stats.expired += 1
            recovered.append(FailureExpired(customer_uuid, failed_at + failure_expiry, key))
        elif key in listed:
            stats.current += 1
        else:
            lookups.append((customer_uuid, key))
    stats.rechecked = len(lookups)
    # Side by side (the client's rate limit and connection cap still hold): one after the
    # other, each lookup waited out a round trip the limit did not ask for.
    tasks = [asyncio.ensure_future(_lookup(chartmogul, *lookup)) for lookup in lookups]
    refused: list[tuple[str, str, ChartMogulClientError]] = []
    try:
        for (customer_uuid, key), found in zip(lookups, await asyncio.gather(*tasks), strict=True):
            if isinstance(found, ChartMogulClientError):
                refused.append((customer_uuid, key, found))
            else:
                recovered.extend(found)
    except BaseException:
        for task in tasks:  # one failed: the step fails, and the lookups still out are moot
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    await commit(recovered, refused=refused)
    return stats


async def _lookup(
    chartmogul: ChartMogulClient, customer_uuid: str, key: str
) -> list[PaymentSignal] | ChartMogulClientError:
    """``_recoveries``, or the refusal of this one lookup: a request ChartMogul refuses as sent
    (say an external id too long for a URL) is that invoice's problem, not the step's. Every
    other error (the source down, the credentials refused) fails the step as before."""
    try:
        return await _recoveries(chartmogul, customer_uuid, key)
    except ChartMogulClientError as exc:
        return exc


def _quarantine_refused(
    tx: Transaction, refused: Iterable[tuple[str, str, ChartMogulClientError]]
) -> None:
    for customer_uuid, key, exc in refused:
        tx.quarantine.add(
            QuarantineItem(
                kind=QuarantineKind.BAD_RECORD,
                source=System.CHARTMOGUL,
                record_key=f"Invoice:{record_key({'external_id': key})}",
                reason=(
                    f"ChartMogul refused the lookup of this invoice's payments: {exc}"[:1500]
                    + ". Its failed payment stays open until it expires; the other invoices "
                    "went on"
                ),
                payload={"customer_uuid": customer_uuid, "invoice": key[:2000]},
            )
        )


async def _recoveries(
    chartmogul: ChartMogulClient, customer_uuid: str, key: str
) -> list[PaymentSignal]:
    """The recoveries on one invoice with an open failure, looked up by its external id."""
    out: list[PaymentSignal] = []
    async for page in chartmogul.invoice_pages(customer_uuid=customer_uuid, external_id=key):
        for invoice in page.entries:
            out.extend(s for s in payment_signals(invoice) if isinstance(s, PaymentRecovered))
    return out
