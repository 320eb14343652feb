"""What a pass read of the Salesforce org, kept on disk instead of in memory.

Matching needs every Account (Id, website, ``CM_Customer_UUID__c``) and every Contact's email;
effects need each Account's owner and name. Held as dicts, that was ~110 MB for an org of
100,000 Accounts and 200,000 Contacts, kept for the whole pass: most of what the daemon held.
Here it is a private temporary SQLite database (SQLite deletes the file when the connection
closes, so a replaced snapshot cleans up after itself) with a 2 MiB page cache. A page of 200
customers or activities asks for its own keys only: ``index_for`` builds the small
``MatchIndex`` that ``state.matching.match`` decides on, ``targets`` the effects' Accounts.

Nothing here needs to survive a crash (it is read again each pass), so the file has no journal
and is never synced (``Scratch``, which reconciliation uses for what Salesforce holds too).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from enum import IntEnum
from typing import Any

from cmsync.pipeline.translate import AccountTarget
from state import Transaction
from state.matching import (
    AccountFacts,
    CustomerFacts,
    MatchIndex,
    account_id_of,
    email_domain,
    normalise_email,
    website_domain,
)
from state.sql import chunks, marks

__all__ = ["OrgSnapshot", "Scratch", "page_index"]

_SCHEMA = (
    "CREATE TABLE account (id TEXT PRIMARY KEY, owner TEXT, name TEXT, uuid_field TEXT)"
    " WITHOUT ROWID",
    "CREATE TABLE match_key (kind INTEGER NOT NULL, key TEXT NOT NULL, account_id TEXT NOT NULL)",
)
# Built once the bulk load is done: a B-tree filled in order is cheaper than one kept sorted
# row by row.
_INDEX = "CREATE INDEX IF NOT EXISTS ix_match_key ON match_key (kind, key)"
_PRAGMAS = ("PRAGMA journal_mode = OFF", "PRAGMA synchronous = OFF", "PRAGMA cache_size = -2048")


class Scratch:
    """A new private temporary SQLite database: on disk past a 2 MiB page cache, without
    journal or syncs, removed by SQLite when the connection closes (the empty file name asks
    for that). Shared by a pass's worker threads: every use holds its lock."""

    def __init__(self, *schema: str) -> None:
        self._db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        for statement in (*_PRAGMAS, *schema):
            self._db.execute(statement)

    def execute(self, sql: str) -> None:
        with self._lock:
            self._db.execute(sql)

    def write(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        with self._lock:
            self._db.executemany(sql, rows)

    def select(self, sql: str, values: Iterable[str], *first: object) -> list[Any]:
        """``sql`` (with one ``{marks}`` for an IN list, after the parameters ``first``) over
        the distinct ``values``, in chunks."""
        found: list[Any] = []
        with self._lock:
            for part in chunks(sorted(set(values))):
                found.extend(self._db.execute(sql.format(marks=marks(len(part))), (*first, *part)))
        return found

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Kind(IntEnum):
    UUID_FIELD = 1
    CONTACT_EMAIL = 2
    DOMAIN = 3


class OrgSnapshot:
    """The Accounts and Contact emails of one pass's read of Salesforce.

    Add the Accounts and the Contacts, in any order (reads leave out a Contact of an Account
    not added, as ``state.matching.build_index`` does), then ``seal``; read after that.
    """

    def __init__(self, uuid_field: str = "") -> None:
        self.uuid_field = uuid_field  # the API name of ``CM_Customer_UUID__c`` (see page_index)
        self._db = Scratch(*_SCHEMA, "BEGIN")  # one transaction for the load: see ``seal``
        self._loading = True
        self.accounts = 0
        self.contact_emails = 0

    def close(self) -> None:
        self._db.close()

    def add_accounts(self, rows: Iterable[tuple[AccountFacts, str | None, str | None]]) -> None:
        """Accounts as (facts, owner user Id, name)."""
        accounts: list[tuple[str, str | None, str | None, str | None]] = []
        keys: list[tuple[int, str, str]] = []
        for facts, owner, name in rows:
            accounts.append((facts.account_id, owner, name, facts.uuid_field or None))
            if facts.uuid_field:
                keys.append((_Kind.UUID_FIELD, facts.uuid_field, facts.account_id))
            domain = website_domain(facts.website)
            if domain:
                keys.append((_Kind.DOMAIN, domain, facts.account_id))
        self._db.write("INSERT OR REPLACE INTO account VALUES (?, ?, ?, ?)", accounts)
        self._db.write("INSERT INTO match_key VALUES (?, ?, ?)", keys)
        self.accounts += len(accounts)

    def add_contacts(self, rows: Iterable[tuple[str, str | None]]) -> None:
        """Contacts as (Account Id, email); those without a usable email are left out."""
        keys = [
            (_Kind.CONTACT_EMAIL, email, account_id)
            for account_id, raw in rows
            if (email := normalise_email(raw))
        ]
        self._db.write("INSERT INTO match_key VALUES (?, ?, ?)", keys)
        self.contact_emails += len(keys)

    def seal(self) -> OrgSnapshot:
        if self._loading:
            self._db.execute(_INDEX)
            self._db.execute("COMMIT")
            self._loading = False
        return self

    def _keyed(self, kind: _Kind, keys: Iterable[str]) -> dict[str, frozenset[str]]:
        # The join leaves out Contacts whose Account the snapshot does not hold.
        sql = (
            "SELECT k.key, k.account_id FROM match_key k JOIN account a ON a.id = k.account_id "
            "WHERE k.kind = ? AND k.key IN ({marks})"
        )
        found: defaultdict[str, set[str]] = defaultdict(set)
        for key, account_id in self._db.select(sql, keys, int(kind)):
            found[key].add(account_id)
        return {key: frozenset(ids) for key, ids in found.items()}

    def index_for(self, customers: Iterable[CustomerFacts]) -> MatchIndex:
        """The part of the org's index that ``customers`` can match: their keys' Accounts, and
        for those the customer UUID their ``CM_Customer_UUID__c`` names (``linked_to``; the
        caller overlays the stored links, which win)."""
        wanted = list(customers)
        emails = [e for c in wanted if (e := normalise_email(c.email))]
        domains = [d for e in emails if (d := email_domain(e))]
        external = [a for c in wanted if (a := account_id_of(c.external_id))]
        existing = self._db.select("SELECT id FROM account WHERE id IN ({marks})", external)
        index = MatchIndex(
            account_ids=frozenset(row[0] for row in existing),
            by_uuid_field=self._keyed(_Kind.UUID_FIELD, (c.uuid for c in wanted)),
            by_contact_email=self._keyed(_Kind.CONTACT_EMAIL, emails),
            by_domain=self._keyed(_Kind.DOMAIN, domains),
        )
        sql = "SELECT id, uuid_field FROM account WHERE uuid_field IS NOT NULL AND id IN ({marks})"
        return replace(index, linked_to=dict(self._db.select(sql, index.named())))

    def targets(self, account_ids: Iterable[str]) -> dict[str, AccountTarget]:
        """Where each Account's effects go; an Account the org did not have gets a bare
        target (its Id only), as before it was read."""
        wanted = set(account_ids)
        rows = self._db.select("SELECT id, owner, name FROM account WHERE id IN ({marks})", wanted)
        found = {row[0]: AccountTarget(*row) for row in rows}
        return {a: found.get(a) or AccountTarget(a) for a in wanted}

    def missing(self, account_ids: Iterable[str]) -> list[str]:
        """Those of ``account_ids`` the org's read does not hold (deleted, merged, or hidden)."""
        wanted = set(account_ids)
        held = self._db.select("SELECT id FROM account WHERE id IN ({marks})", wanted)
        return sorted(wanted - {row[0] for row in held})

    def target(self, account_id: str) -> AccountTarget:
        return self.targets((account_id,))[account_id]


def _cleared(tx: Transaction, org: OrgSnapshot, index: MatchIndex) -> set[tuple[str, str]]:
    """(customer, Account) pairs the org read still shows by ``CM_Customer_UUID__c`` but a
    write waiting in the outbox changes (an operator's unlink or relink, a departed customer's
    clearing): what the field will hold is the newest pending write's value."""
    if not org.uuid_field:
        return set()
    accounts = sorted({a for ids in index.by_uuid_field.values() for a in ids})
    pending: dict[str, object] = {}
    for part in chunks(accounts):
        for row in tx.outbox.pending(target_keys=part):  # in id order: the newest wins
            if row.target_object == "Account" and org.uuid_field in row.payload:
                pending[row.target_key] = row.payload[org.uuid_field]
    return {
        (uuid, account)
        for uuid, ids in index.by_uuid_field.items()
        for account in ids
        if account in pending and pending[account] != uuid
    }


def page_index(tx: Transaction, org: OrgSnapshot, customers: Sequence[CustomerFacts]) -> MatchIndex:
    """The index for matching ``customers`` inside ``tx``: the org's part for them, with the
    stored links of the Accounts it names (a stored link wins over ``CM_Customer_UUID__c``).
    Read in the transaction that links, the links include those made a page ago. An Account
    does not name a customer by ``CM_Customer_UUID__c`` while a write changing that field
    waits in the outbox (an operator unlinked it: a pass sweeps before it dispatches)."""
    index = org.index_for(customers)
    gone = _cleared(tx, org, index)
    if gone:
        index = replace(
            index,
            by_uuid_field={
                uuid: frozenset(a for a in ids if (uuid, a) not in gone)
                for uuid, ids in index.by_uuid_field.items()
            },
            linked_to={a: u for a, u in index.linked_to.items() if (u, a) not in gone},
        )
    links = tx.links.by_accounts(index.named())
    return index.with_links({account: link.customer_uuid for account, link in links.items()})
