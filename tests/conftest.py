"""Fixtures shared by every test layer."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

from tests.support.clock import FakeClock

if TYPE_CHECKING:
    from cmsync.sandbox.runner import RunningSandbox
    from cmsync.sandbox.serve import LoopThread
    from state import Store

# No property test has a time limit: hypothesis's default deadline (200 ms an example) is a
# timed test, and on a loaded two-core machine it failed examples that were right. Speed is
# measured by the benchmarks.
settings.register_profile("cmsync", deadline=None)
settings.load_profile("cmsync")


@pytest.fixture
def clock() -> FakeClock:
    """The store's clock (``store``), at ``tests.support.clock.START``; a module that needs
    another time overrides this fixture."""
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    """A new store in the test's directory, on ``clock``."""
    from state import Store

    with Store.open(tmp_path / "cmsync.db", clock=clock) as opened:
        yield opened


@pytest.fixture(scope="module")
def sandbox_loop() -> Iterator[LoopThread]:
    """An event loop in a background thread, so sync clients can call the sandbox."""
    from cmsync.sandbox.serve import LoopThread

    with LoopThread() as loop:
        yield loop


@pytest.fixture(scope="module")
def full_sandbox(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """The whole sandbox (both emulators, a seeded 30-account company) on loopback TLS."""
    from cmsync.sandbox.runner import SandboxOptions, start_sandbox

    directory: Path = tmp_path_factory.mktemp("full-sandbox")
    running = sandbox_loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=30)))
    try:
        yield running
    finally:
        gc.collect()  # no lingering client response may hold a socket to the emulators
        sandbox_loop.call(running.stop())
