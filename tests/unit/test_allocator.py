"""The C allocator's tuning: set on glibc, left to the operator where the environment sets it."""

from __future__ import annotations

import ctypes
import sys

import pytest

from cmsync.allocator import release_free_memory, tune_allocator


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


def _resident_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc_trim only")
def test_free_pages_amid_live_blocks_go_back_to_the_system() -> None:
    """What a step freed among blocks still live (the top of the heap not free, so glibc
    does not shrink it by itself) is given back: the resident size falls."""
    blocks = [bytes(2_000) for _ in range(40_000)]  # about 80 MB from malloc, not pymalloc
    kept = blocks[::16]  # one in sixteen stays: the freed pages lie between live ones
    del blocks
    before = _resident_mb()
    assert release_free_memory() is True
    assert _resident_mb() < before - 40
    assert len(kept) == 2_500


def test_releasing_free_memory_is_harmless_anywhere() -> None:
    assert release_free_memory() in (True, False)
    assert release_free_memory() in (True, False)  # again, with nothing freed since
