"""One daemon per store: an exclusive advisory lock on ``<store>.lock``.

Two processes writing one store would each requeue the other's in-flight rows and double the
writes, so ``cmsync run`` and ``cmsync once`` take this lock first and refuse to start when
another process holds it, naming its pid. The kernel drops the lock when the process dies,
even by SIGKILL, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cmsync.errors import FatalError

__all__ = ["LockUnavailableError", "StoreLockedError", "exclusive"]


class StoreLockedError(FatalError):
    """Another cmsync process is already working on this store."""


class LockUnavailableError(FatalError):
    """The lock file cannot be made: a read-only or missing directory, a full disk. Said in
    one line naming the file, as the store's own refusals are, never as a traceback."""


@contextmanager
def exclusive(store_path: Path) -> Iterator[None]:
    path = store_path.with_name(store_path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise LockUnavailableError(
            f"cannot create the lock file {path}: {exc.strerror or exc}; make its directory "
            "writable by the user cmsync runs as (or point store.path at one that is)"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise StoreLockedError(
                f"another cmsync process (pid {holder}) is running on {store_path}; "
                "stop it first (one daemon per store)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
