"""cmsync's operators' dashboard (Textual): the daemon's store, live, with its actions.

``run_dashboard(db_path, target_label=...)`` is what ``cmsync tui`` calls. The dashboard only
reads the store (read-only connection, short transactions) and writes command rows for the
daemon; it never talks to ChartMogul or Salesforce.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tui.app import Dashboard
from tui.commands import CommandWriter
from tui.data import DashboardData, DataSource
from tui.view import Schedule

__all__ = ["Dashboard", "DashboardData", "DataSource", "run_dashboard"]


def run_dashboard(
    db_path: Path,
    *,
    target_label: str,
    schedules: Mapping[str, Schedule] | None = None,
) -> None:
    """Run the dashboard over the store at ``db_path`` until the operator quits.

    ``target_label`` names what the configuration points at ("sandbox", "production"), shown
    in the header. ``schedules`` (job name -> interval, or the next run after a start for a
    cron), if given, lets the jobs panel say when each job runs next.
    """
    source = DataSource(db_path)
    writer = CommandWriter(db_path)
    try:
        Dashboard(source, target_label=target_label, commands=writer, schedules=schedules).run()
    finally:
        writer.close()
        source.close()
