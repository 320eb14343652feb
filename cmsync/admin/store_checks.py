"""The doctor's store checks: the store can be written, and its filesystem has room.

A store that refuses writes stops every job (the daemon then says "store unwritable"); before
the first sync that is a finding with its fix, not "cmsync can sync". Writability is tested
by a write SQLite must really attempt, rolled back (``state.store.probe_write``: nothing kept,
nothing migrated), or by creating a file beside a store not made yet. Room is the free space
of the store's filesystem: a warning below ``WARN_FREE`` or twice the store (a catch-up or a
VACUUM can double it), an error below ``MIN_FREE``, where SQLite would soon say "database or
disk is full".
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from cmsync.admin.findings import Finding
from state import StoreBusyError, StoreError, StoreUnwritableError
from state.store import probe_write

__all__ = ["MIN_FREE", "WARN_FREE", "check_store"]

AREA = "Store"
MB = 1024 * 1024
WARN_FREE = 100 * MB
MIN_FREE = 20 * MB


class _Usage(NamedTuple):
    total: int
    used: int
    free: int


DiskUsage = Callable[[Path], _Usage]


def _existing(path: Path) -> Path:
    """The nearest directory of ``path`` that exists (the store's may not yet)."""
    for parent in (path.parent, *path.parent.parents):
        if parent.is_dir():
            return parent
    return Path("/")


def _size(path: Path) -> int:
    companions = (path, path.with_name(path.name + "-wal"))
    return sum(p.stat().st_size for p in companions if p.is_file())


def check_store(path: Path, *, disk_usage: DiskUsage | None = None) -> list[Finding]:
    """Findings about the store at ``path``; ``disk_usage`` is ``shutil.disk_usage``'s shape
    (tests pass a small disk)."""
    return [_writable(path), _room(path, disk_usage or _disk_usage)]


def _disk_usage(path: Path) -> _Usage:
    return _Usage(*shutil.disk_usage(path))


def _writable(path: Path) -> Finding:
    fix = (
        "make the file, its directory and the filesystem writable by the user cmsync runs as "
        "(chmod/chown; a read-only mount: remount it read-write), then run the doctor again"
    )
    try:
        if not path.parent.is_dir():
            return Finding.warning(
                AREA, "writable", f"{path.parent} does not exist yet", f"create it: {fix}"
            )
        probe_write(path)
    except StoreBusyError:
        return Finding.ok(AREA, "writable", f"{path} is in use by a running writer")
    except StoreUnwritableError as exc:
        return Finding.error(AREA, "writable", f"{path} cannot be written: {exc.reason}", fix)
    except StoreError as exc:
        return Finding.error(AREA, "writable", str(exc), "point store.path at a cmsync store")
    what = "takes writes" if path.exists() else "can be created"
    return Finding.ok(AREA, "writable", f"{path} {what}")


def _room(path: Path, disk_usage: DiskUsage) -> Finding:
    try:
        usage = disk_usage(_existing(path))
        size = _size(path)
    except OSError as exc:
        return Finding.warning(AREA, "free space", f"could not measure it: {exc}")
    free = f"{usage.free / MB:,.0f} MB free on the store's filesystem"
    fix = "free space on that filesystem or move store.path to a bigger one"
    if usage.free < MIN_FREE:
        return Finding.error(
            AREA, "free space", f"only {free}: SQLite will refuse writes (disk full)", fix
        )
    wanted = max(WARN_FREE, 2 * size)
    if usage.free < wanted:
        return Finding.warning(
            AREA, "free space",
            f"{free}, under {wanted / MB:,.0f} MB (100 MB, or twice the store's "
            f"{size / MB:,.0f} MB): a catch-up or a purge could fill it", fix,
        )  # fmt: skip
    return Finding.ok(AREA, "free space", free)
