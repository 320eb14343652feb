"""The C allocator's tuning: set on glibc, left to the operator where the environment sets it."""

from __future__ import annotations

import ctypes
import sys

import pytest

from cmsync.allocator import tune_allocator


def _glibc() -> bool:
    try:
        ctypes.CDLL("libc.so.6").gnu_get_libc_version  # noqa: B018 (present on glibc only)
    except (OSError, AttributeError):
        return False
    return sys.platform.startswith("linux")


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc only")
def test_glibc_gets_two_arenas_and_a_fixed_mmap_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    assert tune_allocator() is True
    assert tune_allocator() is True  # again: the same settings


@pytest.mark.parametrize("name", ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"])
def test_an_operators_setting_is_left_alone(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "glibc.malloc.arena_max=4" if name == "GLIBC_TUNABLES" else "4")
    assert tune_allocator() is False
