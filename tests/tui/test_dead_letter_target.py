"""A dead letter on the dashboard says which system its write is for: a ChartMogul write (a
Closed-Won import, an operator's void) that kept failing is not "sent to Salesforce again"."""

from __future__ import annotations

from datetime import UTC, datetime

from state import CommandKind, OutboxEntry, OutboxStatus, System
from tui.commands import confirmation, plan_command
from tui.data import DashboardData
from tui.problems import problems

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _dead(n: int, system: System, obj: str, kind: str) -> OutboxEntry:
    return OutboxEntry(
        id=n, idempotency_key=f"k{n}", kind=kind, target_system=system, target_object=obj,
        target_key=f"006Dn00000000{n:02d}IAA", key_field=None, payload={}, reason="",
        status=OutboxStatus.DEAD, attempts=10, next_attempt_at=AT,
        last_error="gave up after 10 attempts: the service answered 503", created_at=AT,
        updated_at=AT,
    )  # fmt: skip


def test_the_retry_of_a_dead_letter_names_its_system_in_the_question_cause_and_fix() -> None:
    data = DashboardData(
        read_at=AT,
        data_version=1,
        dead_letters=(
            _dead(1, System.CHARTMOGUL, "Invoice", "import_deal"),
            _dead(2, System.SALESFORCE, "Account", "update"),
        ),
    )
    chartmogul, salesforce = problems(data)
    _, asked = confirmation(plan_command(CommandKind.RETRY, chartmogul), chartmogul)
    assert "It is sent to ChartMogul again, attempts reset." in asked
    assert chartmogul.cause.startswith("TRANSIENT on ChartMogul Invoice")
    assert chartmogul.fix.startswith("ChartMogul kept failing")
    _, asked = confirmation(plan_command(CommandKind.RETRY, salesforce), salesforce)
    assert "It is sent to Salesforce again, attempts reset." in asked
    assert salesforce.fix.startswith("Salesforce kept failing")
