"""How the dashboard writes figures: ages, durations, money, and the daemon's liveness.

Pure functions of their arguments (the clock is always passed in), so panels render the same
text for the same data and time, which is what the layout snapshot relies on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from state import Heartbeat
from state.liveness import MachineClock, beat_age

__all__ = [
    "DaemonLiveness",
    "ago",
    "clip",
    "count",
    "duration",
    "fields_summary",
    "liveness",
    "money",
    "span",
]


class DaemonLiveness(StrEnum):
    RUNNING = "running"
    STALE = "stale"  # no clean stop recorded, but no beat lately either: hung or killed
    STOPPED = "stopped"
    NEVER = "never started"


def liveness(
    beat: Heartbeat | None,
    now: datetime,
    stale_after: timedelta,
    here: MachineClock | None = None,
) -> DaemonLiveness:
    """Running while beats are recent; a clean shutdown says stopped, silence says stale.

    Recent by the beat's monotonic age on this machine (``here``), else by wall time, and a beat
    dated in the future is never recent (``state.liveness``)."""
    if beat is None:
        return DaemonLiveness.NEVER
    if beat.stopped_at is not None:
        return DaemonLiveness.STOPPED
    age = beat_age(beat, now, here).age
    if age is None or age > stale_after:
        return DaemonLiveness.STALE
    return DaemonLiveness.RUNNING


def span(delta: timedelta) -> str:
    """A compact length of time: ``42s``, ``5m 03s``, ``3h 07m``, ``2d 04h``."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def ago(moment: datetime | None, now: datetime) -> str:
    """``12s ago``; ``—`` when unknown. A moment ahead of ``now`` (clock skew) reads ``now``."""
    if moment is None:
        return "—"
    if moment >= now:
        return "now"
    return f"{span(now - moment)} ago"


def duration(seconds: float | None) -> str:
    """A job's run time: milliseconds below a second, then ``span``."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return span(timedelta(seconds=seconds))


def money(cents: int) -> str:
    """Integer cents as ``12,345.67``. No symbol: MRR is in the ChartMogul account's currency."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{part:02d}"


def count(value: int) -> str:
    return f"{value:,}"


def clip(text: str, width: int) -> str:
    """One line of at most ``width`` characters, with an ellipsis when cut."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


def fields_summary(fields: Mapping[str, Any], width: int = 60) -> str:
    """``Field__c=value, ...`` for the live feed, cut to ``width``."""
    parts = [f"{name}={value}" for name, value in fields.items()]
    return clip(", ".join(parts), width)
