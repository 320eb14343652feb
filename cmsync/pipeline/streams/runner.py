"""A feed stream declared once, and the one runner that drives any of them.

ChartMogul's feeds (the activities, their late re-read, the invoices' payments, the customer
sweep) are read the same way: page after page of a listing, each page turned into what it
means (signals, figures, quarantined records), applied with the cursor it advances in one
transaction, counted. Each feed says only what is its own, as a ``Stream`` (in the manner of
the Singer SDK's streams, which declare their replication key, records and state and leave
the driving to the tap):

- ``cursor``: the name of the cursor it keeps in the store (None for a stream that reads the
  whole listing every time), and ``position``: the value it has after a page, which the
  runner writes in that page's transaction;
- ``pages``: the page reader (and ``last``: after which page nothing is read ahead);
- ``map``: a page's records to its unit of work (pure, on the event loop);
- ``commit``: that unit applied in a transaction (states, outbox rows, quarantine);
- ``count``: the stream's statistics, from the unit and what its commit did;
- ``records``: how many records a page holds, for the step's progress (``cmsync.progress``):
  the runner adds each committed batch's pages and records to the step's meter, and the
  listing's page count where its first page says it.

``run_stream`` drives it: reads the pages with ``read_ahead`` (page n + 1 is fetched while
page n is applied), maps each, and commits each with its cursor in one transaction, so a
crash replays at most the page in flight, and the replay enqueues nothing twice. A stream
with a ``batch`` above one (the activities) is read in the background up to that many pages
ahead, and the pages already read when a commit ends are committed together (``join``):
the reading never waits for a commit, a catch-up commits a fraction as often, and a crash
replays at most those pages.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import ClassVar, Generic, TypeVar

from cmsync.chartmogul.records import Page
from cmsync.pipeline.streams.readahead import read_ahead
from cmsync.progress import NO_METER, Meter
from cmsync.storeio import in_store
from state import Store, Transaction

__all__ = ["Stream", "run_stream"]

P = TypeVar("P")  # a page as the reader yields it
U = TypeVar("U")  # a page's unit of work, as mapped
D = TypeVar("D")  # what committing a unit did


class Stream(ABC, Generic[P, U, D]):
    """One feed: its cursor, page reader, mapping and per-page commit."""

    cursor: ClassVar[str | None] = None
    # Whether the runner reads a page ahead; False for a reader that does so itself.
    ahead: ClassVar[bool] = True
    # At most this many pages committed in one transaction (``join``): the pages already
    # read when the previous commit ends, so the reading never waits for a commit and a
    # commit never waits for a page it could do without.
    batch: ClassVar[int] = 1

    @abstractmethod
    def pages(self) -> AsyncIterator[P]:
        """The listing's pages, in order."""

    def last(self, page: P) -> bool:
        """True when the stream stops after ``page``: nothing is read ahead of it."""
        return False

    @abstractmethod
    def map(self, page: P) -> U:
        """What the page means, ready to commit."""

    @abstractmethod
    def commit(self, tx: Transaction, unit: U) -> D:
        """Apply one unit in ``tx`` (the runner writes the cursor beside it)."""

    def join(self, units: list[U]) -> U:
        """Several pages' units, in order, as one (for ``batch`` > 1)."""
        raise NotImplementedError(f"{type(self).__name__} commits one page at a time")

    def position(self, unit: U) -> str | None:
        """The cursor's value once ``unit`` is committed (None: leave it)."""
        return None

    def count(self, unit: U, done: D) -> None:
        """Add a committed unit to the stream's statistics."""

    def records(self, page: P) -> int:
        """The records ``page`` holds (rejected ones too), for the progress display."""
        return len(page.entries) + len(page.rejected) if isinstance(page, Page) else 0


async def run_stream(stream: Stream[P, U, D], store: Store, progress: Meter = NO_METER) -> None:
    """Read, map and commit every page of ``stream``: one transaction per page, or per up to
    ``stream.batch`` pages already read; each batch committed is added to ``progress``."""
    source = stream.pages()
    if stream.batch > 1:
        batches = _batches(source, stream.last, stream.batch)
    else:
        pages = read_ahead(source, last=stream.last) if stream.ahead else _closing(source)
        batches = _single(pages)
    first = True
    async with aclosing(batches) as reading:
        async for batch in reading:
            if first and isinstance(batch[0], Page) and batch[0].total_pages is not None:
                progress.expect(pages=batch[0].total_pages)
            first = False
            units = [stream.map(page) for page in batch]
            unit = units[0] if len(units) == 1 else stream.join(units)

            def work(tx: Transaction, unit: U = unit) -> D:
                done = stream.commit(tx, unit)
                position = stream.position(unit)
                if stream.cursor is not None and position is not None:
                    tx.cursors.set(stream.cursor, position)
                return done

            stream.count(unit, await in_store(store, work))
            progress.advanced(sum(stream.records(page) for page in batch), len(batch))


async def _single(pages: AsyncGenerator[P, None]) -> AsyncGenerator[list[P], None]:
    async with aclosing(pages):
        async for page in pages:
            yield [page]


async def _batches(
    source: AsyncIterator[P], last: Callable[[P], bool], size: int
) -> AsyncGenerator[list[P], None]:
    """``source``'s pages in lists of at most ``size``: the first one waited for, then those
    already read. A reader runs ahead of the caller by up to ``size`` pages (none after a
    page ``last`` holds for); its error is raised where its page would have come."""
    queue: asyncio.Queue[tuple[P | None, BaseException | None]] = asyncio.Queue(size)

    async def read() -> None:
        try:
            async for page in source:
                await queue.put((page, None))
                if last(page):
                    break
        except Exception as exc:  # the caller's to raise, in its place
            await queue.put((None, exc))
            return
        await queue.put((None, None))

    reader = asyncio.create_task(read(), name="stream pages")
    try:
        done = False
        while not done:
            batch: list[P] = []
            item = await queue.get()
            while True:
                page, error = item
                if error is not None:
                    if batch:
                        yield batch
                    raise error
                if page is None:
                    done = True
                    break
                batch.append(page)
                if len(batch) >= size or queue.empty():
                    break
                item = queue.get_nowait()
            if batch:
                yield batch
    finally:
        if not reader.done():
            reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


async def _closing(source: AsyncIterator[P]) -> AsyncGenerator[P, None]:
    """``source``'s pages, closing it when the runner stops (as ``read_ahead`` does)."""
    try:
        async for page in source:
            yield page
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
