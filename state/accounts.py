"""Account links, customers still unmatched, account states, and the signals already applied.

``Links``: a ChartMogul customer and its Salesforce Account, one partner each (a link that
would take either side from another raises ``LinkConflictError``), moved when Salesforce
merges the Account away and re-keyed when ChartMogul merges the customer. ``PendingMatches``:
the customers no Account matched yet, retried least recently tried first.

``AccountStates`` use optimistic revisions: a state carries the revision it was read at, and
``put_many`` writes it only if the stored revision is still that one. The revisions this unit
of work read or wrote itself are known and not read again; the others are read in the same
transaction (which holds SQLite's write lock, so nothing changes in between), then the batch
goes in one upsert whose conflict branch keeps the revision in its ``WHERE`` as a guard. The
daemon's jobs interleave: a customer sweep can read a state, wait on the network while the
activities poller commits a newer one, then write; the revision check turns that lost update
into a ``StaleStateError`` and a rolled-back transaction instead.

``AppliedSignals``: the natural keys of the signals applied (and each movement's slot), so a
replay changes nothing; a merge in ChartMogul carries them to the surviving customer.

Every page of the feed reads and writes its ~200 states and marks its signals, so those
statements are plain SQL on tuples, converted as the column types convert them, their
columns, text and converters derived from the table's definition (``state.rowcodec``):
SQLAlchemy's per-value processing was the largest cost of an activities page (``make bench``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as upsert

from state import convert
from state.errors import LinkConflictError, StaleStateError
from state.records import AccountLink, AccountState, MatchMethod, PendingMatch, SignalRef
from state.signalhash import customer_range, signal_hash
from state.sql import Part, chunks, marks, unique
from state.tables import (
    AccountLinkRow,
    AccountStateRow,
    AppliedSignalRow,
    PendingMatchRow,
    table_of,
)

__all__ = ["AccountStates", "AppliedSignals", "Links", "PendingMatches"]

_LINK = table_of(AccountLinkRow)
_PENDING = table_of(PendingMatchRow)
_STATE = table_of(AccountStateRow)
_SIGNAL = table_of(AppliedSignalRow)

# The statements the sweep runs once per customer, built once: building a statement cost more
# than SQLite running it (a third of a millisecond a customer, 20,000 customers a sweep).
_LINK_OF_CUSTOMER = select(_LINK).where(_LINK.c.customer_uuid == bindparam("uuid"))
# Every page of the feed reads its customers' links: plain SQL, converted as the column types
# do (``state.rowcodec``), as the states are read.
_LINKS_OF_SQL = convert.LINK.where_in("customer_uuid")
_LINK_OF_ACCOUNT = select(_LINK).where(_LINK.c.account_id == bindparam("account"))
_INSERT_LINK = insert(_LINK)
_DROP_PENDING = delete(_PENDING).where(_PENDING.c.customer_uuid == bindparam("uuid"))
_UPSERT_PENDING = upsert(_PENDING)
_ADD_PENDING = _UPSERT_PENDING.on_conflict_do_update(
    index_elements=[_PENDING.c.customer_uuid],
    set_={
        "reason": _UPSERT_PENDING.excluded.reason,
        "attempts": _PENDING.c.attempts + 1,
        "last_tried_at": _UPSERT_PENDING.excluded.last_tried_at,
    },
).returning(*_PENDING.c)


class Links(Part):
    """ChartMogul customer UUID <-> Salesforce Account Id, one partner each."""

    def get(self, customer_uuid: str) -> AccountLink | None:
        found = self._conn.execute(_LINK_OF_CUSTOMER, {"uuid": customer_uuid}).first()
        return None if found is None else convert.link(found)

    def get_many(self, customer_uuids: Iterable[str]) -> dict[str, AccountLink]:
        links: dict[str, AccountLink] = {}
        for part in chunks(unique(customer_uuids)):
            sql = _LINKS_OF_SQL.format(marks(len(part)))
            for row in self._conn.exec_driver_sql(sql, tuple(part)):
                link = convert.LINK.read(row)
                links[link.customer_uuid] = link
        return links

    def by_account(self, account_id: str) -> AccountLink | None:
        row = self._conn.execute(_LINK_OF_ACCOUNT, {"account": account_id}).first()
        return None if row is None else convert.link(row)

    def by_accounts(self, account_ids: Iterable[str]) -> dict[str, AccountLink]:
        links: dict[str, AccountLink] = {}
        for part in chunks(unique(account_ids)):
            for row in self._conn.execute(select(_LINK).where(_LINK.c.account_id.in_(part))):
                links[row.account_id] = convert.link(row)
        return links

    def put(self, customer_uuid: str, account_id: str, matched_by: MatchMethod) -> AccountLink:
        """Link the pair (a no-op if already linked) and drop the customer's pending match.

        Raises ``LinkConflictError`` if either side is linked to someone else: re-linking is
        an operator's decision (``remove`` first), never a side effect of matching.
        """
        mine = self.get(customer_uuid)
        if mine is not None and mine.account_id == account_id:
            return mine
        if mine is not None:
            raise LinkConflictError(
                f"customer {customer_uuid} is already linked to Account {mine.account_id}; "
                f"unlink customer {customer_uuid} before linking it to Account {account_id}"
            )
        theirs = self.by_account(account_id)
        if theirs is not None:
            raise LinkConflictError(
                f"Account {account_id} is already linked to customer {theirs.customer_uuid}; "
                f"unlink customer {theirs.customer_uuid} before linking it to {customer_uuid}"
            )
        now = self._now
        self._conn.execute(
            _INSERT_LINK,
            {"customer_uuid": customer_uuid, "account_id": account_id,
             "matched_by": matched_by.value, "matched_at": now, "created_at": now,
             "updated_at": now},
        )  # fmt: skip
        self._conn.execute(_DROP_PENDING, {"uuid": customer_uuid})
        return AccountLink(customer_uuid, account_id, matched_by, now)

    def put_many(
        self, pairs: Iterable[tuple[str, str, MatchMethod]]
    ) -> tuple[dict[str, AccountLink], dict[str, str]]:
        """``put`` for many (customer, Account, method) at once: (links, refused).

        ``links`` holds each customer's link (new, or the same one already there); ``refused``
        says, per customer, why it was not linked: either side linked to someone else, here or
        earlier in the batch. Three statements a batch instead of four a customer: a catch-up
        links tens of thousands of customers.
        """
        wanted = list(pairs)
        mine = self.get_many(c for c, _, _ in wanted)
        theirs = self.by_accounts(a for _, a, _ in wanted)
        links: dict[str, AccountLink] = {}
        refused: dict[str, str] = {}
        now = self._now
        rows: list[dict[str, Any]] = []
        for customer_uuid, account_id, matched_by in wanted:
            held, holder = mine.get(customer_uuid), theirs.get(account_id)
            if held is not None and held.account_id == account_id:
                links[customer_uuid] = held
            elif held is not None:
                refused[customer_uuid] = (
                    f"customer {customer_uuid} is already linked to Account {held.account_id}"
                )
            elif holder is not None:
                refused[customer_uuid] = (
                    f"Account {account_id} is already linked to customer {holder.customer_uuid}"
                )
            else:
                link = AccountLink(customer_uuid, account_id, matched_by, now)
                mine[customer_uuid] = theirs[account_id] = links[customer_uuid] = link
                rows.append({"customer_uuid": customer_uuid, "account_id": account_id,
                             "matched_by": matched_by.value, "matched_at": now,
                             "created_at": now, "updated_at": now})  # fmt: skip
        if rows:
            self._conn.execute(_INSERT_LINK, rows)
            for part in chunks([row["customer_uuid"] for row in rows]):
                self._conn.execute(delete(_PENDING).where(_PENDING.c.customer_uuid.in_(part)))
        return links, refused

    def remove(self, customer_uuid: str) -> bool:
        result = self._conn.execute(delete(_LINK).where(_LINK.c.customer_uuid == customer_uuid))
        return result.rowcount > 0

    def account_ids(self) -> list[str]:
        """Every linked Account Id."""
        return list(self._conn.execute(select(_LINK.c.account_id)).scalars())

    def move(self, customer_uuid: str, from_account: str, to_account: str) -> bool:
        """The customer's link to ``from_account`` (merged away in Salesforce) now names
        ``to_account``, keeping how it was matched. False, changing nothing, when the link is
        not that one any more or ``to_account`` is linked to someone else."""
        mine = self.get(customer_uuid)
        if mine is None or mine.account_id != from_account:
            return False
        holder = self.by_account(to_account)
        if holder is not None:
            return holder.customer_uuid == customer_uuid
        self._conn.execute(
            update(_LINK)
            .where(_LINK.c.customer_uuid == customer_uuid)
            .values(account_id=to_account, matched_at=self._now, updated_at=self._now)
        )
        return True

    def rekey(self, from_customer: str, to_customer: str) -> bool:
        """The link of ``from_customer`` (merged away in ChartMogul) now names
        ``to_customer``, the survivor, keeping its Account and how it was matched; the
        survivor's pending match is dropped. False, changing nothing, when ``from_customer``
        has no link or ``to_customer`` is linked already."""
        if self.get(from_customer) is None or self.get(to_customer) is not None:
            return False
        self._conn.execute(
            update(_LINK)
            .where(_LINK.c.customer_uuid == from_customer)
            .values(customer_uuid=to_customer, matched_at=self._now, updated_at=self._now)
        )
        self._conn.execute(_DROP_PENDING, {"uuid": to_customer})
        return True

    def pairs(self) -> dict[str, str]:
        """Every link, customer UUID -> Account Id."""
        query = select(_LINK.c.customer_uuid, _LINK.c.account_id)
        return {row.customer_uuid: row.account_id for row in self._conn.execute(query)}


class PendingMatches(Part):
    """Customers with no Account yet, retried on later passes (least recently tried first)."""

    def add(self, customer_uuid: str, reason: str) -> PendingMatch:
        """Record one more failed attempt (the first creates the entry)."""
        row = self._conn.execute(
            _ADD_PENDING,
            {"customer_uuid": customer_uuid, "reason": reason, "attempts": 1,
             "first_seen_at": self._now, "last_tried_at": self._now},
        ).one()  # fmt: skip
        return convert.pending_match(row)

    def remove(self, customer_uuids: Iterable[str]) -> int:
        removed = 0
        for part in chunks(unique(customer_uuids)):
            result = self._conn.execute(delete(_PENDING).where(_PENDING.c.customer_uuid.in_(part)))
            removed += result.rowcount
        return removed

    def oldest(self, limit: int) -> list[PendingMatch]:
        """The ``limit`` least recently tried customers."""
        rows = self._conn.execute(
            select(_PENDING)
            .order_by(_PENDING.c.last_tried_at, _PENDING.c.customer_uuid)
            .limit(limit)
        )
        return [convert.pending_match(row) for row in rows]

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(_PENDING)).scalar_one())


# The state upsert as plain SQL, run with ``executemany`` on tuples converted as the column
# types convert them: through SQLAlchemy's per-parameter bind processing it was the largest
# cost of an activities page (fourteen columns, two hundred states). Its columns, text and
# conversions come from the table's definition (``state.rowcodec``); the store sets the
# revision (advanced) and the stamps.
_PUT_STATE = convert.STATE.writer(given=("revision", "created_at", "updated_at"))
_REVISION = _PUT_STATE.name("revision")
_PUT_STATES_SQL = _PUT_STATE.upsert_sql(
    keep=("created_at",),
    where=f"{_PUT_STATE.name('revision', qualified=True)} = excluded.{_REVISION} - 1",
)


# Plain SQL read into tuples, converted as the column types do: every page of the feed reads
# its ~200 states, and SQLAlchemy's per-value result processing was a quarter of that read
# (``make bench``, a cProfile of the store's thread).
_STATES_OF_SQL = convert.STATE.where_in("customer_uuid")
# Plain executemany on tuples, as ``_PUT_STATES_SQL``: a row per signal of every page. A plain
# INSERT: ``AppliedSignals.mark`` leaves out the pairs already stored (no key refuses them).
_MARK_APPLIED = convert.APPLIED.writer(given=("signal_hash", "applied_at"))
_MARK_APPLIED_SQL = _MARK_APPLIED.insert_sql()
# The rows of a list of hashes (``state.signalhash``), the index searched once per hash.
_APPLIED_OF_SQL = convert.APPLIED.where_in("signal_hash")
_REVISIONS = select(_STATE.c.customer_uuid, _STATE.c.revision).where(
    _STATE.c.customer_uuid.in_(bindparam("uuids", expanding=True))
)


class AccountStates(Part):
    """Each customer's lifecycle state and last known figures, with a revision."""

    __slots__ = ("_read",)

    def __init__(self, conn: Connection, now: datetime) -> None:
        super().__init__(conn, now)
        # customer -> the revision this unit of work read or wrote: a state put back at that
        # revision cannot be stale (the unit holds the write lock), so it is not read again.
        self._read: dict[str, int] = {}

    def forget_revisions(self) -> None:
        """Read every revision from the store again (after a savepoint was rolled back)."""
        self._read.clear()

    def get(self, customer_uuid: str) -> AccountState | None:
        return self.get_many([customer_uuid]).get(customer_uuid)

    def get_many(self, customer_uuids: Iterable[str]) -> dict[str, AccountState]:
        """The stored states of those customers the store knows (absent ones are left out)."""
        states: dict[str, AccountState] = {}
        for part in chunks(unique(customer_uuids)):
            sql = _STATES_OF_SQL.format(marks(len(part)))
            for row in self._conn.exec_driver_sql(sql, tuple(part)):
                state = convert.STATE.read(row)
                states[state.customer_uuid] = state
                self._read[state.customer_uuid] = state.revision
        return states

    def select(
        self,
        *,
        stages: Iterable[str] = (),
        churn_risk: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[AccountState]:
        """States in any of ``stages`` (all when empty) and, if given, with that churn risk.

        For the pipeline's sweeps (accounts still in their first cycle, accounts with open
        failed payments). With ``limit``, states come
        in customer order after ``after``: a sweep over 100,000 accounts reads them a part
        at a time instead of all at once.
        """
        query = select(_STATE)
        wanted = unique(stages)
        if wanted:
            query = query.where(_STATE.c.lifecycle_state.in_(wanted))
        if churn_risk is not None:
            query = query.where(_STATE.c.churn_risk == churn_risk)
        if after is not None:
            query = query.where(_STATE.c.customer_uuid > after)
        if limit is not None:
            query = query.order_by(_STATE.c.customer_uuid).limit(limit)
        return [convert.account_state(row) for row in self._conn.execute(query)]

    def put(self, state: AccountState) -> None:
        self.put_many([state])

    def remove(self, customer_uuid: str) -> bool:
        """Forget a customer's state (a customer ChartMogul no longer has)."""
        self._read.pop(customer_uuid, None)
        result = self._conn.execute(delete(_STATE).where(_STATE.c.customer_uuid == customer_uuid))
        return result.rowcount > 0

    def put_many(self, states: Iterable[AccountState]) -> None:
        """Write states read at ``revision``; ``StaleStateError`` if any changed since."""
        batch = list(states)
        if not batch:
            return
        repeated = [uuid for uuid, n in Counter(s.customer_uuid for s in batch).items() if n > 1]
        if repeated:
            raise ValueError(f"one state per customer per batch; repeated: {repeated[:5]}")
        now = self._now
        rows = [_PUT_STATE.row(s, s.revision + 1, now, now) for s in batch]
        # The revisions are checked first, in this same transaction (which holds the write
        # lock, so nothing can change in between), and then written without RETURNING: having
        # every row of the upsert named back cost a third of an activities page's time. The
        # upsert's own WHERE stays as the guard.
        read_at = {
            s.customer_uuid: s.revision
            for s in batch
            if self._read.get(s.customer_uuid) != s.revision
        }
        stale = [
            row.customer_uuid
            for part in chunks(list(read_at))
            for row in self._conn.execute(_REVISIONS, {"uuids": part})
            if row.revision != read_at[row.customer_uuid]
        ]
        if stale:
            raise StaleStateError(stale)
        # No count of changed rows after it: SQLite's change counters include the rows the
        # ``stage_total`` triggers touch, and the check above already held the write lock.
        self._conn.exec_driver_sql(_PUT_STATES_SQL, rows)
        self._read.update((s.customer_uuid, s.revision + 1) for s in batch)

    def with_memo(self, key: str) -> list[AccountState]:
        """States whose memo holds ``key`` (the lifecycle leaves out what it has none of, so
        this finds the few accounts with, say, alerts still remembered)."""
        held = func.json_extract(_STATE.c.memo, f"$.{key}").is_not(None)
        rows = self._conn.execute(select(_STATE).where(held))
        states = [convert.account_state(row) for row in rows]
        self._read.update((s.customer_uuid, s.revision) for s in states)
        return states


# A merged customer's applied keys (rare: a merge): its range of the hash index, the customer
# compared exactly (another customer's hash may share the range).
_OF_CUSTOMER = select(_SIGNAL.c.signal_key, _SIGNAL.c.applied_at).where(
    _SIGNAL.c.signal_hash.between(bindparam("low"), bindparam("high")),
    _SIGNAL.c.customer_uuid == bindparam("uuid"),
)


class AppliedSignals(Part):
    """Natural keys of signals already applied, so a replayed signal changes nothing.

    Found by hash (``state.signalhash``), each row's pair compared with the pairs asked for:
    two pairs sharing a hash are told apart. Each pair is stored once because ``mark`` (and
    ``carry``) insert only the pairs they did not find, in the same transaction, and the
    store has one writer at a time (``BEGIN IMMEDIATE``): nothing can add the pair in
    between. No unique index says it again: that index would be the b-tree of random text
    the hash replaced.

    A page looks its signals up (``applied``) and then marks the new ones (``mark``): the
    pairs a lookup did not find are remembered with their hash until they are inserted, so
    ``mark`` inserts them without a second lookup (and without hashing them again). Only
    absence is remembered, and only this unit of work writes: a pair found absent stays
    absent until ``mark`` or ``carry`` inserts it, which forgets it. A rolled-back savepoint
    forgets them all anyway (``forget_absent``), so what the store says after an undo is
    read again, never assumed.
    """

    __slots__ = ("_absent",)

    def __init__(self, conn: Connection, now: datetime) -> None:
        super().__init__(conn, now)
        self._absent: dict[SignalRef, int] = {}  # pair -> its hash, looked up and not found

    def forget_absent(self) -> None:
        """Look every pair up in the store again (after a savepoint was rolled back)."""
        self._absent.clear()

    def has(self, ref: SignalRef) -> bool:
        return bool(self.applied([ref]))

    def applied(self, refs: Iterable[SignalRef]) -> set[SignalRef]:
        """Those of ``refs`` already applied."""
        absent = self._absent
        if absent:
            hashes = {r: signal_hash(r.customer_uuid, r.key) for r in refs if r not in absent}
        else:  # a unit's first lookup: nothing to leave out
            hashes = {r: signal_hash(r.customer_uuid, r.key) for r in refs}
        found = self._found(hashes)
        absent.update(hashes)  # a dict's own update: no key hashed again
        for ref in found:
            del absent[ref]
        return found

    def carry(self, from_customer: str, to_customer: str) -> int:
        """Mark as applied to ``to_customer`` what was applied to ``from_customer``, the
        customer merged into it: ChartMogul rebuilds the survivor's history with the merged
        customer's movements in it, and their natural keys, made with the survivor's UUID
        from then on, must find them applied. Returns how many keys were new."""
        low, high = customer_range(from_customer)
        rows = self._conn.execute(_OF_CUSTOMER, {"low": low, "high": high, "uuid": from_customer})
        carried: dict[SignalRef, datetime] = {}
        for key, applied_at in rows:
            carried.setdefault(SignalRef(to_customer, key.replace(from_customer, to_customer)),
                               applied_at)  # fmt: skip
        return self._add(carried)

    def mark(self, refs: Iterable[SignalRef]) -> int:
        """Record ``refs`` as applied; returns how many were not already."""
        return self._add(dict.fromkeys(refs, self._now))

    def _add(self, stamps: dict[SignalRef, datetime]) -> int:
        """Insert the pairs of ``stamps`` (each with when it was applied) not stored yet."""
        absent = self._absent
        rows: list[tuple[Any, ...]] = []
        unknown: dict[SignalRef, int] = {}
        for ref, at in stamps.items():
            # Inserted below, or found stored: either way no longer known absent. Forgetting
            # is always safe (the pair is then looked up), so it is done before the insert.
            known = absent.pop(ref, None)
            if known is None:
                unknown[ref] = signal_hash(ref.customer_uuid, ref.key)
            else:
                rows.append(_MARK_APPLIED.row(ref, known, at))
        if unknown:
            have = self._found(unknown)
            rows.extend(
                _MARK_APPLIED.row(r, h, stamps[r]) for r, h in unknown.items() if r not in have
            )
        if rows:
            self._conn.exec_driver_sql(_MARK_APPLIED_SQL, rows)
        return len(rows)

    def _found(self, hashes: dict[SignalRef, int]) -> set[SignalRef]:
        """Those of ``hashes``' pairs stored: the rows of their hashes, each row's pair
        compared exactly (a hash may be another pair's too)."""
        found: set[SignalRef] = set()
        for part in chunks(unique(hashes.values())):
            rows = self._conn.exec_driver_sql(_APPLIED_OF_SQL.format(marks(len(part))), tuple(part))
            found.update(ref for ref in map(convert.APPLIED.read, rows) if ref in hashes)
        return found
