"""The ChartMogul -> Salesforce pipeline end to end: a seeded sandbox, real sockets, `once`.

Ground truth comes from the sandbox itself (see ``tests.support.invariants``): ``scenario.json``
says how each customer can be matched, ChartMogul (read with cmsync's client) says what each
Account should hold, and the Salesforce emulator's request stats count the write calls.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmsync.pipeline.once import run_once
from cmsync.sandbox.runner import SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import QuarantineKind, QuarantineStatus, Store
from tests.support.invariants import World, check_all, sync_env


def _world(loop: LoopThread, directory: Path, seed: int) -> Iterator[World]:
    running = loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=60, seed=seed)))
    try:
        yield World.of(running)
    finally:
        loop.call(running.stop())


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from _world(sandbox_loop, tmp_path_factory.mktemp("pipeline"), seed=4)


@pytest.fixture(scope="module")
def world_for_kills(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """A sandbox of its own: the killed runs must start from an empty store."""
    yield from _world(sandbox_loop, tmp_path_factory.mktemp("pipeline-kills"), seed=5)


async def test_a_pass_links_writes_and_alerts_exactly_once(world: World) -> None:
    report = await run_once(world.settings)
    assert report.ok, report.summary()
    await check_all(world)

    store = Store.open(world.settings.store.path)
    try:
        with store.transaction() as tx:
            open_items = tx.queries.quarantine(QuarantineStatus.OPEN)
    finally:
        store.close()
    ambiguous = {q.record_key for q in open_items if q.kind is QuarantineKind.AMBIGUOUS_MATCH}
    expected = {c["uuid"] for c in world.scenario["customers"].values() if c["link"] == "ambiguous"}
    assert expected and ambiguous == expected
    assert all(len(q.candidates) == 2 for q in open_items if q.record_key in expected)

    before = world.write_calls()
    again = await run_once(world.settings)
    assert again.ok, again.summary()
    assert world.write_calls() == before  # a second pass over the same data writes nothing


def test_killed_passes_then_a_full_one_end_in_the_same_state(world_for_kills: World) -> None:
    """SIGKILL `cmsync once` at random points, several times; the run that finishes must
    leave Salesforce exactly as one uninterrupted pass would: nothing lost, nothing doubled."""
    world = world_for_kills
    config = world.sandbox.options.directory / "cmsync.toml"
    env = {**os.environ, **sync_env()}
    command = [sys.executable, "-m", "cmsync", "once", "--config", str(config)]
    rng = random.Random(7)
    killed = 0
    for _ in range(5):
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.3, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=30)
    assert killed >= 3  # most runs really were cut short
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    asyncio.run(check_all(world))
