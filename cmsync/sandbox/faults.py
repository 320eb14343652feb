"""Fault injection for the sandbox, reproducible from a seed.

Every decision is a pure function of (seed, profile, request key, occurrence number): the n-th
time the same request key is seen gets the same verdict on every run, whatever order concurrent
requests arrive in. A client that retries sends the same key again and so draws afresh, which is
what lets a client with retries finish under the ``flaky`` profile.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["PROFILES", "Fault", "FaultInjector", "FaultProfile", "UnknownProfileError"]


class Fault(StrEnum):
    """Request-level faults, in the order their probabilities are stacked."""

    THROTTLE = "throttle"  # ChartMogul 429 (Salesforce has no per-second limit: not applied there)
    SERVER_ERROR = "server_error"  # 500 or 503
    SLOW = "slow"  # answers correctly after slow_seconds
    TIMEOUT = "timeout"  # hangs for timeout_seconds, then a gateway timeout
    DROP = "drop"  # closes the connection without an answer
    TOKEN_EXPIRY = "token_expiry"  # noqa: S105 (a fault name, not a secret)
    # Salesforce: the presented access token expires now
    LOST_ANSWER = "lost_answer"  # the request is carried out, then the answer never arrives


@dataclass(frozen=True)
class FaultProfile:
    """Probabilities per request (and per record for lock_row) and the fault parameters."""

    name: str
    throttle: float = 0.0
    server_error: float = 0.0
    slow: float = 0.0
    timeout: float = 0.0
    drop: float = 0.0
    token_expiry: float = 0.0
    lost_answer: float = 0.0
    lock_row: float = 0.0  # per record of an sObject Collection: UNABLE_TO_LOCK_ROW
    slow_seconds: float = 1.0
    timeout_seconds: float = 15.0
    daily_api_limit: int | None = None  # overrides the Salesforce daily allocation

    def __post_init__(self) -> None:
        for name in [k.value for k in Fault] + ["lock_row"]:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault probability {name}={value} is not within [0, 1]")

    @property
    def request_faults(self) -> tuple[tuple[Fault, float], ...]:
        return tuple((kind, getattr(self, kind.value)) for kind in Fault)

    @property
    def is_quiet(self) -> bool:
        return not any(p for _, p in self.request_faults) and not self.lock_row


PROFILES: dict[str, FaultProfile] = {
    p.name: p
    for p in (
        FaultProfile("none"),
        # Every fault at a modest rate: a client with retries and backoff still finishes.
        FaultProfile(
            "flaky",
            throttle=0.04,
            server_error=0.04,
            slow=0.03,
            timeout=0.005,
            drop=0.02,
            token_expiry=0.01,
            lost_answer=0.01,
            lock_row=0.05,
            timeout_seconds=8.0,
        ),
        # One fault each, for suites that test them alone.
        FaultProfile("throttle", throttle=0.25),
        FaultProfile("errors", server_error=0.2),
        FaultProfile("slow", slow=0.3),
        FaultProfile("timeouts", timeout=0.05, timeout_seconds=8.0),
        FaultProfile("drops", drop=0.15),
        FaultProfile("expiry", token_expiry=0.1),
        FaultProfile("lost", lost_answer=0.1),
        FaultProfile("locks", lock_row=0.2),
        FaultProfile("budget", daily_api_limit=300),
    )
}


class UnknownProfileError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown fault profile {name!r}; known: {', '.join(sorted(PROFILES))}")


class FaultInjector:
    """Draws faults for requests and records from the active profile, deterministically."""

    def __init__(self, profile: str | FaultProfile = "none", seed: int = 0) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.profile = self._resolve(profile)

    @staticmethod
    def _resolve(profile: str | FaultProfile) -> FaultProfile:
        if isinstance(profile, FaultProfile):
            return profile
        try:
            return PROFILES[profile]
        except KeyError:
            raise UnknownProfileError(profile) from None

    def set_profile(self, profile: str | FaultProfile) -> FaultProfile:
        """Switch profiles while running; occurrence counts restart so runs stay reproducible."""
        resolved = self._resolve(profile)
        with self._lock:
            self.profile = resolved
            self._seen.clear()
        return resolved

    def _draw(self, key: str) -> float:
        with self._lock:
            n = self._seen[key]
            self._seen[key] = n + 1
            name = self.profile.name
        return random.Random(f"{self.seed}|{name}|{key}|{n}").random()

    def request_fault(self, key: str, applicable: frozenset[Fault]) -> Fault | None:
        """The fault (if any) to inject into the request identified by ``key``."""
        profile = self.profile
        if profile.is_quiet:
            return None
        u = self._draw(key)
        edge = 0.0
        for kind, p in profile.request_faults:
            if kind not in applicable:
                continue
            edge += p
            if u < edge:
                with self._lock:
                    self.injected[kind.value] += 1
                return kind
        return None

    def server_error_status(self, key: str) -> int:
        """500 or 503, drawn deterministically for a request already chosen to fail."""
        return 503 if self._draw("status|" + key) < 0.5 else 500

    def lock_row(self, key: str) -> bool:
        """Whether the record identified by ``key`` in a collection call is locked."""
        if not self.profile.lock_row:
            return False
        hit = self._draw("lock|" + key) < self.profile.lock_row
        if hit:
            with self._lock:
                self.injected["lock_row"] += 1
        return hit
