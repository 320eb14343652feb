"""The store's health in the daemon: "store unwritable: <reason>" as a state of its own.

A full disk, a read-only file or a failing disk makes every job fail the same way, every run,
and none of them can do anything about it. So such a failure (``StoreUnwritableError``, which
the store classifies) is not a job's failure and is never logged per run with a traceback:
it is one state of the daemon, said once when it starts, then at most once a minute while it
lasts, and once when the store takes writes again. The same words go into the note beside the
store (``state.storehealth``), which ``cmsync status`` and the dashboard read, since the store
itself cannot take them. The jobs go on being scheduled: the first that writes again ends it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from state import StoreUnwritableError
from state.storehealth import StoreHealthNote, clear_note, write_note

__all__ = ["SAY_EVERY", "StoreHealth"]

log = logging.getLogger("cmsync.health")

SAY_EVERY = 60.0  # seconds between two lines (and two notes) while the store stays unwritable


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StoreHealth:
    """Tracks whether the daemon's store takes writes; see the module doc."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        say_every: float = SAY_EVERY,
    ) -> None:
        self.path = path
        self.up = True
        self.reason = ""
        self.refused = 0  # writes refused since it went down
        self.since: datetime | None = None
        self._clock = clock
        self._monotonic = monotonic
        self._say_every = say_every
        self._said = 0.0  # monotonic time of the last line

    def failed(self, error: StoreUnwritableError) -> None:
        """A unit of work was refused because the store cannot be written."""
        self.refused += 1
        now = self._monotonic()
        if self.up:
            self.up, self.reason, self.since = False, error.reason, self._clock()
            log.error(
                "store unwritable: %s (%s); every job waits for it, nothing is lost: make room "
                "or make the file writable, cmsync goes on by itself",
                error.reason, self.path,
            )  # fmt: skip
        elif now - self._said >= self._say_every:
            self.reason = error.reason
            log.error(
                "store still unwritable: %s (%s, %d writes refused since %s)",
                error.reason, self.path, self.refused, self._since_text(),
            )  # fmt: skip
        else:
            return
        self._said = now
        self._note()

    def wrote(self) -> None:
        """A unit of work was committed: the store takes writes (again)."""
        if self.up:
            return
        log.warning(
            "store writable again (%s): unwritable since %s, %d writes refused",
            self.path, self._since_text(), self.refused,
        )  # fmt: skip
        self.up, self.reason, self.refused, self.since = True, "", 0, None
        clear_note(self.path)

    @contextmanager
    def watch(self, *, writes: bool = True) -> Iterator[None]:
        """Around store work of the daemon's own (heartbeat, commands): a refusal is noted,
        not raised (the next run tries again). A block that ended normally ends the state only
        if it certainly ``writes``: a unit of work that only read commits even on a store that
        refuses writes, and must not say it recovered."""
        try:
            yield
        except StoreUnwritableError as exc:
            self.failed(exc)
        else:
            if writes:
                self.wrote()

    def _since_text(self) -> str:
        return f"{self.since:%Y-%m-%d %H:%M:%S} UTC" if self.since else "?"

    def _note(self) -> None:
        assert self.since is not None
        note = StoreHealthNote(self.reason, self.since, self._clock(), os.getpid())
        if not write_note(self.path, note):
            log.error("could not write %s.health either: the log alone says it", self.path.name)
