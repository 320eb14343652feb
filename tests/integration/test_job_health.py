"""Health per job, as ``cmsync status`` reads it from the store: the daemon in process, the
sandbox over real sockets, and ChartMogul's invoice listing answering 503 for a while.

Only the ``chartmogul`` job reads that listing (its payments step); ``customers`` and
``late_activities`` read the same service through other resources. Health is per job, so the
failing one shows failing with its count of failed runs in a row while the other jobs of its
source stay up and never record an error; once the listing answers again, its count goes back
to 0 and its last success moves on. The 503 is ChartMogul's own for an outage (the emulator's
fault answer, a plain-text body, as ``cmsync.sandbox.chartmogul.app`` renders it); the client
retries it until the job's timeout cuts the run short, as it would during a real outage.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from cmsync.config import Settings, load_settings
from cmsync.daemon import Daemon
from cmsync.errors import FatalError
from cmsync.sandbox.faults import Fault, FaultInjector
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from cmsync.status import collect, render
from state import JobHealthRecord, Store
from tests.support.waiting import until

FAST = {
    "chartmogul_poll": 0.2,
    "customers": 0.5,
    "late_activities": 0.5,
    "salesforce_poll": 1.0,
    "dispatch": 0.5,
    "commands": 0.5,
    "jitter": 0.0,
    "job_timeout": 1.2,  # a run the outage holds up is cut short here and counted as failed
}


class InvoiceListingDown(FaultInjector):
    """A fake fault source: while ``down``, ChartMogul's full invoice listing (what the
    payments step reads) answers 503; every other request is answered as usual."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def request_fault(self, key: str, applicable: frozenset[Fault]) -> Fault | None:
        listing = key.startswith("GET /v1/invoices") and "customer_uuid=" not in key
        if self.down and listing and "external_id=" not in key:
            return Fault.SERVER_ERROR
        return None

    def server_error_status(self, key: str) -> int:
        return 503


@pytest.fixture(scope="module")
def sandbox(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("job-health")
    running = sandbox_loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=8)))
    try:
        yield running
    finally:
        gc.collect()
        sandbox_loop.call(running.stop())


def _settings(sandbox: RunningSandbox) -> Settings:
    settings = load_settings(sandbox.config_file)
    schedule = settings.schedule.model_copy(update=FAST)
    return settings.model_copy(update={"schedule": schedule})


async def test_a_failing_job_counts_its_failures_and_the_other_jobs_of_its_source_stay_up(
    sandbox: RunningSandbox,
) -> None:
    settings = _settings(sandbox)
    path = settings.store.path

    def health() -> dict[str, Any]:
        if not path.exists():
            return {}
        found: dict[str, Any] = collect(path, datetime.now(UTC))["health"]
        return found

    def failing(times: int) -> bool:
        return health().get("chartmogul", {}).get("consecutive_failures", 0) >= times

    def recovered() -> bool:
        record = health().get("chartmogul", {})
        return bool(record.get("up")) and record["last_success_at"] is not None

    outage, usual = InvoiceListingDown(), sandbox.ctx.faults
    sandbox.ctx.faults = outage
    daemon = Daemon(settings, target_label="sandbox", grace=5)
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    try:
        await until(lambda: failing(2), 30, "two failed runs of the chartmogul job")
        during = collect(path, datetime.now(UTC))
        outage.down = False
        back_at = datetime.now(UTC)
        await until(recovered, 15, "the chartmogul job running clean again")
        after = collect(path, datetime.now(UTC))["health"]
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        sandbox.ctx.faults = usual

    cut = "job chartmogul ran past 1s"
    chartmogul = during["health"]["chartmogul"]
    assert chartmogul["up"] is False and chartmogul["consecutive_failures"] >= 2
    assert chartmogul["last_error"] == cut and chartmogul["last_error_at"] is not None
    assert chartmogul["last_success_at"] is None  # it never got through the listing
    assert f"health    chartmogul      FAILING x{chartmogul['consecutive_failures']}" in render(
        during
    )
    # The other jobs of the same source: up, a success recorded, never an error (no flapping).
    for job in ("customers", "late_activities"):
        record = during["health"][job]
        assert record["up"] is True and record["consecutive_failures"] == 0, (job, record)
        assert record["last_success_at"] is not None and record["last_error"] is None, job
    assert set(during["health"]) == {
        "customers", "chartmogul", "late_activities", "salesforce", "dispatch", "reconcile",
        "reports",
    }  # fmt: skip

    record = after["chartmogul"]
    assert record["up"] is True and record["consecutive_failures"] == 0
    assert datetime.fromisoformat(record["last_success_at"]) >= back_at
    assert record["last_error"] == cut  # what went wrong stays readable after the recovery
    assert daemon.health["customers"].record.last_error is None


async def test_a_restarted_daemon_carries_on_each_jobs_record(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """Last success and failures outlive a restart: the daemon reads them back at its start,
    before its first refresh (which fails here, on an API key ChartMogul refuses)."""
    settings = _settings(sandbox)
    path = tmp_path / "cmsync.db"
    before = JobHealthRecord("chartmogul", 4, datetime(2026, 3, 1, tzinfo=UTC), "payments: 503")
    with Store.open(path) as store, store.transaction() as tx:
        tx.daemon.put_health([before, JobHealthRecord("retired job")])
    refused = settings.chartmogul.model_copy(update={"api_key": SecretStr("revoked")})
    store = settings.store.model_copy(update={"path": path})
    restarted = settings.model_copy(update={"chartmogul": refused, "store": store})
    daemon = Daemon(restarted, target_label="sandbox", first_refresh_delays=())
    with pytest.raises(FatalError, match="the first refresh failed"):
        await daemon.run(asyncio.Event())
    assert daemon.health["chartmogul"].record == before
    assert daemon.health["customers"].record == JobHealthRecord("customers")
    assert "retired job" not in daemon.health  # a job no longer in JOBS is not taken back


class MetricsDown(FaultInjector):
    """While ``down``, ChartMogul's metrics (what the KPI report reads) answer 503."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def request_fault(self, key: str, applicable: frozenset[Fault]) -> Fault | None:
        return Fault.SERVER_ERROR if self.down and key.startswith("GET /v1/metrics") else None

    def server_error_status(self, key: str) -> int:
        return 503


async def test_a_failed_report_is_tried_again_soon_not_at_the_next_cron_time(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """The report job's cron fires once a day: a run lost to an outage is tried again every
    ``schedule.report_retry`` seconds until one succeeds, so the day's KPI rows still land."""
    settings = _settings(sandbox)
    schedule = settings.schedule.model_copy(update={"report_retry": 0.5, "job_timeout": 3.0})
    store = settings.store.model_copy(update={"path": tmp_path / "cmsync.db"})  # never reported
    settings = settings.model_copy(update={"schedule": schedule, "store": store})
    outage, usual = MetricsDown(), sandbox.ctx.faults
    sandbox.ctx.faults = outage
    daemon = Daemon(settings, target_label="sandbox", grace=5)
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    try:
        # The report runs at start (its fire time passed since its last run) and fails.
        await until(lambda: daemon.health["reports"].failures >= 1, 30, "a failed report run")
        outage.down = False
        await until(lambda: daemon.health["reports"].up, 15, "the report tried again")
        with Store.open_readonly(settings.store.path) as store, store.snapshot() as q:
            runs = [run for run in q.latest_job_runs() if run.job == "reports"]
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        sandbox.ctx.faults = usual
    assert daemon.settings.schedule.report_cron == "15 0 * * *"  # tomorrow, without the retry
    assert [run.result.value if run.result else None for run in runs] == ["ok"]
