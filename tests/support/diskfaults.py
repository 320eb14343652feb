"""Disk faults the tests inject themselves: files the kernel refuses to write.

The tests run as root, for whom a chmod to read-only changes nothing. The immutable attribute
(``chattr +i``, ext4 and most Linux filesystems) binds root too, and it binds descriptors
already open: a SQLite connection holding the store then gets a genuine ``disk I/O error``
(SQLITE_IOERR_WRITE) at its next write, and a store opened while it is set is read-only
(``attempt to write a readonly database``, SQLITE_READONLY). Where the attribute cannot be set
(another filesystem, no CAP_LINUX_IMMUTABLE) the test is skipped, not failed.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["clear_immutable", "immutable", "set_immutable", "store_files"]


def store_files(store: Path) -> list[Path]:
    """The store and its write-ahead log (the -shm index is shared memory: never refused)."""
    return [p for p in (store, store.with_name(store.name + "-wal")) if p.exists()]


def _chattr(flag: str, paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chattr", flag, *map(str, paths)], capture_output=True, text=True, check=False
    )


def set_immutable(paths: list[Path]) -> None:
    try:
        done = _chattr("+i", paths)
    except FileNotFoundError:
        pytest.skip("no chattr on this machine")
    if done.returncode != 0:
        pytest.skip(f"cannot make files immutable here: {done.stderr.strip()}")


def clear_immutable(paths: list[Path]) -> None:
    with contextlib.suppress(FileNotFoundError):
        _chattr("-i", paths)


@contextlib.contextmanager
def immutable(paths: list[Path]) -> Iterator[None]:
    """``paths`` refuse every write, even root's, for the block."""
    set_immutable(paths)
    try:
        yield
    finally:
        clear_immutable(paths)
