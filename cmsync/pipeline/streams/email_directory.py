"""Every listed ChartMogul customer by its email, as enrichment asks about it, kept on disk.

Enrichment finds a person's customers by email (casefolded). Without a fresh sweep listing
(``enrichment.LISTING_KEPT``: a first pass's Closed-Won step over 100,000 Accounts takes
25 minutes) it lists every customer once; held as a dict of ``Listed`` by email, that was
about 400 bytes a customer, 36 MB at 100,000 Accounts, on top of the person lookups and sums
of the same step (the whole pass peaked at 393 MB there). Here the rows go to a private
temporary SQLite database (``org.Scratch``: a 2 MiB page cache, no journal, removed when
closed) as the pages arrive, and a page of people reads the few rows that answer it. The
answers are those of the dict it replaced: every customer with the email, in listing order.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from cmsync.chartmogul.records import Customer
from cmsync.pipeline.org import Scratch
from cmsync.pipeline.streams.customers import Listed

__all__ = ["EmailDirectory"]

_SCHEMA = (
    "CREATE TABLE mailed (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, uuid TEXT NOT NULL,"
    " mrr INTEGER NOT NULL, status TEXT, currency TEXT)",
)
# Built at the first question, once the listing is in (a B-tree filled in order is cheaper).
_INDEX = "CREATE INDEX ix_mailed ON mailed (key, seq)"
_MAILED = (
    "SELECT key, uuid, mrr, status, currency FROM mailed WHERE key IN ({marks}) ORDER BY key, seq"
)


class EmailDirectory:
    """The customers of one listing that have an email, added page by page, asked by
    casefolded email; ``close`` when done (the file is removed)."""

    def __init__(self) -> None:
        self._db = Scratch(*_SCHEMA)
        self._seq = 0
        self._indexed = False
        self.count = 0  # customers added (with an email)

    def add(self, customers: Iterable[Customer]) -> None:
        """A page of the listing, in listing order; customers with no email are left out."""
        rows: list[tuple[object, ...]] = []
        for customer in customers:
            if customer.email:
                listed = Listed.of(customer)
                self._seq += 1
                rows.append((self._seq, customer.email.casefold(), listed.uuid, listed.mrr,
                             listed.status, listed.currency))  # fmt: skip
        self._db.write("INSERT INTO mailed VALUES (?, ?, ?, ?, ?, ?)", rows)
        self.count += len(rows)

    def get_many(self, keys: Iterable[str]) -> dict[str, list[Listed]]:
        """The customers of each casefolded email that has any, in listing order."""
        if not self._indexed:
            self._db.execute(_INDEX)
            self._indexed = True
        found: dict[str, list[Listed]] = {}
        for key, uuid, mrr, status, currency in self._db.select(_MAILED, keys):
            # Interned as ``Listed.of`` does: the figures kept for a run share them.
            listed = Listed(uuid, mrr, _interned(status), _interned(currency))
            found.setdefault(key, []).append(listed)
        return found

    def close(self) -> None:
        self._db.close()


def _interned(value: str | None) -> str | None:
    return None if value is None else sys.intern(value)
