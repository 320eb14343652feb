"""Every listed ChartMogul customer as a Closed-Won decision asks about it, kept on disk.

The Closed-Won step finds a deal's customer among every customer of the account (by uuid,
by an external id it carries, own or carried over by a merge, and by email:
``closed_won.lookups``), and no chunk of deals knows the deals after it, so the whole listing
is indexed. Held as objects (a ``Named`` each and three dicts of tuples over them), that was
600 to 700 bytes a customer, about 60 MB of a first pass over 100,000 Accounts (89,880
customers), held from the sweep to the end of Closed-Won on top of what the sweep keeps for
enrichment. Here the rows go to a private temporary SQLite database (``org.Scratch``: a 2 MiB
page cache, no journal, removed when closed) as the listing's pages arrive, and a question
reads the few rows that answer it, as the ``Named`` records the decisions read. The answers
are those of the in-memory index it replaced, in the same order: a uuid listed twice answers
with the later one, an external id and an email with every customer carrying it in listing
order (``seq``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cmsync.chartmogul.records import Customer
from cmsync.pipeline.org import Scratch

__all__ = ["Named", "NamedIndex"]

_SCHEMA = (
    "CREATE TABLE customer (seq INTEGER PRIMARY KEY, uuid TEXT NOT NULL, id INTEGER,"
    " external_id TEXT, external_ids TEXT NOT NULL, data_source_uuid TEXT,"
    " data_source_uuids TEXT NOT NULL, email TEXT, chartmogul_url TEXT, mrr INTEGER NOT NULL,"
    " customer_since TEXT)",
    "CREATE TABLE carried (key TEXT NOT NULL, seq INTEGER NOT NULL)",  # external ids
    "CREATE TABLE mailed (key TEXT NOT NULL, seq INTEGER NOT NULL)",  # emails, lower-cased
)
# Built at the first question, once the listing is in: a B-tree filled in order is cheaper
# than one kept sorted row by row.
_INDEXES = (
    "CREATE INDEX ix_customer_uuid ON customer (uuid, seq)",
    "CREATE INDEX ix_carried ON carried (key, seq)",
    "CREATE INDEX ix_mailed ON mailed (key, seq)",
)
# Each with one ``{marks}`` (``Scratch.select``), asked with one value; the columns as ``Named``.
_BY_UUID = (
    "SELECT c.uuid, c.id, c.external_id, c.external_ids, c.data_source_uuid,"
    " c.data_source_uuids, c.email, c.chartmogul_url, c.mrr, c.customer_since"
    " FROM customer c WHERE c.uuid IN ({marks}) ORDER BY c.seq DESC LIMIT 1"
)
_CARRYING = (
    "SELECT c.uuid, c.id, c.external_id, c.external_ids, c.data_source_uuid,"
    " c.data_source_uuids, c.email, c.chartmogul_url, c.mrr, c.customer_since"
    " FROM carried k JOIN customer c ON c.seq = k.seq WHERE k.key IN ({marks}) ORDER BY k.seq"
)
_MAILED = (
    "SELECT c.uuid, c.id, c.external_id, c.external_ids, c.data_source_uuid,"
    " c.data_source_uuids, c.email, c.chartmogul_url, c.mrr, c.customer_since"
    " FROM mailed k JOIN customer c ON c.seq = k.seq WHERE k.key IN ({marks}) ORDER BY k.seq"
)
_HAS = "SELECT 1 FROM customer WHERE uuid IN ({marks}) LIMIT 1"


@dataclass(frozen=True, slots=True)
class Named:
    """What the Closed-Won step asks of a listed customer (``closed_won.lookups``): who
    carries an external id in which data source, the email, the link shown on the Account,
    whether it is billed already. Made for the customers a question names, not kept."""

    uuid: str
    id: int | None
    external_id: str | None
    external_ids: tuple[str, ...]
    data_source_uuid: str | None
    data_source_uuids: tuple[str, ...]
    email: str | None
    chartmogul_url: str | None
    mrr: int
    customer_since: datetime | None

    @classmethod
    def _row(cls, row: Sequence[Any]) -> Named:
        uuid, id_, external_id, external_ids, source, sources, email, url, mrr, since = row
        return cls(
            uuid, id_, external_id, tuple(json.loads(external_ids)), source,
            tuple(json.loads(sources)), email, url, mrr,
            None if since is None else datetime.fromisoformat(since),
        )  # fmt: skip


class NamedIndex:
    """The customers of one listing, added page by page, asked by uuid, external id, email."""

    def __init__(self) -> None:
        self._db = Scratch(*_SCHEMA)
        self._seq = 0
        self._indexed = False
        self.count = 0  # customers added

    def add(self, customers: Iterable[Customer | Named]) -> None:
        """A page of the listing, in listing order."""
        rows: list[tuple[object, ...]] = []
        carried: list[tuple[str, int]] = []
        mailed: list[tuple[str, int]] = []
        for customer in customers:
            self._seq += 1
            seq = self._seq
            since = customer.customer_since
            rows.append((
                seq, customer.uuid, customer.id, customer.external_id,
                json.dumps(list(customer.external_ids)), customer.data_source_uuid,
                json.dumps(list(customer.data_source_uuids)), customer.email,
                customer.chartmogul_url, int(customer.mrr),
                None if since is None else since.isoformat(),
            ))  # fmt: skip
            for key in dict.fromkeys((customer.external_id, *customer.external_ids)):
                if key:
                    carried.append((key, seq))
            if customer.email:
                mailed.append((customer.email.lower(), seq))
        self._db.write("INSERT INTO customer VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._db.write("INSERT INTO carried VALUES (?, ?)", carried)
        self._db.write("INSERT INTO mailed VALUES (?, ?)", mailed)
        self.count += len(rows)

    def _rows(self, sql: str, key: str) -> list[Any]:
        if not self._indexed:
            for statement in _INDEXES:  # kept up to date by SQLite from then on
                self._db.execute(statement)
            self._indexed = True
        return self._db.select(sql, [key])

    def _ask(self, sql: str, key: str) -> list[Named]:
        return [Named._row(row) for row in self._rows(sql, key)]

    def has(self, uuid: str) -> bool:
        """Whether the listing showed the customer with this uuid."""
        return bool(self._rows(_HAS, uuid))

    def by_uuid(self, uuid: str) -> Named | None:
        """The customer with this uuid (listed twice: the later one)."""
        found = self._ask(_BY_UUID, uuid)
        return found[0] if found else None

    def carrying(self, external_id: str) -> list[Named]:
        """Every customer carrying ``external_id`` (own or carried over), in listing order."""
        return self._ask(_CARRYING, external_id)

    def mailed(self, email: str) -> list[Named]:
        """Every customer whose listed email, lower-cased, is ``email``, in listing order."""
        return self._ask(_MAILED, email)

    def close(self) -> None:
        self._db.close()
