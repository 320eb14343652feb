"""Query locators: the rest of a query's rows, served page by page through ``nextRecordsUrl``.

A query larger than one page keeps its rows (the records as they were when it ran) under a
locator Id (key prefix ``01g``); ``nextRecordsUrl`` is ``/services/data/vNN.N/query/<locator>-
<position>``. As in Salesforce, a locator left unused for 15 minutes expires, and an org keeps
a bounded number open (the oldest is dropped first); asking for an expired or unknown one
answers INVALID_QUERY_LOCATOR.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cmsync.sandbox.salesforce.ids import IdFactory
from cmsync.sandbox.salesforce.records import Record
from cmsync.sandbox.salesforce.soql.binder import Plan

__all__ = ["Cursor", "CursorTable"]

LOCATOR_PREFIX = "01g"
IDLE_EXPIRY = timedelta(minutes=15)
MAX_OPEN = 50


@dataclass
class Cursor:
    locator: str
    plan: Plan
    rows: list[Record]
    endpoint: str  # "query" or "queryAll"
    batch_size: int
    last_used: datetime


class CursorTable:
    def __init__(self, clock: Callable[[], datetime], ids: IdFactory) -> None:
        self._clock = clock
        self._ids = ids
        self._open: OrderedDict[str, Cursor] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, plan: Plan, rows: list[Record], endpoint: str, batch_size: int) -> Cursor:
        cursor = Cursor(
            self._ids.new(LOCATOR_PREFIX), plan, rows, endpoint, batch_size, self._clock()
        )
        with self._lock:
            self._open[cursor.locator] = cursor
            while len(self._open) > MAX_OPEN:
                self._open.popitem(last=False)
        return cursor

    def get(self, locator: str) -> Cursor | None:
        now = self._clock()
        with self._lock:
            cursor = self._open.get(locator)
            if cursor is None:
                return None
            if now - cursor.last_used > IDLE_EXPIRY:
                del self._open[locator]
                return None
            cursor.last_used = now
            self._open.move_to_end(locator)
            return cursor

    def close(self, locator: str) -> None:
        with self._lock:
            self._open.pop(locator, None)
