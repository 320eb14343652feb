"""One listing of every invoice, read for the enrichment step and kept for the payments step.

Two steps of a pass may list every invoice (``GET /v1/invoices``, 200 a call, newest import
first): enrichment, to sum each customer's lifetime value when it has many customers to read
(``enrichment.INVOICES_AFTER``), and the payments step, which reads from the top down to the
newest invoice its previous run saw (every invoice on a first run). On a company's first pass
both read all of them, a few seconds apart. When the payments step follows the enrichment
step (``SyncPass`` knows the steps it runs next), the enrichment's listing keeps, as it is
read, each page reduced the way the payments step reduces it (``payments.invoice_page``,
from the same head: its signals, never the invoices), and the payments step applies those
pages instead of listing again. The store ends as if the payments step had read them itself:
the same pages from the same head, in the same order (a test compares the two). Between the
two steps the pass writes nothing to ChartMogul (the Closed-Won imports were sent before the
enrichment step); what another party adds meanwhile is newer than the head the payments step
then records, and read by its next run, as with any listing.

Only a listing that enrichment actually read is kept: otherwise the payments step reads its
own (``payments.InvoicesAhead``). Nor is one of more than ``KEEP_INVOICES`` invoices for the
payments step: their signals are held until that step takes them, and a first pass over
100,000 Accounts (about 670,000 invoices) peaked at 404 MB holding them; past that many the
pages kept are dropped and the payments step lists its own, 200 invoices a call, reading as
it applies (the sums for enrichment are kept either way: a few dozen bytes a customer). On a
first run the listing's first page says how many pages there are (``total_pages``), and none
is kept if that is more than ``KEEP_INVOICES``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from cmsync.chartmogul.client import MAX_PAGE_SIZE, ChartMogulClient
from cmsync.chartmogul.records import Invoice, Page
from cmsync.pipeline.streams.enrich_figures import Paid
from cmsync.pipeline.streams.payments import InvoicePage, invoice_page

__all__ = ["KEEP_INVOICES", "ListedInvoices"]

# Invoices whose signals are kept for the payments step at most: about 670 pages, what a
# first pass over 20,000 Accounts lists (its peak, 200 MB, includes them).
KEEP_INVOICES = 150_000

_NOTHING_PAID = Paid()


class ListedInvoices:
    """Every invoice listed once: summed per customer, and the pages newer than ``head``
    kept reduced for the payments step (``payments.InvoicesRead``)."""

    def __init__(
        self, chartmogul: ChartMogulClient, head: str | None, keep: int = KEEP_INVOICES
    ) -> None:
        self.chartmogul = chartmogul
        self.head = head
        self.keep = keep  # invoices whose signals are kept for the payments step, at most
        self.totals: dict[str, Paid] | None = None  # None: not listed (yet)
        self.invoices = 0  # invoices listed
        self.whole = True  # the payments step's pages all kept (none dropped past ``keep``)
        self.held = 0  # the most invoices whose pages were kept at once
        self._pages: list[InvoicePage] = []

    @property
    def read(self) -> bool:
        """Listed to its end with the payments step's pages kept: it may take them."""
        return self.totals is not None and self.whole

    async def sum(self) -> dict[str, Paid]:
        """Every customer's invoices summed (``Paid``), listing them the first time; the
        caller's to take from (enrichment takes each customer's out once it used it)."""
        if self.totals is not None:
            return self.totals
        totals: dict[str, Paid] = {}
        pages: list[InvoicePage] = []
        met = False  # the payments step's last page is kept: the rest it would not read
        async for page in self.chartmogul.invoice_pages():
            self.invoices += len(page.entries)
            for invoice in page.entries:
                if invoice.customer_uuid is not None:
                    uuid = invoice.customer_uuid
                    totals[uuid] = totals.get(uuid, _NOTHING_PAID).plus(invoice)
            if not met and (self.invoices > self.keep or self._beyond(page)):
                pages, met, self.whole = [], True, False  # too many to hold: the step lists
            if not met:
                reduced = invoice_page(page, self.head)
                pages.append(reduced)
                met = reduced.last
                self.held = max(self.held, self.invoices)
        self.totals, self._pages = totals, pages
        return totals

    def _beyond(self, page: Page[Invoice]) -> bool:
        """Whether the listing's first page says it holds more than ``keep`` invoices, all of
        them for the payments step (no ``head``: a first run reads to the end): then no page
        is kept only to be dropped later, 150,000 invoices' signals at the high-water mark of
        a first pass over 100,000 Accounts. Every page but the last is full."""
        total = page.total_pages
        return self.head is None and total is not None and (total - 1) * MAX_PAGE_SIZE >= self.keep

    async def pages(self) -> AsyncGenerator[InvoicePage, None]:
        """The payments step's pages, in listing order, each handed over once."""
        pages, self._pages = self._pages, []
        for page in pages:
            yield page

    async def cancel(self) -> None:
        """Drop the pages (the payments step will not take them)."""
        self._pages = []
