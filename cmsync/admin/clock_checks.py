"""The doctor's clock check: how far this machine's clock is from each service's.

Each client measures its server's clock from the ``Date`` header of every answer (RFC 9110
§6.6.1; ``state.serverclock``). cmsync's read windows follow the server's clock, so a skew
loses no record; it is still worth fixing: a JWT login signs its assertion with the local clock
(Salesforce accepts one that expires within three minutes: Salesforce Help, "OAuth 2.0 JWT
Bearer Flow for Server-to-Server Integration"), and every time cmsync logs or stores, every
schedule it keeps, is off by as much.
"""

from __future__ import annotations

from datetime import timedelta

from cmsync.admin.findings import Finding
from state.serverclock import NOTABLE_SKEW, ServerClock

__all__ = ["SKEW_WARNING", "skew_finding"]

SKEW_WARNING = NOTABLE_SKEW

_FIX = (
    "sync this machine's clock with NTP: enable chrony or systemd-timesyncd "
    "(`timedatectl set-ntp true`), then check `timedatectl status` (System clock synchronized: "
    "yes) or `chronyc tracking`"
)


def _span(delta: timedelta) -> str:
    seconds = round(abs(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes or hours else []
    return " ".join([*parts, f"{seconds}s"])


def skew_finding(
    area: str, service: str, clock: ServerClock, *, also: str | None = None
) -> Finding | None:
    """A warning when the local clock is more than a minute from ``service``'s, else ok; None
    when no answer showed the service's clock. ``also``: what else the skew breaks there."""
    if not clock.measured:
        return None
    offset = clock.offset
    if abs(offset) <= SKEW_WARNING:
        return Finding.ok(area, "clock", f"this machine's clock agrees with {service}'s")
    side = "behind" if offset > timedelta() else "ahead of"
    return Finding.warning(
        area,
        "clock",
        f"this machine's clock is {_span(offset)} {side} {service}'s (the Date of its answers): "
        f"cmsync reads by {service}'s clock and loses nothing, but the times it logs and "
        f"schedules are off by as much{f', and {also}' if also else ''}",
        _FIX,
    )
