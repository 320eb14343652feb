"""The dry run's list of pending ChartMogul rows (``dispatch.preview.chartmogul_sends``)."""

from __future__ import annotations

from datetime import UTC, datetime

from cmsync.pipeline.closed_won.effect import VoidDeal, void_row
from cmsync.pipeline.dispatch.preview import PlannedSend, Preview, chartmogul_sends
from state import OutboxEntry, OutboxStatus

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _entry(n: int, kind: str, payload: dict[str, object]) -> OutboxEntry:
    row = void_row(VoidDeal("006A", "inv_1", 7, 3))
    return OutboxEntry(
        id=n, idempotency_key=f"k{n}", kind=kind, target_system=row.target_system,
        target_object=row.target_object, target_key=row.target_key, key_field=row.key_field,
        payload=payload, reason=row.reason, status=OutboxStatus.PENDING, attempts=0,
        next_attempt_at=AT, last_error=None, created_at=AT, updated_at=AT,
    )  # fmt: skip


def test_a_void_is_listed_with_its_invoice_and_a_malformed_row_as_refused() -> None:
    void = void_row(VoidDeal("006A", "inv_1", 7, 3))
    sends = chartmogul_sends(
        [_entry(1, void.kind, dict(void.payload)), _entry(2, "import_deal", {"deal": {}})]
    )
    assert sends[0] == PlannedSend("void", "006A", "delete invoice inv_1 (command 3)")
    assert sends[1].action == "refused" and "malformed import_deal effect" in sends[1].detail
    shown = Preview(chartmogul=sends).render()
    assert "would send to ChartMogul: import=0 void=1 refused=1" in shown
    assert "  void    Opportunity 006A: delete invoice inv_1 (command 3)" in shown
    assert Preview(chartmogul=sends).describe().endswith("chartmogul=2")
    assert "ChartMogul" not in Preview().render()  # nothing pending: the line is not there
