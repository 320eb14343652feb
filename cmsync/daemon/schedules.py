"""When each job runs next, as the dashboard shows it, from the settings the daemon runs with.

The store records runs, not plans, so ``cmsync tui`` derives each step's schedule from the
same configuration file: an interval job runs next at its last start plus its interval, the
report job at its cron's first fire time after its last start. The daemon's own times can be
a few seconds off these (jitter; a poller's run moves the dispatcher forward), which is
within what the panel shows ("in 4m").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from cmsync.config import Settings
from cmsync.daemon.runner import JOBS

__all__ = ["Schedule", "job_schedules"]

Schedule = timedelta | Callable[[datetime], datetime | None]


def _after(cron: str) -> Callable[[datetime], datetime | None]:
    trigger = CronTrigger.from_crontab(cron, timezone=UTC)

    def next_run(started: datetime) -> datetime | None:
        # A run starts at (or just after) its fire time: the next one is the one after it.
        fire: datetime | None = trigger.get_next_fire_time(None, started + timedelta(seconds=1))
        return fire

    return next_run


def job_schedules(settings: Settings) -> dict[str, Schedule]:
    """Each step's schedule, by the name its runs are recorded under (``SyncPass.run_step``)."""
    out: dict[str, Schedule] = {}
    for spec in JOBS:
        schedule: Schedule
        if spec.every is not None:
            schedule = timedelta(seconds=spec.every(settings))
        else:
            assert spec.cron is not None
            schedule = _after(spec.cron(settings))
        for step in spec.steps:
            out.setdefault(step, schedule)
    return out
