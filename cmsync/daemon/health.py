"""Health per job: one log line when a job starts failing, one when it runs clean again.

A poller that fails every thirty seconds for an hour must not write a hundred and twenty
identical warnings; the operator needs to know which job stopped, why, and when it came back.
Health follows the job, not the service behind it: one job failing says nothing about the
others, and a record refused by Salesforce (a validation rule, a value too long) or
quarantined is a problem of that record, shown by ``cmsync problems list``, never a failed run:
the job that met it did its work (``record_level`` tells the two apart), so it stays up.

The record itself (consecutive failures, last success, last error and when) is
``state.jobhealth``'s, which the daemon stores with its heartbeat for ``cmsync status`` and
the dashboard; this wrapper adds the log lines and the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from cmsync.pipeline.sync_pass import DispatchIncompleteError
from state.jobhealth import JobHealthRecord

__all__ = ["JobHealth", "record_level"]

log = logging.getLogger("cmsync.health")


def record_level(error: BaseException | None) -> bool:
    """A step "failed" only because some records were refused and dead-lettered: every call
    went through and the rest was written (a dispatch that was not stopped)."""
    return isinstance(error, DispatchIncompleteError) and error.report.stopped is None


class JobHealth:
    """One job's health in the daemon; ``record`` is what gets stored."""

    def __init__(
        self, name: str, clock: Callable[[], datetime], record: JobHealthRecord | None = None
    ) -> None:
        self.name = name
        self.clock = clock
        self.record = record or JobHealthRecord(name)
        # Said in this process's log: a job still failing when the daemon restarted is said
        # again by the new process, once.
        self._said_failing = False

    @property
    def up(self) -> bool:
        return self.record.up

    @property
    def failures(self) -> int:
        return self.record.failures

    @property
    def reason(self) -> str:
        return "" if self.up else self.record.last_error or ""

    def failed(self, reason: str) -> None:
        self.record = self.record.failed(reason, self.clock())
        if not self._said_failing:
            log.warning("job %s is failing: %s", self.name, reason)
            self._said_failing = True

    def succeeded(self) -> None:
        if self._said_failing:
            log.warning("job %s runs again after %d failed runs", self.name, self.failures)
            self._said_failing = False
        self.record = self.record.succeeded(self.clock())
