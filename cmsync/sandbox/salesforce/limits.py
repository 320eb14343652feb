"""The org's daily API allocation, counted on the emulated clock.

Every authenticated REST call (not the token endpoint) spends one request. The count restarts
when the emulated clock enters a new UTC day: Salesforce's window is a rolling 24 hours, and
a calendar day is the simplification that lets a test reset the count by moving the clock past
midnight. The allocation comes from the fault profile when it sets one (``budget``), else from
the emulator's configuration. Once spent, calls answer 403 REQUEST_LIMIT_EXCEEDED.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime

__all__ = ["DailyAllowance"]


class DailyAllowance:
    """API requests used today against the daily maximum."""

    def __init__(self, clock: Callable[[], datetime], maximum: Callable[[], int]) -> None:
        self._clock = clock
        self._maximum = maximum
        self._lock = threading.Lock()
        self._day: date | None = None
        self._used = 0

    def _roll(self) -> None:
        today = self._clock().astimezone(UTC).date()
        if today != self._day:
            self._day, self._used = today, 0

    def spend(self) -> bool:
        """Count one request; False (and nothing counted) when the allocation is spent."""
        with self._lock:
            self._roll()
            if self._used >= self._maximum():
                return False
            self._used += 1
            return True

    @property
    def used(self) -> int:
        with self._lock:
            self._roll()
            return self._used

    @property
    def maximum(self) -> int:
        return self._maximum()

    def header(self) -> str:
        """The ``Sforce-Limit-Info`` header value."""
        return f"api-usage={min(self.used, self.maximum)}/{self.maximum}"
