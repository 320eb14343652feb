"""Health per job: the pure record, what the store keeps of it, how ``cmsync status`` shows
it (the dashboard's jobs panel: tests/tui/test_panels.py), and the daemon's job table
refusing a step it does not know."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cmsync import status
from cmsync.daemon import JOBS, JobSpec
from cmsync.daemon.health import JobHealth
from cmsync.pipeline.sync_pass import STEPS, Step
from state import JobHealthRecord, ReadOnlyStore, Store
from state.jobhealth import ERROR_CHARS

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
T1, T2, T3 = (T0 + timedelta(minutes=n) for n in (1, 2, 3))


# --- the record -------------------------------------------------------------------------


def test_a_new_job_is_up_and_has_never_succeeded() -> None:
    record = JobHealthRecord("chartmogul")
    assert record.up and record.failures == 0
    assert record.last_success_at is None and record.last_error is None


def test_failures_count_in_a_row_and_a_success_resets_them_keeping_the_last_error() -> None:
    record = JobHealthRecord("chartmogul").succeeded(T0)
    record = record.failed("payments: 503", T1).failed("payments: timed out", T2)
    assert (record.up, record.failures) == (False, 2)
    assert (record.last_error, record.last_error_at) == ("payments: timed out", T2)
    assert record.last_success_at == T0  # a failure leaves the last success as it was
    record = record.succeeded(T3)
    assert (record.up, record.failures, record.last_success_at) == (True, 0, T3)
    # What went wrong last, and when, stays readable after the recovery.
    assert (record.last_error, record.last_error_at) == ("payments: timed out", T2)


def test_a_long_error_is_cut_as_a_job_run_detail_is() -> None:
    record = JobHealthRecord("reports").failed("x" * (ERROR_CHARS + 50), T0)
    assert record.last_error == "x" * ERROR_CHARS


def test_as_json_says_the_count_and_the_times() -> None:
    record = JobHealthRecord("dispatch").succeeded(T0).failed("dispatch: paused", T1)
    assert record.as_json() == {
        "up": False,
        "consecutive_failures": 1,
        "last_success_at": T0.isoformat(),
        "last_error": "dispatch: paused",
        "last_error_at": T1.isoformat(),
    }


def test_the_daemons_wrapper_says_a_failure_once_and_the_recovery_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    times = iter((T0, T1, T2, T3))
    health = JobHealth("chartmogul", lambda: next(times))
    health.failed("payments: 503")
    health.failed("payments: 503")
    assert (health.up, health.failures, health.reason) == (False, 2, "payments: 503")
    health.succeeded()
    assert health.record == JobHealthRecord(
        "chartmogul", 0, last_success_at=T2, last_error="payments: 503", last_error_at=T1
    )
    said = [r.getMessage() for r in caplog.records if r.name == "cmsync.health"]
    assert said == [
        "job chartmogul is failing: payments: 503",
        "job chartmogul runs again after 2 failed runs",
    ]


# --- the store ----------------------------------------------------------------------------


def test_the_store_keeps_each_jobs_record_and_a_complete_write_drops_other_jobs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cmsync.db"
    failing = JobHealthRecord("chartmogul").succeeded(T0).failed("payments: 503", T1)
    with Store.open(path, clock=lambda: T2) as store:
        with store.transaction() as tx:
            tx.daemon.put_health(
                [JobHealthRecord("customers").succeeded(T1), failing, JobHealthRecord("gone")]
            )
        with store.transaction() as tx:  # one job's run ended: only its row changes
            tx.daemon.put_health([failing.failed("payments: 503", T2)])
        with store.transaction() as tx:
            assert [(r.job, r.failures) for r in tx.daemon.health()] == [
                ("chartmogul", 2),
                ("customers", 0),
                ("gone", 0),
            ]
            tx.daemon.put_health(tx.daemon.health()[:2], complete=True)  # "gone" left JOBS
    with ReadOnlyStore.open(path) as reader, reader.snapshot() as q:
        assert q.job_health() == [
            JobHealthRecord("chartmogul", 2, T0, "payments: 503", T2),
            JobHealthRecord("customers", 0, T1),
        ]


# --- status -------------------------------------------------------------


def test_status_shows_health_per_job_in_json_and_text(tmp_path: Path) -> None:
    path = tmp_path / "cmsync.db"
    with Store.open(path, clock=lambda: T2) as store, store.transaction() as tx:
        tx.daemon.beat(1, T0, "sandbox")
        tx.daemon.put_health(
            [
                JobHealthRecord("chartmogul", 3, T0, "payments: ServerError: 503", T2),
                JobHealthRecord("customers").succeeded(T2),
            ],
            complete=True,
        )
    shown = status.collect(path, T3)
    assert shown["health"]["chartmogul"] == {
        "up": False,
        "consecutive_failures": 3,
        "last_success_at": T0.isoformat(),
        "last_error": "payments: ServerError: 503",
        "last_error_at": T2.isoformat(),
    }
    assert shown["health"]["customers"]["up"] is True
    text = status.render(shown).splitlines()
    assert (
        f"health    chartmogul      FAILING x3 (last success {T0.isoformat()}), last error at "
        f"{T2.isoformat()}: payments: ServerError: 503"
    ) in text
    assert f"health    customers       up, last success {T2.isoformat()}" in text


# --- the job table --------------------------------------------------------------------------


def test_every_job_names_steps_by_reference_and_every_step_is_run_somewhere() -> None:
    assert all(isinstance(step, Step) for spec in JOBS for step in spec.steps)
    scheduled = {step for spec in JOBS for step in spec.steps}
    assert set(STEPS) <= scheduled  # a pass's step no job runs would never run in the daemon


def test_a_job_naming_an_unknown_step_is_refused_where_it_is_declared() -> None:
    with pytest.raises(TypeError, match="steps must be Steps"):
        JobSpec("chartmogul", ("activites",), "ChartMogul", every=lambda s: 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'activites' is not a valid Step"):
        Step("activites")  # what a caller naming a step (the CLI, the benchmarks) meets
    with pytest.raises(TypeError, match="an interval or a cron"):
        JobSpec("reports", (Step.REPORTS,), "ChartMogul")
