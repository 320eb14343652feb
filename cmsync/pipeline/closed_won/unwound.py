"""Imported Closed-Won deals that unwind: the Opportunity left Closed Won, or was deleted.

Its invoice still counts in ChartMogul, and nothing should change revenue silently: each such
deal becomes one ``deal_unwound`` quarantine entry naming the Opportunity, the invoice and the
amount, with two actions for an operator (the daemon's command table, the dashboard): void
(delete the invoice in ChartMogul, which recalculates the customer's metrics) or keep (close
the entry; the deal is never raised again).

Noticing it costs one query per poll, whatever the number of deals ever imported: the
Opportunities changed since the cursor (``salesforce.closed_won.unwound``, a watermark over
SystemModstamp) that are not won or are deleted, read with ``queryAll`` (a deleted record is
seen only there, with ``IsDeleted = true``; deleting stamps ``SystemModstamp``), kept only
where the store records a live imported deal. Polling the imported Ids instead (IN lists)
would cost a query per few hundred deals ever imported, on every poll. Before any deal is
recorded there is nothing to watch and no query; the first watch starts at the oldest live
deal's import.

The entries, the deals' new status and the advanced cursor are committed together per page;
a replayed page finds the deals unwound already and raises nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cmsync.config import Settings
from cmsync.pipeline.closed_won.steps import ClosedWonStats, money
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.incremental import changed_records
from cmsync.storeio import in_store
from state import (
    DealStatus,
    ImportedDeal,
    QuarantineItem,
    QuarantineKind,
    Store,
    System,
    Transaction,
)
from state.incremental import Watermark

__all__ = ["UNWOUND_CURSOR", "unwound_problem", "watch_unwound"]

UNWOUND_CURSOR = "salesforce.closed_won.unwound"
_FIELDS = ["Name", "StageName", "IsWon", "IsDeleted", "AccountId"]
_UNWOUND = "IsWon = false OR IsDeleted = true"


def _unwound(row: dict[str, Any]) -> bool:
    return row.get("IsDeleted") is True or row.get("IsWon") is False


def unwound_problem(deal: ImportedDeal, row: dict[str, Any]) -> QuarantineItem:
    """The quarantine entry for an imported deal whose Opportunity ``row`` unwound."""
    name = str(row.get("Name") or deal.opportunity_id)
    deleted = row.get("IsDeleted") is True
    what = "was deleted" if deleted else f"is now {row.get('StageName')!r}"
    amount = money(deal.amount_in_cents, deal.currency)
    return QuarantineItem(
        kind=QuarantineKind.DEAL_UNWOUND,
        source=System.SALESFORCE,
        record_key=deal.opportunity_id,
        reason=(
            f"Closed-Won Opportunity {name!r} {what} after its import: ChartMogul still counts "
            f"its invoice {deal.invoice_uuid} ({amount}) on customer {deal.customer_uuid}. "
            "Void the invoice to take it out of ChartMogul's revenue, or keep it"
        ),
        payload={
            "object": "Opportunity",
            "id": deal.opportunity_id,
            "name": name,
            "account_id": deal.account_id,
            "stage": row.get("StageName"),
            "deleted": deleted,
            "customer_uuid": deal.customer_uuid,
            "invoice_uuid": deal.invoice_uuid,
            "amount_in_cents": deal.amount_in_cents,
            "currency": deal.currency,
            "amount": amount,
            "actions": ["void", "keep"],
        },
    )


def _raise(tx: Transaction, records: list[dict[str, Any]], cursor: str | None) -> list[str]:
    """Open a problem for each live imported deal among ``records``; the Opportunity Ids."""
    deals = tx.deals.get_many(str(r["Id"]) for r in records if _unwound(r))
    raised: list[str] = []
    for row in records:
        deal = deals.get(str(row["Id"]))
        if deal is None or deal.status is not DealStatus.LIVE or not _unwound(row):
            continue
        if cursor is not None:  # None: a dry run, which writes nothing
            tx.deals.mark(deal.opportunity_id, DealStatus.UNWOUND, was=DealStatus.LIVE)
            tx.quarantine.add(unwound_problem(deal, row))
        raised.append(deal.opportunity_id)
    if cursor is not None:
        tx.cursors.set(UNWOUND_CURSOR, cursor)
    return raised


async def watch_unwound(
    gateway: SalesforceGateway,
    store: Store,
    settings: Settings,
    stats: ClosedWonStats,
    *,
    now: datetime,
    plan_line: Callable[[str], None],
) -> None:
    """Raise a problem for every imported deal that unwound since the cursor; see above."""

    def start(tx: Transaction) -> Watermark | None:
        text = tx.cursors.get(UNWOUND_CURSOR)
        if text:
            return Watermark.loads(text)
        first = tx.deals.first_live()
        return None if first is None else Watermark(stamp=first)

    watermark = await in_store(store, start)
    if watermark is None:
        return  # no deal imported yet: nothing can unwind
    pages = changed_records(
        gateway, "Opportunity", _FIELDS, where=_UNWOUND, watermark=watermark,
        lookback=timedelta(seconds=settings.sync.lookback_seconds), now=now,
        include_deleted=True,
    )  # fmt: skip
    async for records, after in pages:
        cursor = None if stats.dry_run else after.dumps()
        raised = await in_store(store, lambda tx: _raise(tx, records, cursor))  # noqa: B023
        stats.unwound += len(raised)
        for opportunity in raised:
            plan_line(f"raise a problem: Opportunity {opportunity} unwound after its import")
