"""The daemon's word about a store it cannot write: a small ``<store>.health`` file beside it.

Why a file beside the store, not a row in it: a daemon whose store refuses writes (a full
disk, a read-only file, an I/O error) cannot record that in the store, and its heartbeat stops
with the writes, so ``cmsync status`` and the dashboard would see only "stale", with no reason.
The note says "store unwritable: <reason>", since when, and when it was last written. It is
written atomically (a temp file in the same directory, then ``os.replace``, so a reader never
sees half a note), rewritten at most once a minute while the fault lasts (``written_at`` is
then the daemon's sign of life, the heartbeat being frozen) and removed as soon as the store
takes a write again. On a full disk even this small file may not be written: then the log
alone says it, which is why writing it never raises.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

__all__ = [
    "NOTE_FRESH_FOR",
    "StoreHealthNote",
    "clear_note",
    "health_path",
    "read_note",
    "write_note",
]

# The daemon rewrites the note once a minute while the fault lasts; older than this, the
# daemon that wrote it is gone (killed, or the VM with it) and the note is history.
NOTE_FRESH_FOR = timedelta(minutes=3)


@dataclass(frozen=True)
class StoreHealthNote:
    reason: str  # SQLite's (or the OS's) words: "database or disk is full (SQLITE_FULL)"
    since: datetime  # the first write that failed
    written_at: datetime  # the daemon's last word
    pid: int

    def fresh(self, now: datetime) -> bool:
        """Written recently enough that the daemon is still there to say it."""
        return now - self.written_at <= NOTE_FRESH_FOR

    def as_json(self) -> dict[str, object]:
        return {
            "reason": self.reason,
            "since": self.since.isoformat(),
            "written_at": self.written_at.isoformat(),
            "pid": self.pid,
        }


def health_path(store: Path) -> Path:
    """``/var/lib/cmsync/cmsync.db`` -> ``/var/lib/cmsync/cmsync.db.health``."""
    return store.with_name(store.name + ".health")


def write_note(store: Path, note: StoreHealthNote) -> bool:
    """Write the note beside ``store``; False when even that failed (a full disk)."""
    target = health_path(store)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temp.write_text(json.dumps(note.as_json()), encoding="utf-8")
        os.replace(temp, target)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink()
        return False
    return True


def clear_note(store: Path) -> None:
    """The store takes writes again (or a daemon starts on it): no note."""
    with contextlib.suppress(FileNotFoundError):
        health_path(store).unlink()


def read_note(store: Path) -> StoreHealthNote | None:
    """The note beside ``store``, if any; one that cannot be read counts as none."""
    try:
        raw = json.loads(health_path(store).read_text(encoding="utf-8"))
        return StoreHealthNote(
            reason=str(raw["reason"]),
            since=datetime.fromisoformat(raw["since"]),
            written_at=datetime.fromisoformat(raw["written_at"]),
            pid=int(raw["pid"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
