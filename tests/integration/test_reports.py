"""KPI reports against a seeded sandbox: one row per period, equal to the metrics API, idempotent.

The ground truth is ChartMogul's own metrics API, read with cmsync's client; the rows are read
back from Salesforce with SOQL; the emulator's request stats count the write calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from cmsync.chartmogul import connect
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.config import ReportSettings, Settings, load_settings
from cmsync.pipeline.context import SyncContext, load_context
from cmsync.pipeline.dispatch.dispatcher import Dispatcher, DispatchReport
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.streams.report_periods import Period, Span, recent_spans
from cmsync.pipeline.streams.reports import ReportStats, write_reports
from cmsync.pipeline.translate import Translator
from cmsync.salesforce.collections import CollectionsWriter
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import FieldWrite, RecordRef, Store

REPORTS = ReportSettings(periods=("day", "week", "month"), backfill=3)
COLUMNS = (
    "CM_Period_Key__c, Name, CM_Period__c, CM_Period_Start__c, CM_Period_End__c, CM_MRR__c, "
    "CM_ARR__c, CM_ARPA__c, CM_ASP__c, CM_LTV__c, CM_Customers__c, CM_Customer_Churn_Rate__c, "
    "CM_MRR_Churn_Rate__c, CM_MRR_New_Business__c, CM_MRR_Expansion__c, "
    "CM_MRR_Contraction__c, CM_MRR_Churn__c, CM_MRR_Reactivation__c"
)


@dataclass
class World:
    sandbox: RunningSandbox
    settings: Settings

    def write_calls(self) -> int:
        stats = self.sandbox.salesforce.stats.by_endpoint
        return sum(
            n
            for k, n in stats.items()
            if k.split(" ", 1)[0] in ("POST", "PATCH", "DELETE") and "/oauth2/" not in k
        )


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory: Path = tmp_path_factory.mktemp("reports")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=40, seed=13))
    )
    try:
        yield World(running, load_settings(directory / "cmsync.toml"))
    finally:
        sandbox_loop.call(running.stop())


@dataclass
class Services:
    chartmogul: ChartMogulClient
    gateway: SalesforceGateway
    store: Store
    now: datetime  # one moment for the whole test: its periods cannot roll over midway
    settings: Settings
    context: SyncContext

    async def write_reports(
        self, reports: ReportSettings, *, now: datetime | None = None, dry_run: bool = False
    ) -> ReportStats:
        """The reports step as a pass runs it, with ``reports`` as its settings."""
        settings = self.settings.model_copy(update={"reports": reports})
        translator = Translator(settings.fields, settings.sync, self.context.plan_names)
        poll = PollContext(
            settings, self.store, self.chartmogul, self.gateway, self.context, translator,
            dry_run=dry_run,
        )  # fmt: skip
        return await write_reports(poll, now=now or self.now)


@pytest.fixture
async def services(world: World) -> AsyncIterator[Services]:
    store = Store.open(world.settings.store.path)
    gateway = SalesforceGateway(world.settings.salesforce)
    try:
        async with connect(world.settings.chartmogul) as chartmogul:
            context = await load_context(gateway, chartmogul, world.settings.fields)
            try:
                yield Services(
                    chartmogul, gateway, store, world.sandbox.ctx.clock.now(), world.settings,
                    context,
                )  # fmt: skip
            finally:
                context.org.close()
    finally:
        await gateway.close()
        store.close()


async def _report(s: Services) -> tuple[ReportStats, DispatchReport]:
    stats = await s.write_reports(REPORTS)
    writer = CollectionsWriter(s.gateway)
    drained = await Dispatcher(s.store, writer, s.gateway.budget, clock=lambda: s.now).drain()
    return stats, drained


async def _rows(s: Services) -> dict[str, dict[str, Any]]:
    query = f"SELECT {COLUMNS} FROM CM_Metric_Snapshot__c"  # noqa: S608 (constant columns)
    return {
        r["CM_Period_Key__c"]: {k: v for k, v in r.items() if k != "attributes"}
        async for page in s.gateway.query_pages(query)
        for r in page
    }


async def _expected(s: Services) -> dict[str, dict[str, Any]]:
    """What each period's row must hold, straight from the metrics API."""
    today = s.now.date()
    out: dict[str, dict[str, Any]] = {}
    periods: tuple[Period, ...] = ("day", "week", "month")
    for period in periods:
        spans = recent_spans(period, today, REPORTS.backfill)
        full = await s.chartmogul.metrics(spans[0].start, today, period)
        moves = await s.chartmogul.metrics(spans[0].start, today, period, metric="mrr")
        assert len(full.entries) == len(moves.entries) == len(spans)
        for span, entry, move in zip(spans, full.entries, moves.entries, strict=True):
            assert span.contains(entry.date) and move.date == entry.date
            out[span.key] = _row(span, entry.model_dump(), move.model_dump())
    return out


def _row(span: Span, e: dict[str, Any], m: dict[str, Any]) -> dict[str, Any]:
    def money(cents: float) -> float:
        return round(cents) / 100

    return {
        "CM_Period_Key__c": span.key,
        "Name": span.name,
        "CM_Period__c": span.period,
        "CM_Period_Start__c": span.start.isoformat(),
        "CM_Period_End__c": span.end.isoformat(),
        "CM_MRR__c": money(e["mrr"]),
        "CM_ARR__c": money(e["arr"]),
        "CM_ARPA__c": money(e["arpa"]),
        "CM_ASP__c": money(e["asp"]),
        "CM_LTV__c": money(e["ltv"]),
        "CM_Customers__c": e["customers"],
        "CM_Customer_Churn_Rate__c": e["customer_churn_rate"],
        "CM_MRR_Churn_Rate__c": e["mrr_churn_rate"],
        "CM_MRR_New_Business__c": money(m["mrr_new_business"]),
        "CM_MRR_Expansion__c": money(m["mrr_expansion"]),
        "CM_MRR_Contraction__c": money(m["mrr_contraction"]),
        "CM_MRR_Churn__c": money(m["mrr_churn"]),
        "CM_MRR_Reactivation__c": money(m["mrr_reactivation"]),
    }


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _new_business(world: World, at: datetime) -> None:
    """A new customer paying from ``at``: today's MRR, customers and new business move."""
    cm = world.sandbox.chartmogul.store
    source = world.sandbox.seeded.data_source_uuid
    plan = next(p for p in cm.sources.list_plans({})["plans"] if p["interval_unit"] == "month")
    customer = cm.create_customer(
        {"data_source_uuid": source, "external_id": "report-new-1", "name": "Report Test Ltd"}
    )
    cm.import_invoices(
        customer["uuid"],
        [
            {
                "external_id": "report-inv-1",
                "date": _ts(at),
                "currency": "USD",
                "line_items": [
                    {"type": "subscription", "subscription_external_id": "report-sub-1",
                     "plan_uuid": plan["uuid"], "service_period_start": _ts(at),
                     "service_period_end": _ts(at + timedelta(days=30)),
                     "amount_in_cents": 123_456, "quantity": 1, "external_id": "report-li-1"}
                ],
                "transactions": [
                    {"type": "payment", "date": _ts(at), "result": "successful",
                     "external_id": "report-tx-1"}
                ],
            }
        ],
    )  # fmt: skip


async def test_one_row_per_period_equal_to_the_metrics_api_and_idempotent(
    world: World, services: Services
) -> None:
    stats, drained = await _report(services)
    assert (stats.rows, stats.enqueued, stats.uncovered) == (9, 9, 0)
    assert drained.calls == 1 and dict(drained.sent) == {("CM_Metric_Snapshot__c", "upsert"): 9}
    rows = await _rows(services)
    expected = await _expected(services)
    assert rows == expected
    today = services.now.date()
    month = date(today.year, today.month, 1)
    assert f"month:{month.isoformat()}" in rows  # the running period is written too

    # The same figures again: nothing enqueued, nothing sent, no new row.
    calls = world.write_calls()
    again, drained = await _report(services)
    assert (again.rows, again.enqueued, again.unchanged) == (9, 0, 9)
    assert drained.calls == 0 and world.write_calls() == calls
    assert await _rows(services) == expected

    # ChartMogul changes today's figures: today's day, week and month rows are updated in
    # place (same keys, same count), the other periods are left alone.
    start_of_today = datetime.combine(today, time(0, 0, 1), UTC)
    _new_business(world, max(services.now - timedelta(minutes=5), start_of_today))
    changed = await _expected(services)
    moved = {key for key in changed if changed[key] != expected[key]}
    current = {span.key for p in REPORTS.periods for span in recent_spans(p, today, 1)}
    assert moved and moved <= current
    dry = await services.write_reports(REPORTS, dry_run=True)
    assert {r.span.key for r in dry.changed} == moved and dry.enqueued == 0
    assert world.write_calls() == calls
    third, drained = await _report(services)
    assert third.enqueued == len(moved) and third.unchanged == 9 - len(moved)
    assert drained.calls == 1 and dict(drained.sent) == {
        ("CM_Metric_Snapshot__c", "upsert"): len(moved)
    }
    after = await _rows(services)
    assert after == changed and len(after) == 9


async def test_figures_wanted_again_are_written_again_but_never_queued_twice(
    world: World, services: Services
) -> None:
    """Figures that change and change back are written again (A, B, A): the comparison, not
    a content key, decides; and rows still waiting count as what the record will hold."""
    reports = ReportSettings(periods=("day",), backfill=1)
    first = await services.write_reports(reports)
    assert first.enqueued == 0  # the first test wrote today's row already
    with services.store.transaction() as tx:
        key = f"day:{services.now.date().isoformat()}"
        ref = RecordRef(REPORTS.object, key)
        written = tx.last_written.get_many([ref])[ref]
        # As if other figures (B) had been written since: today's (A) must be written again.
        tx.last_written.put_many([FieldWrite(REPORTS.object, key, "CM_MRR__c", -1.0)])
    queued = await services.write_reports(reports)
    assert queued.enqueued == 1
    later = services.now + timedelta(seconds=1)
    twice = await services.write_reports(reports, now=later)
    assert twice.enqueued == 0  # the waiting row already holds these figures
    calls = world.write_calls()
    writer = CollectionsWriter(services.gateway)
    drained = await Dispatcher(
        services.store, writer, services.gateway.budget, clock=lambda: later
    ).drain()
    assert drained.calls == 1 and dict(drained.sent) == {("CM_Metric_Snapshot__c", "upsert"): 1}
    assert world.write_calls() == calls + 1
    with services.store.transaction() as tx:
        assert tx.last_written.get_many([ref])[ref] == written
