"""Running store work off the event loop: one unit of work per call, in a worker thread.

The store is synchronous SQLite; a page's transaction can take tens of milliseconds, which
would stall every other coroutine if run on the loop. ``in_store`` runs ``work(tx)`` inside
``store.transaction()`` in a thread, so it commits or rolls back as one, and returns its result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from state import Store, Transaction

__all__ = ["in_store"]

T = TypeVar("T")


async def in_store(store: Store, work: Callable[[Transaction], T]) -> T:
    """``work(tx)`` in one transaction, in a worker thread."""

    def run() -> T:
        with store.transaction() as tx:
            return work(tx)

    return await asyncio.to_thread(run)
