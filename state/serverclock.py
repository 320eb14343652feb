"""A server's clock as its ``Date`` headers show it: local time plus a measured offset.

Why. Incremental reads end at "now" (``state.incremental``), and the stamps they compare with
are the server's (a Salesforce ``SystemModstamp``, a ChartMogul activity date). Taken from a
skewed local clock, that cap is wrong: a VM behind its servers leaves the newest records out
of every window until its own clock catches up; a VM ahead reads up to a time the server has
not reached. So each client measures its server's clock and a pass ends each source's windows
at that source's "now".

How. Every HTTP answer carries a ``Date`` (RFC 9110 §6.6.1: an origin server with a clock
"MUST generate a Date header field" in its 2xx, 3xx and 4xx responses), in whole seconds and
taken when the answer was made. A sample is ``Date - local time at receipt``: the server's
truncation and the network latency both make it low, never high, so the highest of the recent
samples is the best bound, and rounding it up to a whole second (the resolution ``Date`` has)
undoes the truncation: an in-sync clock measures zero, not a jitter. The recent samples are a
sliding window, so a clock corrected by NTP is followed within a few answers.

Pure: the local clock is passed in; nothing is read or written here. Thread-safe, as the
Salesforce client answers in worker threads.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

__all__ = ["NOTABLE_SKEW", "ServerClock", "parse_http_date"]

# Beyond this an operator should fix the clock (NTP keeps within milliseconds, Date within a
# second); below it, only a jitter of the measure.
NOTABLE_SKEW = timedelta(minutes=1)

_WINDOW = 16  # recent samples kept: a few passes' worth of answers


def _utc_now() -> datetime:
    return datetime.now(UTC)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` (IMF-fixdate, or the obsolete forms RFC 9110 still accepts) in UTC."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class ServerClock:
    """One server's "now": ``local()`` plus the offset its ``Date`` headers show."""

    def __init__(self, local: Callable[[], datetime] = _utc_now, *, window: int = _WINDOW) -> None:
        self.local = local
        self._samples: deque[timedelta] = deque(maxlen=window)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ServerClock(offset={self.offset})"

    def observe(self, date: str | None) -> None:
        """Take one answer's ``Date`` header into the estimate; an absent or bad one is ignored."""
        server = parse_http_date(date)
        if server is None:
            return
        sample = server - self.local()
        with self._lock:
            self._samples.append(sample)

    @property
    def measured(self) -> bool:
        """Whether any answer has shown the server's clock yet."""
        with self._lock:
            return bool(self._samples)

    @property
    def offset(self) -> timedelta:
        """Server time minus local time, in whole seconds; zero until an answer shows it."""
        with self._lock:
            if not self._samples:
                return timedelta()
            best = max(self._samples)
        return timedelta(seconds=math.ceil(best.total_seconds()))

    def now(self) -> datetime:
        """The server's current time, as well as its ``Date`` headers tell."""
        return self.local() + self.offset
