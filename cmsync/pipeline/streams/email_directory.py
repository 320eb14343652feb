"""Every listed ChartMogul customer by its email, as enrichment asks about it, kept on disk.

Enrichment finds a person's customers by email (casefolded), in the customer listing the
pass's sweep read (``customers.Listing.emails``, held from the sweep through the Closed-Won
step to the enrichment step), or, without a fresh one (``enrichment.LISTING_KEPT``: a first
pass's Closed-Won step over 100,000 Accounts takes 25 minutes), in a listing of every
customer of its own. Held as dicts of ``Listed`` by email, each was about 400 bytes a
customer, 36 MB at 100,000 Accounts, and the whole first pass peaked at 393 MB in the
enrichment step. Here the rows go to a private temporary SQLite database (``org.Scratch``: a
2 MiB page cache, no journal, removed when closed) as the pages arrive, and a page of people
reads the few rows that answer it. The answers are those of the dict they replaced: every
customer with the email, in listing order, with the same figures.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

from cmsync.chartmogul.records import Customer
from cmsync.pipeline.org import Scratch

__all__ = ["EmailDirectory", "Listed"]


@dataclass(frozen=True, slots=True)
class Listed:
    """What enrichment takes of a listed customer: the figures its record is the authority
    for. A few fields, not the record: made for the customers a page of people names."""

    uuid: str
    mrr: int
    status: str | None
    currency: str | None

    @classmethod
    def of(cls, customer: Customer) -> Listed:
        status = None if customer.status is None else sys.intern(customer.status)
        currency = None if customer.currency is None else sys.intern(customer.currency)
        return cls(customer.uuid, int(customer.mrr), status, currency)


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
