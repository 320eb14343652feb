"""The exit code of ``cmsync status``: 0 healthy, 1 degraded, 2 down (state.verdict), judged
purely and then through the command over a real store, one store per code."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cmsync.cli import app
from cmsync.machineclock import boot_id
from state import JobHealthRecord, OutboxDead, OutboxItem, Store, System
from state.records import BudgetSnapshot
from state.verdict import Verdict, judge

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _budget(used: int, maximum: int = 100_000, share: float = 0.5) -> BudgetSnapshot:
    return BudgetSnapshot(System.SALESFORCE, used, maximum, share)


# --- the pure verdict ------------------------------------------------------------------------


def test_a_beating_daemon_with_nothing_wrong_is_healthy() -> None:
    judged = judge("running", {"chartmogul": 0, "dispatch": 0}, 0, [_budget(44_999)])
    assert (judged.verdict, judged.reasons) == (Verdict.HEALTHY, ())
    assert judged.as_json() == {"verdict": "healthy", "exit_code": 0, "reasons": []}


@pytest.mark.parametrize(
    ("failing", "dead", "budgets", "reason"),
    [
        ({"chartmogul": 1}, 0, [], "job chartmogul failing (1 failed run)"),
        ({"reports": 3}, 0, [], "job reports failing (3 failed runs in a row)"),
        ({}, 2, [], "2 dead letters"),
        # 90% of cmsync's share (0.5 of 100,000 a day): 45,000 of the 50,000 it may use.
        (
            {},
            0,
            [_budget(45_000)],
            "salesforce API budget nearly spent: 45000 of the 50000 calls cmsync may use "
            "(50% of 100000 a day)",
        ),
    ],
)
def test_a_beating_daemon_that_needs_an_operator_is_degraded(
    failing: dict[str, int], dead: int, budgets: list[BudgetSnapshot], reason: str
) -> None:
    judged = judge("running", failing, dead, budgets)
    assert (judged.verdict, judged.reasons) == (Verdict.DEGRADED, (reason,))


def test_a_store_that_refuses_writes_is_degraded_not_down() -> None:
    judged = judge("store unwritable", {}, 0, [])
    assert (judged.verdict, judged.reasons) == (Verdict.DEGRADED, ("daemon store unwritable",))


@pytest.mark.parametrize("state", ["never started", "stopped", "stale"])
def test_no_live_heartbeat_is_down_whatever_else_is_wrong(state: str) -> None:
    judged = judge(state, {"customers": 2}, 1, [])
    assert judged.verdict is Verdict.DOWN
    assert judged.reasons[0] == f"daemon {state}: no live heartbeat"
    assert "1 dead letter" in judged.reasons  # still said: what to look at once it is up


# --- the command over a real store -----------------------------------------------------------


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The store's path and nothing else: a monitoring check holds none of the daemon's
    credentials, and status reads the store alone."""
    path = tmp_path / "cmsync.db"
    for name in list(os.environ):
        if name.startswith("CMSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CMSYNC_STORE__PATH", str(path))
    return path


def _beating(path: Path) -> Store:
    """A store whose daemon beat just now, on this machine's clocks."""
    now = datetime.now(UTC)
    store = Store.open(path, clock=lambda: now)
    with store.transaction() as tx:
        tx.daemon.beat(os.getpid(), now, "sandbox", monotonic=time.monotonic(), boot_id=boot_id())
    return store


def _status(*args: str) -> tuple[int, dict[str, object], str]:
    as_json = CliRunner().invoke(app, ["status", "--json", *args])
    text = CliRunner().invoke(app, ["status", *args])
    assert as_json.exit_code == text.exit_code, text.output
    verdict: dict[str, object] = json.loads(as_json.stdout)["verdict"]
    return as_json.exit_code, verdict, text.stdout


def test_status_exits_0_for_a_running_daemon_with_nothing_wrong(store_path: Path) -> None:
    with _beating(store_path) as store, store.transaction() as tx:
        tx.daemon.put_health([JobHealthRecord("chartmogul").succeeded(NOW)], complete=True)
        tx.daemon.put_budget(_budget(1_000))
    code, verdict, text = _status()
    assert (code, verdict) == (0, {"verdict": "healthy", "exit_code": 0, "reasons": []})
    assert text.splitlines()[-1] == "verdict   healthy (exit 0)"


def test_status_exits_1_for_a_failing_job(store_path: Path) -> None:
    with _beating(store_path) as store, store.transaction() as tx:
        failing = JobHealthRecord("chartmogul").succeeded(NOW).failed("payments: 503", NOW)
        tx.daemon.put_health([failing.failed("payments: 503", NOW)], complete=True)
    code, verdict, text = _status()
    assert (code, verdict["verdict"]) == (1, "degraded")
    assert verdict["reasons"] == ["job chartmogul failing (2 failed runs in a row)"]
    assert "verdict   degraded (exit 1): job chartmogul failing" in text


def test_status_exits_1_for_dead_letters(store_path: Path) -> None:
    item = OutboxItem(
        idempotency_key="cus_1:mrr:1", kind="update_account", target_system=System.SALESFORCE,
        target_object="Account", target_key="001A", payload={"CM_MRR__c": 10.0}, reason="mrr",
    )  # fmt: skip
    with _beating(store_path) as store, store.transaction() as tx:
        tx.outbox.enqueue([item])
        [claimed] = tx.outbox.claim_due(1)
        tx.outbox.mark_dead([OutboxDead(claimed.id, "FIELD_CUSTOM_VALIDATION_EXCEPTION: no")])
    code, verdict, _ = _status()
    assert (code, verdict["reasons"]) == (1, ["1 dead letter"])


def test_status_exits_1_when_the_api_budget_is_nearly_spent(store_path: Path) -> None:
    with _beating(store_path) as store, store.transaction() as tx:
        tx.daemon.put_budget(_budget(46_000))  # 92% of the 50,000 calls cmsync may use
    code, verdict, _ = _status()
    assert code == 1
    assert verdict["reasons"] == [
        "salesforce API budget nearly spent: 46000 of the 50000 calls cmsync may use "
        "(50% of 100000 a day)"
    ]


def test_status_exits_2_for_a_stopped_or_stale_daemon_or_no_store(store_path: Path) -> None:
    code = CliRunner().invoke(app, ["status"]).exit_code
    assert code == 2  # no store: no daemon ever ran here
    with _beating(store_path) as store, store.transaction() as tx:
        tx.daemon.stopped()
    code, verdict, _ = _status()
    assert (code, verdict["reasons"]) == (2, ["daemon stopped: no live heartbeat"])

    long_ago = datetime.now(UTC) - timedelta(minutes=5)  # killed: its last beat is old
    with Store.open(store_path, clock=lambda: long_ago) as store, store.transaction() as tx:
        tx.daemon.beat(4242, long_ago, "sandbox")
    code, verdict, _ = _status()
    assert (code, verdict["verdict"]) == (2, "down")
