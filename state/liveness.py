"""How old the daemon's last heartbeat is, judged without trusting a wall clock that stepped.

Why. A heartbeat's wall time says little once the clock has moved: stepped back (NTP after a
suspend, a bad sync), a killed daemon's last beat lies in the future and looks fresh for as
long as the step; stepped forward, a running daemon looks stale. The daemon therefore writes
with each beat its monotonic clock and the boot it was read in. On the same machine and boot
(``CLOCK_MONOTONIC`` is one clock for every process of a boot), the reader's monotonic clock
minus the beat's is the beat's true age. Otherwise (another machine reads a copied store, a
reboot, a beat from an older daemon) the wall clock is all there is, and a beat dated in the
future is never taken as fresh: its age is unknown.

Pure: both readings of the reader's clocks are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from state.records import Heartbeat

__all__ = ["FUTURE_TOLERANCE", "BeatAge", "MachineClock", "beat_age"]

# A beat this far ahead of the reader's wall clock is still "now": the beat's time and the
# reader's are taken by different processes a moment apart.
FUTURE_TOLERANCE = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class MachineClock:
    """The reader's monotonic clock (seconds) and its boot id (None where there is none)."""

    monotonic: float
    boot_id: str | None


@dataclass(frozen=True, slots=True)
class BeatAge:
    """The beat's age (None: unknown, a beat from the future) and the clock that measured it."""

    age: timedelta | None
    by: str  # "monotonic" or "wall"


def beat_age(beat: Heartbeat, now: datetime, here: MachineClock | None) -> BeatAge:
    """How long ago ``beat`` was written, as seen at wall time ``now`` on machine ``here``."""
    same_boot = (
        here is not None
        and here.boot_id is not None
        and beat.boot_id == here.boot_id
        and beat.monotonic is not None
    )
    if same_boot:
        assert here is not None and beat.monotonic is not None
        seconds = here.monotonic - beat.monotonic
        # Below zero is impossible within one boot, unless the beat is not what it claims.
        return BeatAge(timedelta(seconds=seconds) if seconds >= 0 else None, "monotonic")
    age = now - beat.beat_at
    if age < -FUTURE_TOLERANCE:
        return BeatAge(None, "wall")
    return BeatAge(max(age, timedelta()), "wall")
