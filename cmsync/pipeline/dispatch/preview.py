"""The dry run's answer: what a dispatch would do to Salesforce, record by record.

From the pending outbox rows (planned as the dispatcher would: merged per record, minus values
already written) and Salesforce as it is now (read, never written), each record is

- ``create``: an upsert whose External ID value matches no record yet;
- ``update``: with each field that differs, old and new value;
- ``unchanged``: Salesforce already holds every value;
- ``refused``: it cannot be sent as it is (an unknown or read-only field, a malformed row, a
  converted Lead, which Salesforce refuses to update and the dispatcher drops), with the
  reason.

Current values are read with one query per object and batch of 200 keys (more when long keys
would take the URL past Salesforce's 16,384 bytes: ``in_chunks``), fields named by
``identifier()`` and values through ``soql()``: the same care as every other query.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cmsync.pipeline.dispatch.plan import CATALOGUE_LIMITS, KINDS, plan_pending, to_pending
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import distinct_fields, identifier, in_chunks
from cmsync.storeio import in_store
from state import Store, System, Transaction
from state.fieldfit import LimitsBook
from state.samevalue import same
from state.writeplan import Batch, Operation, RecordWrite

__all__ = ["Planned", "Preview", "build_preview"]

_CONVERTED = "IsConverted"  # read with a Lead's values: a converted Lead is never written


@dataclass(frozen=True)
class Planned:
    sobject: str
    key: str
    action: str  # create | update | unchanged | refused
    changes: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)  # field: (old, new)
    reason: str = ""


@dataclass
class Preview:
    records: list[Planned] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        return Counter(p.action for p in self.records)

    def describe(self) -> str:
        counts = self.counts()
        return " ".join(
            f"{a}={counts.get(a, 0)}" for a in ("create", "update", "unchanged", "refused")
        )

    def render(self, limit: int = 50) -> str:
        lines = [f"would write: {self.describe()}"]
        shown = [p for p in self.records if p.action != "unchanged"]
        for planned in shown[:limit]:
            head = f"  {planned.action:<7} {planned.sobject} {planned.key}"
            if planned.action == "refused":
                lines.append(f"{head}: {planned.reason}")
                continue
            lines.append(head)
            lines.extend(
                f"      {name}: {old!r} -> {new!r}" for name, (old, new) in planned.changes.items()
            )
        if len(shown) > limit:
            lines.append(f"  ... and {len(shown) - limit} more")
        return "\n".join(lines)


async def _fields(gateway: SalesforceGateway, sobject: str) -> dict[str, Mapping[str, Any]]:
    describe = await gateway.restful(f"sobjects/{identifier(sobject)}/describe/")
    return {f["name"].casefold(): f for f in describe.get("fields", [])}


async def _current(
    gateway: SalesforceGateway, batch: Batch, names: Sequence[str]
) -> dict[str, Mapping[str, Any]]:
    key_field = "Id" if batch.operation is Operation.UPDATE else batch.external_id_field
    assert key_field is not None
    extra = [_CONVERTED] if batch.sobject.casefold() == "lead" else []
    columns = ", ".join(distinct_fields([key_field, *names, *extra]))
    template = (
        f"SELECT {columns} FROM {identifier(batch.sobject)} "  # noqa: S608 (names checked)
        f"WHERE {identifier(key_field)} IN {{keys}}"
    )
    rows = [
        row
        for query in in_chunks(template, [r.key for r in batch.records])
        async for page in gateway.query_pages(query)
        for row in page
    ]
    return {str(row[key_field]): row for row in rows}


def _refusal(record: RecordWrite, described: Mapping[str, Mapping[str, Any]], exists: bool) -> str:
    for name in record.fields:
        spec = described.get(name.casefold())
        if spec is None:
            return f"no field {name} on {record.sobject}"
        allowed = spec.get("updateable") if exists else spec.get("createable")
        if not allowed:
            verb = "update" if exists else "create"
            return f"{record.sobject}.{name} is read-only for cmsync's user ({verb})"
    return ""


async def build_preview(
    store: Store, gateway: SalesforceGateway, limits: LimitsBook = CATALOGUE_LIMITS
) -> Preview:
    """What sending the pending outbox would do, without sending or claiming anything.

    Each record is fitted to ``limits`` as the dispatcher would fit it (``state.fieldfit``).
    """
    preview = Preview()

    def read(tx: Transaction) -> tuple[Any, list[tuple[str, str, str]]]:
        refused = [
            (e.target_object, e.target_key, why)
            for e in tx.outbox.pending(target_system=System.SALESFORCE, kinds=KINDS)
            if isinstance(why := to_pending(e), str)
        ]
        return plan_pending(tx, limits=limits), refused

    plan, refused = await in_store(store, read)
    preview.records.extend(Planned(o, k, "refused", reason=why) for o, k, why in refused)
    described: dict[str, dict[str, Mapping[str, Any]]] = {}
    for batch in plan.batches:
        if batch.sobject not in described:
            described[batch.sobject] = await _fields(gateway, batch.sobject)
        fields = described[batch.sobject]
        names = sorted({n for r in batch.records for n in r.fields if n.casefold() in fields})
        current = await _current(gateway, batch, names)
        preview.records.extend(_classify(batch.records, fields, current))
    return preview


def _classify(
    records: Iterable[RecordWrite],
    fields: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, Mapping[str, Any]],
) -> list[Planned]:
    out: list[Planned] = []
    for record in records:
        row = current.get(record.key)
        if record.operation is Operation.UPDATE and row is None:
            out.append(Planned(record.sobject, record.key, "refused", reason="no such record"))
            continue
        why = _refusal(record, fields, exists=row is not None)
        if row is not None and row.get(_CONVERTED) is True:
            why = (
                "a converted Lead: Salesforce refuses its updates (CANNOT_UPDATE_CONVERTED_LEAD);"
                " the dispatcher drops the write, its Contact is enriched instead"
            )
        if why:
            out.append(Planned(record.sobject, record.key, "refused", reason=why))
            continue
        if row is None:
            changes = {n: (None, v) for n, v in record.fields.items()}
            out.append(Planned(record.sobject, record.key, "create", changes))
            continue
        changes = {
            name: (row.get(name), value)
            for name, value in record.fields.items()
            if not same(value, row.get(name))  # as reconciliation judges drift
        }
        action = "update" if changes else "unchanged"
        out.append(Planned(record.sobject, record.key, action, changes))
    return out
