"""Running a bound query over the store, and writing its rows as the REST API does.

Rows come from an index when the WHERE clause pins an indexed field with ``=`` or ``IN``
(Id, External IDs, references, emails), otherwise from a scan in insertion order; the compiled
predicate then decides. ORDER BY sorts stably, last key first, with nulls placed per key.

A row is written with ``attributes`` first, then the selected fields in SELECT order; a parent
relationship becomes a nested object with its own ``attributes`` (or null when the reference
is empty), and two paths through one parent share that object.
"""

from __future__ import annotations

from typing import Any

from cmsync.sandbox.salesforce.records import Record
from cmsync.sandbox.salesforce.soql.binder import Plan
from cmsync.sandbox.salesforce.soql.paths import name_object_value, parent_record
from cmsync.sandbox.salesforce.store import RecordStore
from cmsync.sandbox.salesforce.values import to_json

__all__ = ["attributes", "project", "run"]


def _candidates(plan: Plan, store: RecordStore) -> list[Record]:
    table = store.tables[plan.sobject.name]
    hint = plan.index
    if hint is None:
        return list(table)
    if hint.field == "Id":
        found = {key: table.rows.get(str(key)) for key in hint.keys}
        rows = [r for r in found.values() if r is not None]
    else:
        seen: dict[str, Record] = {}
        for key in hint.keys:
            for record in table.lookup(hint.field, key):
                seen[record.id] = record
        rows = list(seen.values())
    rows.sort(key=lambda r: r.seq)
    return rows


def run(plan: Plan, store: RecordStore, include_deleted: bool = False) -> list[Record]:
    """The records ``plan`` selects, ordered, offset and limited."""
    with store.lock:
        rows = [
            r
            for r in _candidates(plan, store)
            if (include_deleted or not r.deleted) and (plan.where is None or plan.where(r))
        ]
    for order in reversed(plan.order_by):
        null_rank = 0 if order.nulls_first != order.descending else 1

        def key(record: Record, order: Any = order, null_rank: int = null_rank) -> tuple[int, Any]:
            value = order.key(record)
            if value is None:
                return (null_rank, 0)
            return (1 - null_rank, value)

        rows.sort(key=key, reverse=order.descending)
    rows = rows[plan.offset :]
    return rows if plan.limit is None else rows[: plan.limit]


def attributes(sobject: str, record_id: str, version: str) -> dict[str, str]:
    return {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{record_id}"}


def project(plan: Plan, record: Record, store: RecordStore, version: str) -> dict[str, Any]:
    """``record`` as a query result row."""
    row: dict[str, Any] = {"attributes": attributes(record.sobject, record.id, version)}
    for path in plan.select or ():
        target, current = row, record
        for hop in path.hops:
            name = str(hop.relationship_name)
            parent = parent_record(current, (hop,), store.find)
            if parent is None:
                target[name] = None
                break
            nested = target.get(name)
            if nested is None:
                nested = {"attributes": attributes(parent.sobject, parent.id, version)}
                target[name] = nested
            target, current = nested, parent
        else:
            if path.polymorphic:
                value = name_object_value(current, path.field.name, store.catalogue)
            else:
                value = current.values.get(path.field.name)
            target[path.field.name] = to_json(value)
    return row
