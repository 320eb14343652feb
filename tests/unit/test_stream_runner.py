"""The one runner of declared streams: each page mapped, committed with its cursor in one
transaction, counted; a failed commit leaves the cursor where the last good page put it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cmsync.pipeline.streams.runner import Stream, run_stream
from state import Store, Transaction


class Numbers(Stream[list[int], list[int], int]):
    """Pages of numbers; the cursor is the last number committed; a page holding ``fail``
    fails its commit."""

    cursor = "test.numbers"

    def __init__(self, pages: list[list[int]], *, fail: int | None = None) -> None:
        self.source = pages
        self.fail = fail
        self.mapped: list[list[int]] = []
        self.total = 0

    async def _read(self) -> AsyncIterator[list[int]]:
        for page in self.source:
            yield page

    def pages(self) -> AsyncIterator[list[int]]:
        return self._read()

    def map(self, page: list[int]) -> list[int]:
        self.mapped.append(page)
        return [n * 10 for n in page]

    def commit(self, tx: Transaction, unit: list[int]) -> int:
        if self.fail is not None and self.fail * 10 in unit:
            raise RuntimeError("this page does not commit")
        return sum(unit)

    def position(self, unit: list[int]) -> str:
        return str(unit[-1])

    def count(self, unit: list[int], done: int) -> None:
        self.total += done


def _cursor(store: Store) -> str | None:
    with store.transaction() as tx:
        return tx.cursors.get(Numbers.cursor)


async def test_every_page_is_mapped_committed_with_its_cursor_and_counted(store: Store) -> None:
    stream = Numbers([[1, 2], [3], [4, 5]])
    await run_stream(stream, store)
    assert stream.mapped == [[1, 2], [3], [4, 5]]
    assert stream.total == 150
    assert _cursor(store) == "50"


async def test_a_failed_commit_leaves_the_cursor_of_the_last_good_page(store: Store) -> None:
    stream = Numbers([[1, 2], [3], [4, 5]], fail=3)
    with pytest.raises(RuntimeError, match="does not commit"):
        await run_stream(stream, store)
    assert _cursor(store) == "20"
    assert stream.total == 30


class Batched(Numbers):
    """``Numbers`` committing up to three pages read in one transaction; each commit notes
    the pages it held."""

    batch = 3

    def __init__(self, pages: list[list[int]], *, fail_read: int | None = None) -> None:
        super().__init__(pages)
        self.fail_read = fail_read
        self.commits: list[list[int]] = []
        self.gate = asyncio.Event()

    async def _read(self) -> AsyncIterator[list[int]]:
        for n, page in enumerate(self.source):
            if n == 1:
                await self.gate.wait()  # the first page is committed before the rest is read
            if n == self.fail_read:
                raise RuntimeError("the listing failed")
            yield page

    def join(self, units: list[list[int]]) -> list[int]:
        return [n for unit in units for n in unit]

    def map(self, page: list[int]) -> list[int]:
        self.gate.set()  # page 0 taken: the reader goes on while it is committed
        return super().map(page)

    def commit(self, tx: Transaction, unit: list[int]) -> int:
        self.commits.append(unit)
        return super().commit(tx, unit)


async def test_pages_read_while_a_commit_runs_are_committed_together(store: Store) -> None:
    stream = Batched([[1], [2], [3], [4], [5], [6]])
    await run_stream(stream, store)
    # The first page alone (nothing else was read); then the pages read meanwhile, at most
    # three a transaction, in order, each commit with the cursor of its last page.
    assert stream.commits[0] == [10]
    assert [n for commit in stream.commits for n in commit] == [10, 20, 30, 40, 50, 60]
    assert all(len(commit) <= 3 for commit in stream.commits)
    assert len(stream.commits) < 6
    assert stream.total == 210
    assert _cursor(store) == "60"


async def test_the_pages_before_a_failed_read_are_committed_then_it_is_raised(
    store: Store,
) -> None:
    stream = Batched([[1], [2], [3], [4]], fail_read=3)
    with pytest.raises(RuntimeError, match="listing failed"):
        await run_stream(stream, store)
    assert [n for commit in stream.commits for n in commit] == [10, 20, 30]
    assert _cursor(store) == "30"
