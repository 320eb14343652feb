"""The emulated org's data: one table per object, written through Salesforce's rules.

Two ways in. ``insert``/``update`` default to the system path used for seeding (every check
except field-level write access, so seeding can create converted Leads); the REST handlers pass
``api=True`` to enforce ``createable``/``updateable`` as the real API does. Deletes are soft
(``IsDeleted``; ``queryAll`` still sees the record). All time comes from the injected clock.

``transaction()`` journals every write so an sObject Collection with ``allOrNone`` can put the
old records back. A lock makes the store safe to seed from a test thread while the event loop
serves requests.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from cmsync.salesforce.schema import Catalogue, SObjectSpec
from cmsync.sandbox.salesforce.errors import RecordError
from cmsync.sandbox.salesforce.ids import IdFactory, InvalidIdError, normalize
from cmsync.sandbox.salesforce.records import Record, Table, index_key
from cmsync.sandbox.salesforce.values import JsonTypeError, Value, from_json
from cmsync.sandbox.salesforce.writes import WriteContext, build_insert, build_update

__all__ = ["MERGE_CHILDREN", "MultipleMatchError", "RecordStore", "Transaction", "UpsertOutcome"]

# What a merge re-parents, per merged object: (child object, its reference to the parent).
MERGE_CHILDREN: dict[str, tuple[tuple[str, str], ...]] = {
    "Account": (
        ("Contact", "AccountId"),
        ("Opportunity", "AccountId"),
        ("Case", "AccountId"),
        ("Task", "WhatId"),
    ),
}


class MultipleMatchError(Exception):
    """An External ID value shared by several records (HTTP 300 on upsert)."""

    def __init__(self, records: list[Record]) -> None:
        super().__init__(f"{len(records)} records match")
        self.records = records


@dataclass(frozen=True)
class UpsertOutcome:
    id: str
    created: bool


@dataclass
class Transaction:
    """Writes made since the transaction began, undone in reverse by ``rollback``."""

    journal: list[tuple[Table, str, Record | None]] = field(default_factory=list)

    def rollback(self) -> None:
        for table, record_id, previous in reversed(self.journal):
            if previous is None:
                table.remove(record_id)
            else:
                table.put(previous)
        self.journal.clear()


class RecordStore:
    """Records of every object in the catalogue."""

    def __init__(
        self, catalogue: Catalogue, clock: Callable[[], datetime], ids: IdFactory | None = None
    ) -> None:
        self.catalogue = catalogue
        self.clock = clock
        self.ids = ids or IdFactory()
        self.tables = {spec.name: Table(spec) for spec in catalogue}
        self.user_id: str | None = None  # the integration user writes run as
        self.edit_converted_leads = False  # that user's "View and Edit Converted Leads"
        self.lock = threading.RLock()
        self._seq = itertools.count(1)
        self._numbers: dict[str, itertools.count[int]] = {}
        self._transaction: Transaction | None = None
        # Record Id -> (error code, message) every update of it fails with: a stand-in for an
        # org's validation rules and triggers (``/__sandbox/reject``).
        self.rejections: dict[str, tuple[str, str]] = {}

    # --- reads -------------------------------------------------------------------------

    def spec(self, sobject: str) -> SObjectSpec:
        spec = self.catalogue.get(sobject)
        if spec is None:
            raise KeyError(f"unknown sObject {sobject!r}")
        return spec

    def table(self, sobject: str) -> Table:
        return self.tables[self.spec(sobject).name]

    def sobject_of(self, record_id: str) -> SObjectSpec | None:
        return self.catalogue.by_key_prefix(record_id[:3])

    def find(self, record_id: str) -> Record | None:
        """The record with this Id (15 or 18 characters, deleted or not), or None."""
        try:
            canonical = normalize(record_id)
        except InvalidIdError:
            return None
        spec = self.sobject_of(canonical)
        return self.tables[spec.name].rows.get(canonical) if spec else None

    def get(self, sobject: str, record_id: str) -> Record:
        """The live record of ``sobject`` with this Id; RecordError as the REST API answers."""
        spec = self.spec(sobject)
        try:
            canonical = normalize(record_id)
        except InvalidIdError:
            raise RecordError(
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {record_id}",
                status=404,
            ) from None
        if canonical[:3] != spec.key_prefix:
            raise RecordError(
                "MALFORMED_ID", f"{spec.label} ID: id value of incorrect type: {record_id}", ["Id"]
            )
        record = self.tables[spec.name].rows.get(canonical)
        if record is None:
            raise RecordError("NOT_FOUND", "The requested resource does not exist", status=404)
        if record.deleted:
            # REST answers a write to a deleted record 404 with the error's (empty) field list.
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [], status=404)
        return record

    def external_match(self, sobject: str, field: str, value: object) -> list[Record]:
        """Live records whose ``field`` equals ``value`` (case-insensitively for text)."""
        spec = self.spec(sobject)
        field_spec = spec.field(field)
        if field_spec is None:
            return []
        if field_spec.name == "Id":
            found = self.find(str(value))
            return [found] if found is not None and not found.deleted else []
        try:
            typed = from_json(field_spec, value)
        except (RecordError, JsonTypeError):
            return []
        if typed is None:
            return []
        table = self.tables[spec.name]
        key = index_key(field_spec, typed)
        if table.has_index(field_spec.name):
            candidates = table.lookup(field_spec.name, key)
        else:
            candidates = [r for r in table if index_key(field_spec, r.get(field_spec.name)) == key]
        return [r for r in candidates if not r.deleted]

    def count(self, sobject: str) -> int:
        return sum(1 for r in self.table(sobject) if not r.deleted)

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values())

    # --- writes ------------------------------------------------------------------------

    def now(self) -> datetime:
        """The emulated time, to the millisecond as Salesforce stores it."""
        moment = self.clock()
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def _context(self, api: bool) -> WriteContext:
        return WriteContext(
            store=self,
            now=self.now(),
            user_id=self.user_id,
            api=api,
            edit_converted_leads=self.edit_converted_leads,
            new_id=lambda spec: self.ids.new(spec.key_prefix),
            next_seq=lambda: next(self._seq),
            next_number=lambda spec: next(
                self._numbers.setdefault(spec.name, itertools.count(1000))
            ),
        )

    def _put(self, record: Record) -> None:
        table = self.tables[record.sobject]
        previous = table.put(record)
        if self._transaction is not None:
            self._transaction.journal.append((table, record.id, previous))

    def insert(self, sobject: str, fields: Mapping[str, object], *, api: bool = False) -> str:
        """Create a record; returns its Id. ``api=True`` enforces field-level write access."""
        with self.lock:
            record = build_insert(self.spec(sobject), fields, self._context(api))
            self._put(record)
            return record.id

    def update(
        self, sobject: str, record_id: str, fields: Mapping[str, object], *, api: bool = False
    ) -> None:
        with self.lock:
            existing = self.get(sobject, record_id)
            rejected = self.rejections.get(existing.id)
            if rejected is not None:
                raise RecordError(rejected[0], rejected[1], [])
            self._put(build_update(self.spec(sobject), existing, fields, self._context(api)))

    def delete(self, sobject: str, record_id: str) -> None:
        """Soft-delete: the record moves to the recycle bin (IsDeleted, seen by queryAll)."""
        with self.lock:
            spec = self.spec(sobject)
            if not spec.deletable:
                raise RecordError("INVALID_TYPE_FOR_OPERATION", "entity type cannot be deleted")
            existing = self.get(sobject, record_id)
            now = self.now()
            values = dict(existing.values)
            values.update(IsDeleted=True, LastModifiedDate=now, SystemModstamp=now)
            if self.user_id:
                values["LastModifiedById"] = self.user_id
            self._put(Record(existing.sobject, existing.id, existing.seq, values))

    def merge(self, sobject: str, winner_id: str, loser_ids: Sequence[str]) -> list[str]:
        """Merge ``loser_ids`` into ``winner_id``: the losers' children move to the winner,
        the losers are deleted with ``MasterRecordId`` naming it. Returns the children moved.

        The caller has checked the Ids (``merge.check_merge``). Only the children cmsync
        writes are re-parented (``MERGE_CHILDREN``), as Salesforce re-parents every related
        record (Salesforce Help, "Merge Duplicate Accounts").
        """
        with self.lock:
            winner = self.get(sobject, winner_id)
            now = self.now()
            moved: list[str] = []
            for child, field in MERGE_CHILDREN.get(winner.sobject, ()):
                table = self.tables[child]
                for loser in loser_ids:
                    for record in list(table.lookup(field, loser)):
                        if record.deleted:
                            continue
                        values = dict(record.values)
                        values.update({field: winner.id}, **self._stamp_values(now))
                        self._put(Record(record.sobject, record.id, record.seq, values))
                        moved.append(record.id)
            for loser in loser_ids:
                existing = self.get(sobject, loser)
                values = dict(existing.values)
                values.update(IsDeleted=True, MasterRecordId=winner.id, **self._stamp_values(now))
                self._put(Record(existing.sobject, existing.id, existing.seq, values))
            values = dict(winner.values)
            values.update(self._stamp_values(now))
            self._put(Record(winner.sobject, winner.id, winner.seq, values))
            return moved

    def _stamp_values(self, now: datetime) -> dict[str, Value]:
        stamp: dict[str, Value] = {"LastModifiedDate": now, "SystemModstamp": now}
        if self.user_id:
            stamp["LastModifiedById"] = self.user_id
        return stamp

    def upsert(
        self,
        sobject: str,
        field: str,
        value: str,
        fields: Mapping[str, object],
        *,
        api: bool = True,
    ) -> UpsertOutcome:
        """Update the one record whose External ID ``field`` is ``value``, or create it.

        The caller has checked that ``field`` is an External ID (or ``Id``). Several matches
        raise MultipleMatchError and change nothing.
        """
        with self.lock:
            spec = self.spec(sobject)
            ext = spec.field(field)
            if ext is None:
                raise RecordError(
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {field}",
                    status=404,
                )
            matches = self.external_match(spec.name, ext.name, value)
            if len(matches) > 1:
                raise MultipleMatchError(matches)
            if matches:
                body = {k: v for k, v in fields.items() if k.casefold() != ext.name.casefold()}
                self.update(spec.name, matches[0].id, body, api=api)
                return UpsertOutcome(matches[0].id, created=False)
            if ext.name == "Id":
                raise RecordError("NOT_FOUND", "The requested resource does not exist", status=404)
            body = dict(fields)
            if not any(k.casefold() == ext.name.casefold() for k in body):
                body[ext.name] = value
            return UpsertOutcome(self.insert(spec.name, body, api=api), created=True)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Journal writes so that ``rollback`` can undo them; an exception rolls back too."""
        with self.lock:
            if self._transaction is not None:
                raise RuntimeError("transactions do not nest")
            transaction = self._transaction = Transaction()
            try:
                yield transaction
            except BaseException:
                transaction.rollback()
                raise
            finally:
                self._transaction = None
