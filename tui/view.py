"""What every panel is handed on each refresh: the data, the time, and the operator's settings.

The time is part of the view, not read by panels, so ages ("12s ago", "stale") advance even
when the store has not changed, and a test or a snapshot can fix it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from tui.data import DashboardData

__all__ = ["Panel", "Schedule", "View"]

# A job's schedule: its interval, or when it runs next after a run that started then (a cron).
Schedule = timedelta | Callable[[datetime], datetime | None]


@dataclass(frozen=True, slots=True)
class View:
    data: DashboardData
    now: datetime
    target_label: str  # what the config points at: "sandbox", "production", ...
    schedules: Mapping[str, Schedule] = field(default_factory=dict)  # job -> its schedule
    stale_after: timedelta = timedelta(seconds=30)  # no beat for this long: "stale"


@runtime_checkable
class Panel(Protocol):
    """A widget that redraws itself from a ``View``, changing only what differs."""

    def show(self, view: View) -> None: ...
