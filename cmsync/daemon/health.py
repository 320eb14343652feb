"""Health per job: one log line when a job starts failing, one when it runs clean again.

A poller that fails every thirty seconds for an hour must not write a hundred and twenty
identical warnings; the operator needs to know which job stopped, why, and when it came back.
Health follows the job, not the service behind it: one job failing says nothing about the
others, and a record refused by Salesforce (a validation rule, a value too long) or
quarantined is a problem of that record, shown by ``cmsync problems list``, never a failed run:
the job that met it did its work (``record_level`` tells the two apart), so it stays up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cmsync.pipeline.sync_pass import DispatchIncompleteError

__all__ = ["JobHealth", "record_level"]

log = logging.getLogger("cmsync.health")


def record_level(error: BaseException | None) -> bool:
    """A step "failed" only because some records were refused and dead-lettered: every call
    went through and the rest was written (a dispatch that was not stopped)."""
    return isinstance(error, DispatchIncompleteError) and error.report.stopped is None


@dataclass
class JobHealth:
    name: str  # the job
    source: str  # the service its steps mostly read or write (a failure may be cmsync's own)
    up: bool = True
    reason: str = ""
    failures: int = field(default=0)

    def failed(self, reason: str) -> None:
        self.failures += 1
        if self.up:
            log.warning("job %s is failing: %s", self.name, reason)
        self.up, self.reason = False, reason

    def succeeded(self) -> None:
        if not self.up:
            log.warning("job %s runs again after %d failed runs", self.name, self.failures)
        self.up, self.reason, self.failures = True, "", 0
