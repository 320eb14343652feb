"""Each panel shows the right figures for a known store, and refreshes follow the store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Sparkline

from state import (
    BudgetSnapshot,
    JobHealthRecord,
    QuarantineItem,
    QuarantineKind,
    Store,
    System,
)
from tests.tui.storefill import EXPECTED, NOW
from tui import Dashboard, DataSource
from tui.format import count, money
from tui.widgets import (
    BudgetsPanel,
    DaemonBar,
    EffectsFeed,
    JobsPanel,
    LagPanel,
    OutboxPanel,
    ProblemsTable,
    StagesPanel,
)

SIZE = (160, 48)


def plain(cells: Sequence[object]) -> list[str]:
    return [cell.plain if isinstance(cell, Text) else str(cell) for cell in cells]


def words(text: str) -> str:
    return " ".join(text.split())


def source_of(app: Dashboard) -> DataSource:
    assert isinstance(app.source, DataSource)
    return app.source


async def refreshed(app: Dashboard, pilot: Pilot[None]) -> None:
    await app.refresh_now().wait()
    await pilot.pause()


async def test_header_jobs_lag_outbox_and_budgets(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refreshed(app, pilot)
        header = app.query_one(DaemonBar).shown
        assert "target: sandbox" in header
        assert " running " in header
        assert "pid 4242 · up 3h 00m · beat 2s ago" in header

        jobs = app.query_one(JobsPanel)
        assert jobs.keys == [
            "chartmogul.activities",
            "dispatch",
            "reconcile",
            "salesforce.closed_won",
        ]
        assert plain(jobs.get_row("dispatch")) == ["dispatch", "5s ago", "ok", "250ms", "in 25s"]
        assert plain(jobs.get_row("chartmogul.activities"))[1:] == [
            "1m 05s ago",
            "ok",
            "1.2s",
            "in 3m 55s",
        ]
        assert plain(jobs.get_row("salesforce.closed_won"))[1:] == [
            "40s ago",
            "error",
            "3.5s",
            "in 20s",
        ]
        assert plain(jobs.get_row("reconcile"))[1:] == ["30s ago", "running", "—", "—"]
        assert "UNABLE_TO_LOCK_ROW on Opportunity" in str(jobs.border_subtitle)

        lag = app.query_one(LagPanel)
        assert plain(lag.get_row("chartmogul.activities")) == [
            "chartmogul.activities",
            "2m 30s",
            "1m 10s ago",
        ]
        assert plain(lag.get_row("salesforce.closed_won"))[1:] == ["2h 00m", "40s ago"]
        assert plain(lag.get_row("chartmogul.invoices"))[1:] == ["—", "1m 10s ago"]

        outbox = app.query_one(OutboxPanel)
        assert f"pending   {EXPECTED.pending}  (retrying {EXPECTED.retrying})" in outbox.shown
        assert f"in flight {EXPECTED.in_flight}" in outbox.shown
        assert f"dead      {EXPECTED.dead}" in outbox.shown
        assert "writes/min: 0 now · peak 6 · 13 in 30 min" in outbox.shown
        spark = outbox.query_one("#outbox-spark", Sparkline)
        assert list(spark.data or []) == list(EXPECTED.writes_per_minute)

        budgets = words(app.query_one(BudgetsPanel).shown)
        assert "Salesforce daily calls · 2s ago org 41,250 / 100,000 41%" in budgets
        assert "share 41,250 / 50,000 82% (cmsync may use 50% of the org's)" in budgets
        assert "ChartMogul requests/s · 2s ago rate 12 / 40 30%" in budgets


async def test_stages_feed_and_problems(daemon: Store, make_app: Callable[..., Dashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refreshed(app, pilot)
        stages = app.query_one(StagesPanel)
        assert stages.keys == ["lead", "trial", "new", "active", "at_risk", "churned", "total"]
        for stage, (accounts, mrr) in EXPECTED.accounts.items():
            row = [cell.strip() for cell in plain(stages.get_row(stage))]
            assert row == [stage, count(accounts), money(mrr)]
        total = [cell.strip() for cell in plain(stages.get_row("total"))]
        assert total == ["total", count(EXPECTED.total_accounts), money(EXPECTED.total_mrr_cents)]
        assert total[2] == "5,639.00"
        assert stages.border_subtitle == "2 unmatched"

        feed = app.query_one(EffectsFeed)
        assert feed.keys == [str(n) for n in range(13, 0, -1)]  # newest first
        assert plain(feed.get_row("13")) == [
            "13",
            "11:59:50",
            "SF Task CMSYNC-churn-risk-cus_0…",
            "upsert",
            "Subject=Churn risk: payment failed",
            "cus_000000000000017:payment_failed:…",
        ]
        assert plain(feed.get_row("1"))[1:5] == [
            "11:34:55",
            "SF Account 001000000000000001",
            "update",
            "CM_MRR__c=99.0, CM_Status__c=Active",
        ]

        problems = app.query_one(ProblemsTable)
        assert problems.keys == ["quarantine:2", "quarantine:1", "outbox:12", "outbox:11"]
        ambiguous = plain(problems.get_row("quarantine:1"))
        assert ambiguous[1:5] == [
            "ambiguous match",
            "chartmogul cus_ambiguous_1 (Acme …",
            "2 Accounts share the domain acme.…",
            "2 candidates",
        ]
        dead = plain(problems.get_row("outbox:11"))
        assert dead[1] == "dead letter"
        assert dead[3].startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION")
        assert dead[4] == "1 attempt"
        assert "2 quarantined · 2 dead" in str(problems.border_subtitle)


async def test_a_refresh_picks_up_what_another_connection_committed(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refreshed(app, pilot)
        problems = app.query_one(ProblemsTable)
        problems.move_cursor(row=problems.get_row_index("outbox:12"))
        with daemon.transaction() as tx:  # the daemon retries one dead letter, writes more
            assert tx.outbox.retry_dead([11]) == 1
            tx.quarantine.add(
                QuarantineItem(
                    QuarantineKind.ILLEGAL_TRANSITION,
                    System.CHARTMOGUL,
                    "cus_00003:contraction:2025-03-01",
                    "contraction is not allowed from lead",
                )
            )
            tx.daemon.put_budget(
                BudgetSnapshot(System.SALESFORCE, used=49_000, max=100_000, share=0.5)
            )
        await refreshed(app, pilot)
        assert problems.keys == ["quarantine:3", "quarantine:2", "quarantine:1", "outbox:12"]
        selected = problems.selected()
        assert selected is not None and selected.key == "outbox:12"  # still the operator's row
        assert "share 49,000 / 50,000 98%" in words(app.query_one(BudgetsPanel).shown)
        assert "dead      1" in app.query_one(OutboxPanel).shown


async def test_the_jobs_panel_says_how_many_jobs_are_up_and_which_one_fails(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refreshed(app, pilot)
        jobs = app.query_one(JobsPanel)
        assert jobs.border_title == "Jobs"  # a store the daemon never stored health in
        with daemon.transaction() as tx:  # two jobs of one source: one fails, one is up
            tx.daemon.put_health(
                [
                    JobHealthRecord("chartmogul", 3, NOW, "payments: ServerError: 503", NOW),
                    JobHealthRecord("customers").succeeded(NOW),
                ],
                complete=True,
            )
        await refreshed(app, pilot)
        assert jobs.border_title == "Jobs · 1/2 up"
        assert jobs.border_subtitle == "chartmogul failing x3: payments: ServerError: 503"
        with daemon.transaction() as tx:
            tx.daemon.put_health([JobHealthRecord("chartmogul").succeeded(NOW)])
        await refreshed(app, pilot)
        assert jobs.border_title == "Jobs · 2/2 up"
        # No failing job: the subtitle falls back to the newest failed step run, as before.
        assert "UNABLE_TO_LOCK_ROW on Opportunity" in str(jobs.border_subtitle)


async def test_nothing_is_re_read_until_someone_commits(
    daemon: Store, make_app: Callable[..., Dashboard]
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refreshed(app, pilot)
        reads = source_of(app).reads
        assert reads >= 1
        for _ in range(3):
            await refreshed(app, pilot)
        assert app.source.reads == reads  # type: ignore[attr-defined]
        with daemon.transaction() as tx:
            tx.daemon.beat(4343, NOW, "sandbox")  # the daemon restarted
        await refreshed(app, pilot)
        assert app.source.reads == reads + 1  # type: ignore[attr-defined]
        assert "pid 4343" in app.query_one(DaemonBar).shown


def test_after_a_slow_read_the_timer_backs_off_but_the_operator_does_not(
    daemon: Store, db_path: Path
) -> None:
    source = DataSource(db_path, clock=lambda: NOW, slow_read=0.0, back_off=10_000.0)
    try:
        source.poll()  # every read counts as slow here
        with daemon.transaction() as tx:
            tx.daemon.beat(4343, NOW, "sandbox")
        assert source.poll().heartbeat is not None
        assert source.reads == 1  # the timer's poll kept the last data
        assert source.poll(eager=True).heartbeat.pid == 4343  # type: ignore[union-attr]
        assert source.reads == 2
    finally:
        source.close()
