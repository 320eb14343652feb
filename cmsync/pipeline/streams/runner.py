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
- ``count``: the stream's statistics, from the unit and what its commit did.

``run_stream`` drives it: reads the pages with ``read_ahead`` (page n + 1 is fetched while
page n is applied), maps each, and commits each with its cursor in one transaction, so a
crash replays at most the page in flight, and the replay enqueues nothing twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import ClassVar, Generic, TypeVar

from cmsync.pipeline.streams.readahead import read_ahead
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

    def position(self, unit: U) -> str | None:
        """The cursor's value once ``unit`` is committed (None: leave it)."""
        return None

    def count(self, unit: U, done: D) -> None:
        """Add a committed unit to the stream's statistics."""


async def run_stream(stream: Stream[P, U, D], store: Store) -> None:
    """Read, map and commit every page of ``stream``, one transaction per page."""
    source = stream.pages()
    pages = read_ahead(source, last=stream.last) if stream.ahead else _closing(source)
    async with aclosing(pages) as reading:
        async for page in reading:
            unit = stream.map(page)

            def work(tx: Transaction, unit: U = unit) -> D:
                done = stream.commit(tx, unit)
                position = stream.position(unit)
                if stream.cursor is not None and position is not None:
                    tx.cursors.set(stream.cursor, position)
                return done

            stream.count(unit, await in_store(store, work))


async def _closing(source: AsyncIterator[P]) -> AsyncGenerator[P, None]:
    """``source``'s pages, closing it when the runner stops (as ``read_ahead`` does)."""
    try:
        async for page in source:
            yield page
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
