"""How far an alert got decides its withdrawal (``cmsync.pipeline.withdraw``): never sent,
its rows are dropped with an audit line; sent or tried, a closing upsert follows it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cmsync.config import FieldSettings, SyncSettings
from cmsync.pipeline.translate import AccountTarget, Translator
from cmsync.pipeline.withdraw import settle_withdrawals
from state import FieldWrite, OutboxStatus, Store
from state.effects import (
    AlertKind,
    AlertRecord,
    ChurnRiskAlert,
    Money,
    Priority,
    WithdrawAlert,
)
from tests.support.clock import FakeClock

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
ALERT = ChurnRiskAlert("cus_1", "cmsync:churn:abc", AlertKind.CHURN, AlertRecord.TASK,
                       Priority.NORMAL, date(2026, 12, 10), "Churn risk", "evidence",
                       Money(5_000))  # fmt: skip
WITHDRAW = WithdrawAlert("cus_1", "Task", ALERT.sync_key, "mrr|retyped", "ChartMogul regrouped")
TARGET = AccountTarget("001000000000001AAA", "005000000000001AAA", "Acme")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)  # the clock of the ``store`` fixture (tests/conftest.py), at NOW


def _translator() -> Translator:
    return Translator(FieldSettings(), SyncSettings())


def test_an_unsent_alert_is_dropped_with_an_audit_line_and_nothing_is_sent(store: Store) -> None:
    with store.transaction() as tx:
        tx.outbox.enqueue(_translator().rows(ALERT, TARGET))
    with store.transaction() as tx:
        left = settle_withdrawals(tx, [(TARGET.account_id, WITHDRAW)])
        assert left == []
        [row] = tx.outbox.of_records("Task", [ALERT.sync_key])
        assert row.status is OutboxStatus.SKIPPED
        [line] = [a for a in tx.queries.audit_after(0) if a.action == "withdraw"]
        assert line.record_id == ALERT.sync_key and "dropped" in line.reason


def test_a_sent_alert_is_closed_by_an_upsert_on_its_sync_key(store: Store) -> None:
    with store.transaction() as tx:
        tx.last_written.put_many([FieldWrite("Task", ALERT.sync_key, "Status", "Not Started")])
    with store.transaction() as tx:
        left = settle_withdrawals(tx, [(TARGET.account_id, WITHDRAW)])
        assert left == [(TARGET.account_id, WITHDRAW)]
    [row] = _translator().rows(WITHDRAW, TARGET)
    assert (row.kind, row.target_object, row.target_key) == ("upsert", "Task", ALERT.sync_key)
    assert row.payload == {"Status": "Completed", "Description": "ChartMogul regrouped"}
    case = WithdrawAlert("cus_1", "Case", "k", "r", "d")
    opp = WithdrawAlert("cus_1", "Opportunity", "k", "r", "d")
    assert _translator().rows(case, TARGET)[0].payload["Status"] == "Closed"
    assert _translator().rows(opp, TARGET)[0].payload["StageName"] == "Closed Lost"


def test_an_alert_raised_and_withdrawn_in_one_batch_sends_neither(store: Store) -> None:
    with store.transaction() as tx:
        batch = [(TARGET.account_id, ALERT), (TARGET.account_id, WITHDRAW)]
        assert settle_withdrawals(tx, batch) == []
