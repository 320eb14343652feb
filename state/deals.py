"""Imported Closed-Won deals: which Opportunity became which ChartMogul invoice, and its fate.

The Closed-Won poller records a deal when it imports its invoice (or finds it imported), in
the same transaction as the page's cursor. A deal is ``live`` until the Opportunity leaves
Closed Won or is deleted; then it is ``unwound`` and a ``deal_unwound`` quarantine entry asks
an operator to void the invoice (``voided``) or keep it (``kept``, never raised again). A deal
recorded again (a replayed page, a re-read won Opportunity) keeps its status: only the
operator's decision or a new unwinding moves it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.sqlite import insert as upsert

from state.records import DealStatus
from state.sql import Part, chunks, unique
from state.tables import ImportedDealRow, table_of

__all__ = ["ImportedDeal", "ImportedDeals"]

_D = table_of(ImportedDealRow)


@dataclass(frozen=True, slots=True)
class ImportedDeal:
    opportunity_id: str
    account_id: str
    customer_uuid: str
    invoice_uuid: str
    amount_in_cents: int
    currency: str
    status: DealStatus = DealStatus.LIVE
    created_at: datetime | None = None


# A replay records the same deal again: it refreshes where the invoice is, never the status,
# unless it is another invoice (a voided deal won and imported anew): that one is live.
_UPSERT = upsert(_D)
_RECORD = _UPSERT.on_conflict_do_update(
    index_elements=[_D.c.opportunity_id],
    set_={
        "status": case(
            (_D.c.invoice_uuid != _UPSERT.excluded.invoice_uuid, DealStatus.LIVE.value),
            else_=_D.c.status,
        ),
        "customer_uuid": _UPSERT.excluded.customer_uuid,
        "invoice_uuid": _UPSERT.excluded.invoice_uuid,
        "amount_in_cents": _UPSERT.excluded.amount_in_cents,
        "currency": _UPSERT.excluded.currency,
        "updated_at": _UPSERT.excluded.updated_at,
    },
)


class ImportedDeals(Part):
    def record(self, deal: ImportedDeal) -> None:
        """Remember an imported deal (live); a known one keeps its status."""
        self._conn.execute(
            _RECORD,
            {
                "opportunity_id": deal.opportunity_id,
                "account_id": deal.account_id,
                "customer_uuid": deal.customer_uuid,
                "invoice_uuid": deal.invoice_uuid,
                "amount_in_cents": deal.amount_in_cents,
                "currency": deal.currency,
                "status": DealStatus.LIVE.value,
                "created_at": self._now,
                "updated_at": self._now,
            },
        )

    def get_many(self, opportunity_ids: Iterable[str]) -> dict[str, ImportedDeal]:
        found: dict[str, ImportedDeal] = {}
        for part in chunks(unique(opportunity_ids)):
            for row in self._conn.execute(select(_D).where(_D.c.opportunity_id.in_(part))):
                found[row.opportunity_id] = ImportedDeal(
                    opportunity_id=row.opportunity_id,
                    account_id=row.account_id,
                    customer_uuid=row.customer_uuid,
                    invoice_uuid=row.invoice_uuid,
                    amount_in_cents=row.amount_in_cents,
                    currency=row.currency,
                    status=DealStatus(row.status),
                    created_at=row.created_at,
                )
        return found

    def get(self, opportunity_id: str) -> ImportedDeal | None:
        return self.get_many([opportunity_id]).get(opportunity_id)

    def first_live(self) -> datetime | None:
        """When the oldest live deal was recorded: where watching for unwinding starts."""
        oldest = select(func.min(_D.c.created_at)).where(_D.c.status == DealStatus.LIVE.value)
        value = self._conn.execute(oldest).scalar_one_or_none()
        return value if isinstance(value, datetime) else None

    def mark(self, opportunity_id: str, status: DealStatus, *, was: DealStatus) -> bool:
        """Move a deal from ``was`` to ``status``; False if it was not in ``was``."""
        result = self._conn.execute(
            update(_D)
            .where(_D.c.opportunity_id == opportunity_id, _D.c.status == was.value)
            .values(status=status.value, updated_at=self._now)
        )
        return result.rowcount > 0
