"""Reading the next page while the caller works on the current one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from cmsync.pipeline.streams.readahead import read_ahead


class Pages:
    """A source of pages that records when each fetch starts, and whether it was closed."""

    def __init__(self, count: int, *, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.started: list[int] = []
        self.closed = False
        self.gate: dict[int, asyncio.Event] = {n: asyncio.Event() for n in range(count)}

    async def __call__(self) -> AsyncIterator[int]:
        try:
            for n in range(self.count):
                self.started.append(n)
                await self.gate[n].wait()
                if n == self.fail_at:
                    raise RuntimeError(f"page {n} failed")
                yield n
        finally:
            self.closed = True

    def open_all(self) -> None:
        for event in self.gate.values():
            event.set()


async def test_items_come_in_order_and_the_next_is_fetched_while_the_caller_works() -> None:
    pages = Pages(3)
    pages.open_all()
    seen: list[tuple[int, list[int]]] = []
    async for page in read_ahead(pages()):
        await asyncio.sleep(0)  # the caller's work: the next fetch runs meanwhile
        seen.append((page, list(pages.started)))
    assert [page for page, _ in seen] == [0, 1, 2]
    assert seen[0][1] == [0, 1]  # page 1 was being fetched while page 0 was worked on
    assert pages.closed


async def test_a_failed_fetch_is_raised_where_its_item_would_have_come() -> None:
    pages = Pages(3, fail_at=1)
    pages.open_all()
    got: list[int] = []

    async def read_all() -> None:
        async for page in read_ahead(pages()):
            got.append(page)

    with pytest.raises(RuntimeError, match="page 1 failed"):
        await read_all()
    assert got == [0]


async def test_stopping_early_cancels_the_fetch_in_flight_and_closes_the_source() -> None:
    pages = Pages(3)
    pages.gate[0].set()  # page 1 never arrives
    async with aclosing(read_ahead(pages())) as reader:
        async for page in reader:
            assert page == 0
            await asyncio.sleep(0)
            assert pages.started == [0, 1]
            break
    assert pages.closed


async def test_nothing_is_fetched_ahead_of_an_item_the_caller_says_is_its_last() -> None:
    pages = Pages(3)
    pages.open_all()
    seen: list[tuple[int, list[int]]] = []
    async for page in read_ahead(pages(), last=lambda page: page == 1):
        await asyncio.sleep(0)
        seen.append((page, list(pages.started)))
    assert seen[0] == (0, [0, 1])  # read ahead as usual
    assert seen[1] == (1, [0, 1])  # page 2 not asked for while page 1 was worked on
    assert seen[2] == (2, [0, 1, 2])  # asked for anyway: fetched then
    assert pages.closed
