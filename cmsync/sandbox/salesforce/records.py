"""Stored records and the per-object table that holds and indexes them.

A ``Record`` is immutable: a write stores a new one in place of the old. That makes a query
locator a plain list of the records as they were when the query ran (a snapshot, as a
Salesforce cursor is), and a rollback a matter of putting the old records back.

Each table indexes the fields that queries and writes look up by equality: the Id (the row
dict itself), External ID and unique fields, references (Contacts of an Account) and emails,
but not the owner and audit references that nearly every record shares a few values of.
Text keys are case-folded because Salesforce compares them case-insensitively; Ids are not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from cmsync.salesforce.schema import FieldSpec, FieldType, SObjectSpec
from cmsync.sandbox.salesforce.values import Value

__all__ = ["Record", "Table", "index_key", "is_indexed"]


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record: its object, Id, insertion order, and its non-null field values."""

    sobject: str
    id: str
    seq: int
    values: Mapping[str, Value]  # canonical field names; a missing name is null

    def get(self, name: str) -> Value:
        return self.values.get(name)

    @property
    def deleted(self) -> bool:
        return self.values.get("IsDeleted") is True


# References nearly every record shares a few values of: an index would not narrow a search.
_UNSELECTIVE = frozenset({"OwnerId", "CreatedById", "LastModifiedById"})


def is_indexed(spec: FieldSpec) -> bool:
    if spec.name in _UNSELECTIVE:
        return False
    return spec.external_id or spec.unique or spec.type in (FieldType.REFERENCE, FieldType.EMAIL)


def index_key(spec: FieldSpec, value: Value) -> object:
    """The key ``value`` of ``spec`` is indexed and compared under."""
    if isinstance(value, str) and spec.type.is_text:
        if spec.type in (FieldType.ID, FieldType.REFERENCE) or spec.case_sensitive:
            return value
        return value.casefold()
    return value


class Table:
    """The records of one object, in insertion order, with equality indexes."""

    def __init__(self, spec: SObjectSpec) -> None:
        self.spec = spec
        self.rows: dict[str, Record] = {}
        self._indexed = tuple(f for f in spec.fields if is_indexed(f) and f.name != "Id")
        self._indexes: dict[str, dict[object, dict[str, None]]] = {
            f.name: {} for f in self._indexed
        }

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.rows.values())

    def has_index(self, field: str) -> bool:
        return field in self._indexes

    def put(self, record: Record) -> Record | None:
        """Store ``record`` (new, or replacing the one with its Id); returns the replaced one."""
        previous = self.rows.get(record.id)
        for spec in self._indexed:
            old = previous.get(spec.name) if previous else None
            new = record.get(spec.name)
            if old == new and previous is not None:
                continue
            if old is not None:
                self._unindex(spec, old, record.id)
            if new is not None:
                bucket = self._indexes[spec.name].setdefault(index_key(spec, new), {})
                bucket[record.id] = None
        self.rows[record.id] = record
        return previous

    def remove(self, record_id: str) -> None:
        """Forget a record entirely (rolling back its insert; deletes are soft)."""
        previous = self.rows.pop(record_id, None)
        if previous is None:
            return
        for spec in self._indexed:
            old = previous.get(spec.name)
            if old is not None:
                self._unindex(spec, old, record_id)

    def _unindex(self, spec: FieldSpec, value: Value, record_id: str) -> None:
        index = self._indexes[spec.name]
        key = index_key(spec, value)
        bucket = index.get(key)
        if bucket is not None:
            bucket.pop(record_id, None)
            if not bucket:
                del index[key]

    def lookup(self, field: str, key: object) -> list[Record]:
        """Records whose indexed ``field`` has index key ``key``, in insertion order."""
        bucket = self._indexes[field].get(key, {})
        found = [self.rows[i] for i in bucket]
        found.sort(key=lambda r: r.seq)
        return found
