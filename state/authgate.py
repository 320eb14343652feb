"""When to try a refused login again: one gate per external system, backing off exponentially.

Why. Once a service refuses cmsync's credentials (a Salesforce login answered
``invalid_grant``, a ChartMogul key answered 401), every call of every job would meet the
same refusal: without a gate the daemon asked for a token about once a second and logged each
refusal. A credential does not come back by itself within seconds; an operator fixes it. So
after a refusal the system is "authentication failing": no call is attempted until the
backoff allows (``AuthBackoff``: 5 s, 10 s, 20 s ... capped at 5 minutes, each shortened by a
little jitter so that two systems refused together are not tried together), one attempt (the
probe) goes through when it does, and the first accepted call ends it.

Before the gate has seen one accepted call it is not armed: a refusal at start is the
caller's to report (``cmsync run`` exits 2 on a refused first refresh), never a backoff.

Pure: the monotonic clock and the jitter's random draw are passed in; the gate says what
happened (``Refusal``, ``Recovery``) and the caller logs it. Thread-safe, as the Salesforce
gateway logs in from worker threads.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AuthBackoff", "AuthGate", "Recovery", "Refusal", "whole_seconds"]


@dataclass(frozen=True)
class AuthBackoff:
    """The schedule: ``initial`` doubled after each refusal up to ``cap`` seconds; ``jitter``
    is the largest fraction taken off a wait; the warning is said again at most every
    ``repeat_warning`` seconds while the refusals go on."""

    initial: float = 5.0
    cap: float = 300.0
    jitter: float = 0.1
    repeat_warning: float = 600.0

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.cap) or not (0 <= self.jitter < 1):
            raise ValueError(f"an unusable auth backoff: {self}")

    def delay(self, refusals: int, draw: float) -> float:
        """Seconds to wait after the ``refusals``-th refusal in a row (1-based); ``draw`` in
        [0, 1) picks the jitter, so the wait stays within [ceiling * (1 - jitter), ceiling]."""
        exponent = min(max(0, refusals - 1), 64)  # 2**64 * initial is past any cap
        ceiling = min(self.cap, self.initial * 2.0**exponent)
        return ceiling * (1 - self.jitter * min(max(draw, 0.0), 1.0))


@dataclass(frozen=True)
class Refusal:
    """A refusal the gate counted: wait ``delay`` seconds; ``warn``: say so now (the first
    refusal, or the repeat interval has passed since the last warning)."""

    reason: str
    refusals: int
    delay: float
    warn: bool


@dataclass(frozen=True)
class Recovery:
    """The first accepted call after refusals: how long and how often it had been refused."""

    seconds: float
    refusals: int


class AuthGate:
    """One system's credential state; ``now`` is a monotonic clock in seconds."""

    def __init__(
        self,
        policy: AuthBackoff | None = None,
        *,
        now: Callable[[], float],
        draw: Callable[[], float],
    ) -> None:
        self.policy = policy or AuthBackoff()
        self._now = now
        self._draw = draw
        self._lock = threading.Lock()
        self.armed = False  # an accepted call was seen: refusals from now on are backed off
        self.failing = False
        self.reason = ""
        self.refusals = 0
        self._since = 0.0
        self._next_attempt = 0.0
        self._probing = False
        self._warned_at: float | None = None

    def __repr__(self) -> str:
        state = f"failing ({self.refusals} refusals)" if self.failing else "ok"
        return f"AuthGate({state})"

    def admit(self) -> float | None:
        """None: the call may go (while failing, as the one probe); else the seconds until
        the next attempt (0 while a probe is under way)."""
        with self._lock:
            if not self.failing:
                return None
            now = self._now()
            if self._probing or now < self._next_attempt:
                return max(0.0, self._next_attempt - now)
            self._probing = True
            return None

    def wait(self) -> float | None:
        """Like ``admit`` without taking the probe: for saying how long is left."""
        with self._lock:
            if not self.failing:
                return None
            return max(0.0, self._next_attempt - self._now())

    def refused(self, reason: str) -> Refusal | None:
        """The service refused the credentials. None when not armed (the caller reports the
        refusal as it is) or when the refusal is stale (a call sent before the gate closed,
        answered after: it says nothing new and must not lengthen the wait)."""
        with self._lock:
            if not self.armed:
                return None
            now = self._now()
            if self.failing and not self._probing:
                return None
            self._probing = False
            self.refusals += 1
            if not self.failing:
                self.failing, self._since = True, now
            self.reason = reason
            delay = self.policy.delay(self.refusals, self._draw())
            self._next_attempt = now + delay
            warn = self._warned_at is None or now - self._warned_at >= self.policy.repeat_warning
            if warn:
                self._warned_at = now
            return Refusal(reason, self.refusals, delay, warn)

    def accepted(self) -> Recovery | None:
        """A call went through with these credentials; a Recovery if they had been failing."""
        with self._lock:
            self.armed = True
            if not self.failing:
                return None
            recovery = Recovery(self._now() - self._since, self.refusals)
            self.failing, self.reason, self.refusals = False, "", 0
            self._probing, self._warned_at = False, None
            return recovery

    def released(self) -> None:
        """The probe ended saying nothing of the credentials (a timeout, a 5xx): the next
        call may probe again at once, as the wait was served."""
        with self._lock:
            self._probing = False


def whole_seconds(seconds: float) -> int:
    """A wait as an operator reads it: rounded up, so "in 0s" means under way."""
    return math.ceil(max(0.0, seconds))
