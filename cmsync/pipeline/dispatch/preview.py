"""The dry run's answer: what a dispatch would do to Salesforce and ChartMogul, record by record.

From the pending outbox rows (planned as the dispatcher would: merged per record, minus values
already written) and Salesforce as it is now (read, never written), each record is

- ``create``: an upsert whose External ID value matches no record yet;
- ``update``: with each field that differs, old and new value;
- ``unchanged``: Salesforce already holds every value;
- ``refused``: it cannot be sent as it is (an unknown or read-only field, a malformed row, a
  converted Lead, which Salesforce refuses to update and the dispatcher drops), with the
  reason.

The pending ChartMogul rows are listed as they would be sent, read from the store alone
(ChartMogul is not asked: its plans and customers are looked up only when a row is sent): a
Closed-Won deal's import (the Opportunity, the customer it goes to or the new one, the deal's
amount and plan) and an operator's void (the invoice); a row this version cannot read is
``refused``, as the executor would make it a dead letter.

Current values are read with one query per object and batch of 200 keys (more when long keys
would take the URL past Salesforce's 16,384 bytes: ``in_chunks``), fields named by
``identifier()`` and values through ``soql()``: the same care as every other query.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cmsync.pipeline.closed_won.effect import IMPORT_DEAL, VOID_DEAL, DealImport, VoidDeal
from cmsync.pipeline.dispatch.plan import CATALOGUE_LIMITS, KINDS, plan_pending, to_pending
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import distinct_fields, identifier, in_chunks
from cmsync.storeio import in_store
from state import OutboxEntry, Store, System, Transaction
from state.fieldfit import LimitsBook
from state.samevalue import same
from state.writeplan import Batch, Operation, RecordWrite

__all__ = ["Planned", "PlannedSend", "Preview", "build_preview", "chartmogul_sends"]

_CONVERTED = "IsConverted"  # read with a Lead's values: a converted Lead is never written


@dataclass(frozen=True)
class Planned:
    sobject: str
    key: str
    action: str  # create | update | unchanged | refused
    changes: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)  # field: (old, new)
    reason: str = ""


@dataclass(frozen=True)
class PlannedSend:
    """A pending ChartMogul row, as it would be sent."""

    action: str  # import | void | refused
    key: str  # the Opportunity Id (the row's target for a refused one)
    detail: str


@dataclass
class Preview:
    records: list[Planned] = field(default_factory=list)
    chartmogul: list[PlannedSend] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        return Counter(p.action for p in self.records)

    def describe(self) -> str:
        counts = self.counts()
        line = " ".join(
            f"{a}={counts.get(a, 0)}" for a in ("create", "update", "unchanged", "refused")
        )
        return f"{line} chartmogul={len(self.chartmogul)}" if self.chartmogul else line

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
        if self.chartmogul:
            sends = Counter(p.action for p in self.chartmogul)
            lines.append(
                "would send to ChartMogul: "
                + " ".join(f"{a}={sends.get(a, 0)}" for a in ("import", "void", "refused"))
            )
            lines.extend(
                f"  {p.action:<7} Opportunity {p.key}: {p.detail}"
                if p.action != "refused"
                else f"  refused {p.key}: {p.detail}"
                for p in self.chartmogul[:limit]
            )
            if len(self.chartmogul) > limit:
                lines.append(f"  ... and {len(self.chartmogul) - limit} more")
        return "\n".join(lines)


async def _fields(gateway: SalesforceGateway, sobject: str) -> dict[str, Mapping[str, Any]]:
    describe = await gateway.describe(identifier(sobject))  # the pass's start read it
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


def chartmogul_sends(rows: Iterable[OutboxEntry], currency: str | None = None) -> list[PlannedSend]:
    """The pending ChartMogul rows as they would be sent; ``currency``: the deals' invoices'
    (``closed_won.currency``), said with the amount."""
    out: list[PlannedSend] = []
    for row in rows:
        try:
            if row.kind == IMPORT_DEAL:
                out.append(_import(DealImport.of(dict(row.payload)), currency))
            elif row.kind == VOID_DEAL:
                void = VoidDeal.of(dict(row.payload))
                what = f"delete invoice {void.invoice_uuid} (command {void.command_id})"
                out.append(PlannedSend("void", void.opportunity_id, what))
            else:
                why = f"no ChartMogul write of kind {row.kind!r}"
                out.append(PlannedSend("refused", f"{row.target_object} {row.target_key}", why))
        except (KeyError, TypeError, ValueError) as exc:
            why = f"malformed {row.kind} effect ({type(exc).__name__}: {exc})"
            out.append(PlannedSend("refused", f"{row.target_object} {row.target_key}", why))
    return out


def _import(decided: DealImport, currency: str | None) -> PlannedSend:
    deal = decided.deal
    if decided.holder is not None:
        customer = decided.holder.label
    else:
        customer = f"a new customer (external id {deal.account_id})"
    amount = "no amount" if deal.amount is None else f"amount {deal.amount:.2f}"
    if currency and deal.amount is not None:
        amount += f" {currency}"
    detail = f"{deal.name!r} into {customer}, {amount}, plan {decided.plan_key!r}"
    return PlannedSend("import", deal.opportunity_id, detail)


async def build_preview(
    store: Store,
    gateway: SalesforceGateway,
    limits: LimitsBook = CATALOGUE_LIMITS,
    *,
    currency: str | None = None,
) -> Preview:
    """What sending the pending outbox would do, without sending or claiming anything.

    Each record is fitted to ``limits`` as the dispatcher would fit it (``state.fieldfit``);
    ``currency``: the Closed-Won deals' (``chartmogul_sends``).
    """
    preview = Preview()

    def read(tx: Transaction) -> tuple[Any, list[tuple[str, str, str]], list[OutboxEntry]]:
        refused = [
            (e.target_object, e.target_key, why)
            for e in tx.outbox.pending(target_system=System.SALESFORCE, kinds=KINDS)
            if isinstance(why := to_pending(e), str)
        ]
        chartmogul = tx.outbox.pending(target_system=System.CHARTMOGUL)
        return plan_pending(tx, limits=limits), refused, chartmogul

    plan, refused, chartmogul = await in_store(store, read)
    preview.chartmogul.extend(chartmogul_sends(chartmogul, currency))
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
