"""Per-source health: one log line when a source goes down, one when it recovers.

A poller that fails every thirty seconds for an hour must not write a hundred and twenty
identical warnings; the operator needs to know when ChartMogul or Salesforce went away, why,
and when it came back. ``SourceHealth`` remembers the state and speaks only on a change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

__all__ = ["SourceHealth"]

log = logging.getLogger("cmsync.health")


@dataclass
class SourceHealth:
    name: str
    up: bool = True
    reason: str = ""
    failures: int = field(default=0)

    def failed(self, reason: str) -> None:
        self.failures += 1
        if self.up:
            log.warning("%s is down: %s", self.name, reason)
        self.up, self.reason = False, reason

    def succeeded(self) -> None:
        if not self.up:
            log.warning("%s recovered after %d failed runs", self.name, self.failures)
        self.up, self.reason, self.failures = True, "", 0
