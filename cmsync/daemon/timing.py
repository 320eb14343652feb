"""The daemon's schedule against the clocks: every job armed, and re-armed when the clock steps.

Why. APScheduler 3 keeps each job's next run as a wall-clock time and, on each wake-up, sleeps
(an asyncio timer, monotonic) for "next run minus wall-clock now". A wall clock stepped back an
hour (NTP after a suspend or a bad sync) leaves every job an hour away, the heartbeat job
included; stepped forward a day, the jobs run once and are re-armed a day ahead, so a step
back then stops them for a day. And a job added with ``next_run_time=None`` is added paused,
silently.

How.
- ``check_armed``: once the scheduler has started, each job's next run is logged and a job
  without one (paused) is an error at start, never a job that quietly never runs.
- ``StepWatch``: the wall clock's advance against the monotonic clock's between two looks;
  a difference beyond ``STEP`` is a step. The daemon looks at each heartbeat, from a loop on
  the monotonic clock (``asyncio.sleep``), so a step cannot stall the look itself.
- ``rearm``: after a step, every job whose next run is further away than the job's own period
  (what no job without a step can be) is brought to at most one period from now: an interval
  job to now + its interval (plus jitter), a cron job to its next fire time from now. A job
  already due stays due and runs at once.
- ``report_missed``: the report job runs at start when a fire time of its cron passed since
  its last run (or it never ran): a daemon down at 00:15 still writes the day's KPI rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["STEP", "StepWatch", "check_armed", "rearm", "report_missed"]

log = logging.getLogger("cmsync.daemon")

# NTP slews offsets below 128 ms and steps larger ones; a suspend shows as minutes or more.
# Thirty seconds is far beyond a slew or a loaded machine's scheduling delay.
STEP = timedelta(seconds=30)


class StepWatch:
    """Wall-clock steps, seen as the wall clock's advance minus the monotonic clock's."""

    def __init__(
        self,
        wall: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        *,
        threshold: timedelta = STEP,
    ) -> None:
        self.wall = wall
        self.monotonic = monotonic
        self.threshold = threshold
        self._last = (wall(), monotonic())

    def look(self) -> timedelta | None:
        """The step since the last look (forward positive), or None if the clocks agree."""
        wall, mono = self.wall(), self.monotonic()
        last_wall, last_mono = self._last
        self._last = (wall, mono)
        step = (wall - last_wall) - timedelta(seconds=mono - last_mono)
        return step if abs(step) > self.threshold else None


def _period(trigger: object, now: datetime) -> datetime | None:
    """The latest a job's next run can be from ``now`` without a step."""
    if isinstance(trigger, IntervalTrigger):
        interval: timedelta = trigger.interval
        return now + interval + timedelta(seconds=trigger.jitter or 0)
    if isinstance(trigger, CronTrigger):
        nxt: datetime | None = trigger.get_next_fire_time(None, now)
        return nxt
    return None


def rearm(scheduler: BaseScheduler, now: datetime) -> list[str]:
    """Bring each job's next run within one period of ``now``; the ids of those moved.

    ``now`` is the scheduler's own clock (the system's: APScheduler 3 reads it directly)."""
    moved: list[str] = []
    for job in scheduler.get_jobs():
        latest = _period(job.trigger, now)
        if job.next_run_time is None or latest is None or job.next_run_time <= latest:
            continue
        scheduler.modify_job(job.id, next_run_time=latest)
        moved.append(job.id)
    return moved


def check_armed(scheduler: BaseScheduler) -> None:
    """Log each job's next run; a job the scheduler holds paused is an error."""
    paused = []
    for job in sorted(scheduler.get_jobs(), key=lambda j: j.id):
        if job.next_run_time is None:
            paused.append(job.id)
        else:
            log.info("job %s: next run %s", job.id, job.next_run_time.isoformat())
    if paused:
        raise RuntimeError(f"jobs added paused, they would never run: {', '.join(paused)}")


def report_missed(cron: CronTrigger, last_run: datetime | None, now: datetime) -> bool:
    """Whether a fire time of ``cron`` passed since ``last_run`` (always, if it never ran)."""
    if last_run is None:
        return True
    # The next fire time after the run (a run at a fire time is that fire time's run).
    fire: datetime | None = cron.get_next_fire_time(last_run, last_run)
    return fire is not None and fire <= now
