"""The daemon's schedule against the clocks (``cmsync.daemon.timing``), on a real APScheduler.

How APScheduler 3.11 behaves, read in its source: ``add_job(next_run_time=None)`` adds the job
paused (``next_run_time`` defaults to ``undefined``: the trigger's first fire time); a job's
next run is a wall-clock time, and a wake-up sleeps "next run minus wall-clock now".
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from cmsync.daemon.timing import StepWatch, check_armed, rearm, report_missed

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


async def _noop() -> None:
    return None


class Clocks:
    def __init__(self) -> None:
        self.wall = NOW
        self.mono = 100.0

    def tick(self, seconds: float, *, step: timedelta = timedelta()) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds) + step


def test_a_step_is_the_wall_clocks_advance_against_the_monotonic_ones() -> None:
    clocks = Clocks()
    watch = StepWatch(lambda: clocks.wall, lambda: clocks.mono)
    clocks.tick(5)
    assert watch.look() is None
    clocks.tick(5, step=timedelta(seconds=10))  # a slew or a late look: not a step
    assert watch.look() is None
    clocks.tick(5, step=-timedelta(hours=1))
    assert watch.look() == -timedelta(hours=1)
    clocks.tick(5)
    assert watch.look() is None  # said once
    clocks.tick(5, step=timedelta(days=1))
    assert watch.look() == timedelta(days=1)


async def test_rearm_brings_every_job_within_its_period() -> None:
    scheduler = AsyncIOScheduler(timezone=UTC)
    later = NOW + timedelta(hours=1)  # where a clock stepped back an hour leaves them
    scheduler.add_job(_noop, IntervalTrigger(seconds=30, jitter=5), id="poll", next_run_time=later)
    scheduler.add_job(_noop, IntervalTrigger(seconds=30), id="due", next_run_time=NOW)
    scheduler.add_job(
        _noop, CronTrigger.from_crontab("15 0 * * *", timezone=UTC), id="report",
        next_run_time=NOW + timedelta(days=1, hours=13),
    )  # fmt: skip
    scheduler.start(paused=True)
    try:
        assert sorted(rearm(scheduler, NOW)) == ["poll", "report"]
        runs = {job.id: job.next_run_time for job in scheduler.get_jobs()}
        assert runs["poll"] == NOW + timedelta(seconds=35)
        assert runs["due"] == NOW  # due already: left to run at once
        assert runs["report"] == datetime(2026, 12, 8, 0, 15, tzinfo=UTC)
        assert rearm(scheduler, NOW) == []
    finally:
        scheduler.shutdown(wait=False)


async def test_a_job_added_paused_stops_the_start(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cmsync.daemon")
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(_noop, IntervalTrigger(seconds=30), id="poll", next_run_time=NOW)
    cron = CronTrigger.from_crontab("* * * * *", timezone=UTC)
    scheduler.add_job(_noop, cron, id="reports", next_run_time=None)
    scheduler.start(paused=True)
    try:
        with pytest.raises(RuntimeError, match=r"added paused.*reports"):
            check_armed(scheduler)
        assert f"job poll: next run {NOW.isoformat()}" in caplog.text
        scheduler.modify_job("reports", next_run_time=NOW)
        check_armed(scheduler)
    finally:
        scheduler.shutdown(wait=False)


def test_a_report_missed_while_down_is_due_at_start() -> None:
    cron = CronTrigger.from_crontab("15 0 * * *", timezone=UTC)
    assert report_missed(cron, None, NOW)  # never ran
    assert report_missed(cron, NOW - timedelta(days=1), NOW)  # down at 00:15 today
    assert not report_missed(cron, NOW.replace(hour=0, minute=15), NOW)  # ran today
