"""The one runner of declared streams: each page mapped, committed with its cursor in one
transaction, counted; a failed commit leaves the cursor where the last good page put it."""

from __future__ import annotations

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
