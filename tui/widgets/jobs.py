"""Jobs: each scheduled job's last run, its result, how long it took, and when it runs next.

The next run is the last start plus the job's interval, or its cron's next fire time after
that start, when the dashboard was told the schedule (``View.schedules``: ``cmsync tui``
derives it from the configuration the daemon runs with); the store records runs, not plans,
so otherwise it shows a dash.
A run without a result is still going, or was cut short by a daemon that died mid-run.

The rows are steps (what a run is recorded under); the daemon's jobs each run one or more of
them, and their health (``state.jobhealth``, stored with the heartbeat) is the title: how
many jobs are up, and the first failing job with its count of failed runs in a row and its
last error as the subtitle. A store the daemon never beat in shows the plain title.
"""

from __future__ import annotations

from datetime import timedelta

from rich.text import Text

from state import JobHealthRecord, JobResult, JobRun
from tui.format import ago, clip, duration, span
from tui.view import View
from tui.widgets.keyed_table import Cell, Column, KeyedTable, Row

__all__ = ["JobsPanel"]

_RESULT_STYLES = {JobResult.OK: "green", JobResult.ERROR: "bold red", JobResult.SKIPPED: "yellow"}


def _result(run: JobRun) -> Cell:
    if run.result is None:
        return Text("running", "yellow")
    return Text(run.result.value, _RESULT_STYLES[run.result])


def _next(run: JobRun, view: View) -> str:
    schedule = view.schedules.get(run.job)
    if schedule is None or run.result is None:
        return "—"
    due = run.started_at + schedule if isinstance(schedule, timedelta) else schedule(run.started_at)
    if due is None:  # a cron that never fires again
        return "—"
    return "due" if due <= view.now else f"in {span(due - view.now)}"


class JobsPanel(KeyedTable):
    COLUMNS = (
        Column("job", "job", 22),
        Column("last", "last run", 10),
        Column("result", "result", 7),
        Column("took", "took", 7),
        Column("next", "next", 9),
    )

    def __init__(self) -> None:
        super().__init__(title="Jobs", id="jobs")

    def show(self, view: View) -> None:
        rows: list[Row] = [
            (
                run.job,
                (
                    ago(run.started_at, view.now),
                    _result(run),
                    duration(run.duration_s),
                    _next(run, view),
                ),
            )
            for run in view.data.jobs
        ]
        self.sync(rows)
        health = view.data.health
        self.border_title = _title(health)
        failing = [record for record in health if not record.up]
        failed = [run for run in view.data.jobs if run.result is JobResult.ERROR]
        if failing:
            job = failing[0]
            self.border_subtitle = clip(
                f"{job.job} failing x{job.failures}: {job.last_error or ''}", 60
            )
        else:
            self.border_subtitle = (
                clip(f"{failed[0].job}: {failed[0].detail}", 60) if failed else ""
            )


def _title(health: tuple[JobHealthRecord, ...]) -> str:
    if not health:
        return "Jobs"
    up = sum(record.up for record in health)
    return f"Jobs · {up}/{len(health)} up"
