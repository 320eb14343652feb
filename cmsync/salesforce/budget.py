"""The Salesforce daily API budget: what the org has used, and what cmsync may still spend.

Salesforce reports ``api-usage=USED/MAX`` (calls in the rolling 24 hours, the whole org) on
every answer. Other integrations share that allocation, so cmsync is given a share of it
(``share``, e.g. 0.5): cmsync must never push the org's usage past ``share * MAX``. Near that
line it slows down (``Pace.SLOW``), at it it stops writing (``Pace.PAUSED``) until the window
frees calls again. The budget is a plain value object updated from headers; the gateway owns
one and the dispatcher asks it before each batch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ApiBudget", "BudgetSnapshot", "Pace"]


class Pace(StrEnum):
    NORMAL = "normal"
    SLOW = "slow"  # within the slow-down margin of the share
    PAUSED = "paused"  # the share (or the whole allocation) is spent


@dataclass(frozen=True)
class BudgetSnapshot:
    used: int | None
    max: int | None
    share: float
    calls_by_cmsync: int
    pace: Pace

    @property
    def allowed(self) -> int | None:
        """Org-wide usage cmsync may drive the org up to."""
        return None if self.max is None else int(self.max * self.share)


class ApiBudget:
    """Thread-safe tracker fed by ``Sforce-Limit-Info`` values (gateway calls run in threads)."""

    def __init__(self, share: float = 0.5, slow_margin: float = 0.05) -> None:
        if not 0 < share <= 1:
            raise ValueError("the API budget share must be within (0, 1]")
        self.share = share
        self.slow_margin = slow_margin
        self._used: int | None = None
        self._max: int | None = None
        self._calls = 0
        self._exhausted = False
        self._lock = threading.Lock()

    def observe(self, used: int, maximum: int) -> None:
        """Record the org's usage as reported by the latest answer."""
        with self._lock:
            self._used, self._max = used, maximum
            self._exhausted = used >= maximum

    def count_call(self) -> None:
        with self._lock:
            self._calls += 1

    def mark_exhausted(self) -> None:
        """Salesforce answered REQUEST_LIMIT_EXCEEDED: nothing may be sent until it recovers."""
        with self._lock:
            self._exhausted = True

    def fits(self, calls: int) -> bool:
        """Whether ``calls`` more calls stay within cmsync's share."""
        with self._lock:
            if self._exhausted:
                return False
            if self._used is None or self._max is None:
                return True  # nothing known yet: the first answer will tell
            return self._used + calls <= self._max * self.share

    def pace(self) -> Pace:
        with self._lock:
            return self._pace()

    def _pace(self) -> Pace:
        if self._exhausted:
            return Pace.PAUSED
        if self._used is None or self._max is None:
            return Pace.NORMAL
        allowed = self._max * self.share
        if self._used >= allowed:
            return Pace.PAUSED
        if self._used >= allowed - self._max * self.slow_margin:
            return Pace.SLOW
        return Pace.NORMAL

    def snapshot(self) -> BudgetSnapshot:
        with self._lock:
            return BudgetSnapshot(self._used, self._max, self.share, self._calls, self._pace())
