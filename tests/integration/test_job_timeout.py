"""A job cut short by its timeout: the daemon in this process against the sandbox.

Every ChartMogul answer is made slower than the job timeout once the daemon has started, so
the next run of a ChartMogul job is cancelled in the middle of a call; its step's run must end
there as failed, saying why, not stay "running" in ``status`` and the dashboard until the
job's next run.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmsync.config import Settings, load_settings
from cmsync.daemon import Daemon
from cmsync.sandbox.faults import FaultProfile
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import JobResult, JobRun, Store

SLOW = FaultProfile("every answer slow", slow=1.0, slow_seconds=2.5)


@pytest.fixture(scope="module")
def sandbox(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    directory = tmp_path_factory.mktemp("job-timeout")
    running = sandbox_loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=4)))
    try:
        yield running
    finally:
        gc.collect()  # no lingering client response may hold a socket to the emulators
        sandbox_loop.call(running.stop())


def _settings(sandbox: RunningSandbox, store: Path) -> Settings:
    settings = load_settings(sandbox.config_file)
    schedule = settings.schedule.model_copy(
        update={"job_timeout": 1.0, "chartmogul_poll": 1.0, "jitter": 0.0}
    )
    return settings.model_copy(
        update={"schedule": schedule, "store": settings.store.model_copy(update={"path": store})}
    )


def _runs(path: Path) -> list[JobRun]:
    store = Store.open(path, create=False)
    try:
        with store.transaction() as tx:
            return [run for job in ("activities", "payments") for run in tx.queries.job_runs(job)]
    finally:
        store.close()


def _beat(path: Path) -> bool:
    if not path.exists():
        return False
    store = Store.open(path, create=False)
    try:
        with store.transaction() as tx:
            return tx.queries.heartbeat() is not None
    finally:
        store.close()


async def _until(check: object, seconds: float) -> None:
    assert callable(check)
    for _ in range(int(seconds / 0.1)):
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {seconds}s")


async def test_a_step_cut_short_by_the_job_timeout_ends_its_run_as_failed(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    path = tmp_path / "cmsync.db"
    daemon = Daemon(_settings(sandbox, path), target_label="sandbox", grace=5.0)
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    try:
        await _until(lambda: _beat(path), 30)  # the first refresh is done
        sandbox.ctx.faults.set_profile(SLOW)

        def timed_out() -> bool:
            return any(run.detail == "timed out after 1s" for run in _runs(path))

        await _until(timed_out, 15)
    finally:
        stop.set()
        await running
        sandbox.ctx.faults.set_profile("none")
    runs = _runs(path)
    cut = [run for run in runs if run.detail == "timed out after 1s"]
    assert cut and all(run.result is JobResult.ERROR and run.finished_at for run in cut)
    assert [run for run in runs if run.finished_at is None] == []  # none left "running"
