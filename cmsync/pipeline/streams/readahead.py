"""Reading the next page while the current one is processed.

A poller's loop is "fetch a page, then commit what it means": the fetch waits on the network
(and on the client's rate limit) while the event loop is idle, and the commit runs in the
store's worker thread while no request is out. ``read_ahead`` overlaps the two: while the
caller works on page n, page n + 1 is already being fetched, so a catch-up takes about the
longer of the two instead of their sum. At most one page is held beyond the caller's.

A caller that stops early (the payments poller stops at the newest invoice it saw before)
says so with ``last``: after an item for which ``last`` holds, nothing is fetched ahead, so
no page is paid for that nobody uses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TypeVar

__all__ = ["read_ahead"]

T = TypeVar("T")


async def read_ahead(
    source: AsyncIterator[T], *, last: Callable[[T], bool] | None = None
) -> AsyncGenerator[T, None]:
    """The items of ``source`` in order, the next one fetched while the caller holds one
    (unless ``last(item)`` says the caller will stop after it; asked for more anyway, the
    next is fetched then).

    An error fetching an item is raised where that item would have been yielded, as without
    read-ahead. When the reader is closed (at once inside ``contextlib.aclosing``, otherwise
    when it is collected), a fetch in progress is cancelled and ``source`` closed.
    """
    fetch: asyncio.Task[T] | None = None
    try:
        while True:
            if fetch is None:
                fetch = asyncio.ensure_future(anext(source))
            try:
                item = await fetch
            except StopAsyncIteration:
                return
            ahead = last is None or not last(item)
            fetch = asyncio.ensure_future(anext(source)) if ahead else None
            yield item
    finally:
        if fetch is not None:
            if not fetch.done():
                fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fetch  # an item nobody will take: its error, if any, is not the caller's
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
