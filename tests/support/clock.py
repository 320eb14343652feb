"""A clock a test sets and moves by hand, for the store and whatever else takes ``clock``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["START", "FakeClock"]

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


class FakeClock:
    """Says ``now`` until it is set or advanced; with ``tick``, each reading first moves it on
    by that many seconds (every write of a store then gets a time of its own)."""

    def __init__(self, start: datetime = START, *, tick: float = 0.0) -> None:
        self.now = start
        self.tick = timedelta(seconds=tick)

    def __call__(self) -> datetime:
        self.now += self.tick
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
