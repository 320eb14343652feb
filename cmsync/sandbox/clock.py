"""The sandbox's emulated clock: real time plus an offset that only moves forward.

Both emulators share one clock so that token expiry, the Salesforce daily allocation, and
ChartMogul's "now" (Past Due, metrics summaries) move together when a test advances time
through ``POST /__sandbox/clock``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["SandboxClock"]


class SandboxClock:
    """Wall-clock time shifted by an offset that tests can advance."""

    def __init__(self, source: Callable[[], datetime] | None = None) -> None:
        self._source = source or (lambda: datetime.now(UTC))
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The emulated current time, timezone-aware UTC."""
        with self._lock:
            return self._source() + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move the emulated clock forward; going backwards is refused."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset.total_seconds()
