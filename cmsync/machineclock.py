"""This machine's monotonic clock and boot id, for heartbeats judged by age (``state.liveness``).

``time.monotonic`` is ``CLOCK_MONOTONIC`` on Linux: one clock for every process of a boot, never
stepped by NTP or an operator. The boot id (``/proc/sys/kernel/random/boot_id``, a random UUID
the kernel makes at each boot) says whether two readings come from the same boot and can be
subtracted; where there is none (not Linux), ages fall back to wall time.
"""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path

from state.liveness import MachineClock

__all__ = ["BOOT_ID", "boot_id", "machine_clock"]

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@cache
def boot_id() -> str | None:
    """This boot's id, or None where the kernel gives none."""
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def machine_clock() -> MachineClock:
    return MachineClock(time.monotonic(), boot_id())
