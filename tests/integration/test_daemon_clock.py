"""The daemon's schedule against its clocks: every job runs, and a stepped wall clock stalls none.

The real daemon (``Daemon.run``, what ``cmsync run`` runs) in this process, against the
sandbox over its sockets, on schedules of a few seconds, with a wall clock the test steps.

APScheduler 3 reads the system clock itself (``datetime.now`` in its scheduler and executor),
so a test cannot step the clock it sees. What a step of the system clock does to it is plain,
though: each job's next run is a wall-clock time, so a clock stepped back by ``d`` leaves
every job ``d`` further away than planned. ``_step`` does both: it steps the wall clock the
daemon is given, and moves every job's next run by what that step does to it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cmsync import status
from cmsync.config import Settings
from cmsync.daemon import JOBS, Daemon
from cmsync.sandbox.runner import SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import Store
from tests.support.invariants import World
from tests.support.processes import FAST

BEAT = 0.3  # seconds between heartbeats (and looks at the clocks) in these tests


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    options = SandboxOptions(directory=tmp_path_factory.mktemp("daemon-clock"), accounts=6)
    running = sandbox_loop.call(start_sandbox(options))
    try:
        yield World.of(running, **FAST, CMSYNC_SCHEDULE__RECONCILE="2")
    finally:
        gc.collect()  # no lingering client response may hold a socket to the emulators
        sandbox_loop.call(running.stop())


class SteppedClock:
    """The wall clock as the daemon reads it: the system's, plus the steps a test makes."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Running:
    daemon: Daemon
    clock: SteppedClock
    store: Path


@pytest.fixture
async def running(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Running]:
    """A daemon over its own new store, running until the test ends."""
    caplog.set_level(logging.INFO, logger="cmsync.daemon")
    path = tmp_path / "cmsync.db"
    settings: Settings = world.settings.model_copy(
        update={"store": world.settings.store.model_copy(update={"path": path})}
    )
    clock = SteppedClock()
    daemon = Daemon(settings, target_label="sandbox", clock=clock, grace=5.0, beat_every=BEAT)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        async with asyncio.timeout(30):
            while daemon._scheduler is None or not daemon._scheduler.running:
                assert not task.done(), task.exception()
                await asyncio.sleep(0.05)
        yield Running(daemon, clock, path)
    finally:
        stop.set()
        await task


def _runs(path: Path) -> dict[str, int]:
    """Each step's latest run id (ids only grow: a newer run has a higher id)."""
    store = Store.open_readonly(path)
    try:
        with store.snapshot() as q:
            return {run.job: run.id for run in q.latest_job_runs()}
    finally:
        store.close()


async def _until(what: str, seconds: float, check: Callable[[], bool]) -> None:
    for _ in range(int(seconds * 10)):
        if check():
            return
        await asyncio.sleep(0.1)
    assert check(), f"waited {seconds:.0f}s for {what}"


def _every_step(daemon: Daemon) -> set[str]:
    return {step for spec in JOBS for step in spec.steps}


def _step(run: Running, by: timedelta) -> None:
    """Step the wall clock by ``by``, as the daemon and its scheduler see it (module doc)."""
    run.clock.offset += by
    scheduler = run.daemon._scheduler
    assert scheduler is not None
    for job in scheduler.get_jobs():
        if by < timedelta() and job.next_run_time is not None:
            scheduler.modify_job(job.id, next_run_time=job.next_run_time - by)


def _steps_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "wall clock stepped" in r.getMessage()]


async def test_every_job_runs_the_report_job_included(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    steps = _every_step(running.daemon)
    assert {"reports", "reconcile", "dispatch", "late_activities", "closed_won"} <= steps
    # The report job's cron fires once a day; on a new store it has never run, so it runs at
    # start rather than waiting (a paused job would never run at all).
    await _until("every job's steps recorded a run", 20, lambda: steps <= set(_runs(running.store)))
    armed = {
        m.group(1)
        for r in caplog.get_records("setup")  # logged at start, before any run
        if (m := re.match(r"job (\w+): next run ", r.getMessage()))
    }
    assert {spec.name for spec in JOBS} | {"commands"} <= armed
    scheduler = running.daemon._scheduler
    assert scheduler is not None
    assert all(job.next_run_time is not None for job in scheduler.get_jobs())


async def _all_run_again(run: Running, seconds: float) -> None:
    """Every interval job runs again (the report job waits for its cron)."""
    before = _runs(run.store)
    polled = ("customers", "activities", "late_activities", "closed_won", "dispatch")

    def again() -> bool:
        now = _runs(run.store)
        return all(now.get(step, 0) > before.get(step, 0) for step in polled)

    await _until("the jobs running again", seconds, again)


async def test_a_wall_clock_stepped_back_stalls_no_job(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    _step(running, -timedelta(hours=1))
    # Every job is an hour away now, until the daemon sees the step and re-arms them.
    await _all_run_again(running, 8)
    said = _steps_logged(caplog)
    assert len(said) == 1 and re.search(r"stepped back by 3600 s", said[0]), said
    # The heartbeat goes on, and is judged by its monotonic age, not its wall time.
    seen = status.collect(running.store, running.clock())
    assert seen["daemon"]["state"] == "running", seen["daemon"]
    assert seen["daemon"]["beat_age_by"] == "monotonic"


async def test_a_clock_stepped_forward_a_day_and_back_stalls_no_job(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    _step(running, timedelta(days=1))
    await _until("the step forward seen", 5, lambda: len(_steps_logged(caplog)) == 1)
    # What ran meanwhile was armed a day ahead; back to the right time, a day away.
    _step(running, -timedelta(days=1))
    await _all_run_again(running, 8)
    said = _steps_logged(caplog)
    assert len(said) == 2, said
    assert "stepped forward by 86400 s" in said[0] and "stepped back by 86400 s" in said[1]
