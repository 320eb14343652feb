"""A scheduled job's health: up or failing, how many runs in a row failed, when it last
succeeded, and its last error with when it happened.

Kept per job, never per source: two jobs reading the same service fail and recover on their
own (one failing poller says nothing about the other), so a source-wide flag would flap
between them. The daemon holds one record per job, moves it with ``failed`` and
``succeeded`` after each run, and stores them with its heartbeat (``job_health``), where
``cmsync status`` and the dashboard read them. Pure: the caller supplies the time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

__all__ = ["ERROR_CHARS", "JobHealthRecord"]

ERROR_CHARS = 2000  # what a last error keeps; a job run's detail is cut the same way


@dataclass(frozen=True, slots=True)
class JobHealthRecord:
    job: str
    failures: int = 0  # consecutive failed runs; 0 once a run succeeds
    last_success_at: datetime | None = None
    # The last failure is kept after a recovery: what went wrong, and when, stays readable.
    last_error: str | None = None
    last_error_at: datetime | None = None

    @property
    def up(self) -> bool:
        return self.failures == 0

    def failed(self, reason: str, at: datetime) -> JobHealthRecord:
        return replace(
            self, failures=self.failures + 1, last_error=reason[:ERROR_CHARS], last_error_at=at
        )

    def succeeded(self, at: datetime) -> JobHealthRecord:
        return replace(self, failures=0, last_success_at=at)

    def as_json(self) -> dict[str, object]:
        return {
            "up": self.up,
            "consecutive_failures": self.failures,
            "last_success_at": _iso(self.last_success_at),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
