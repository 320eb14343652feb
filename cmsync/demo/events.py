"""What the demo's simulated business did: one ``Action`` per event, kept in a shared log.

The simulator thread appends; the progress line and the summary read counts and the latest
entries from other threads, so the log takes a lock and hands out copies.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["Action", "ActionKind", "ActionLog"]


class ActionKind(StrEnum):
    """Every use case the demo shows, named as a newcomer would say it."""

    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    PAYMENT_FAILED = "payment failed"
    PAYMENT_RECOVERED = "payment recovered"
    CHURN = "churn"
    REACTIVATION = "comeback"
    DEAL_WON = "deal won"  # an open Opportunity set to Closed Won
    NEW_DEAL_WON = "new deal won"  # a new Closed Won Opportunity on an Account with no customer
    NEW_CONTACT = "new contact"
    LEAD_CONVERTED = "lead converted"
    BACKFILL = "backfill"
    MERGE = "customers merged"  # a duplicate billing profile, merged in ChartMogul


@dataclass(frozen=True, slots=True)
class Action:
    at: datetime  # the sandbox clock's time
    kind: ActionKind
    subject: str  # the record acted on: a customer uuid, an Opportunity or Contact Id
    detail: str  # what happened, in words


class ActionLog:
    """Append-only, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._actions: list[Action] = []

    def add(self, action: Action) -> None:
        with self._lock:
            self._actions.append(action)

    def actions(self) -> list[Action]:
        with self._lock:
            return list(self._actions)

    def counts(self) -> Counter[ActionKind]:
        with self._lock:
            return Counter(a.kind for a in self._actions)

    def __len__(self) -> int:
        with self._lock:
            return len(self._actions)
