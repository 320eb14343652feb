"""Crash: the daemon killed with SIGKILL at random points, again and again, under faults.

Each round changes ChartMogul (a new subscription for a linked customer, sometimes with a
failed payment: an expansion Opportunity or an alert to write), starts ``cmsync run`` on fast
schedules against a sandbox answering with the ``flaky`` profile, waits until the process is
past its imports and first refresh (its heartbeat in the store), lets it work for 0 to 1.5 s
and kills it. Then faults stop and ``cmsync once`` runs until the outbox is settled, and every
invariant of ``tests.support.invariants`` must hold: Salesforce equals ChartMogul for every
linked Account, no record twice on either side, no effect lost, cursors consistent, nothing
left in flight.

Five kills run by default; the thirty-kill version is marked ``slow``.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cmsync.sandbox.serve import LoopThread
from tests.support.drive import import_invoice, make_retries_due, start_world
from tests.support.invariants import World, check_all, outbox_counts
from tests.support.processes import heartbeat, run_cmsync, start_daemon, wait_for

KILL_WINDOW = (0.0, 1.5)  # seconds of work after the first heartbeat


@dataclass
class Rounds:
    """What the kills hit, to show they landed where they matter."""

    killed: int = 0
    exited: list[int] = field(default_factory=list)  # return codes of runs that ended first
    mid_dispatch: int = 0  # kills that left outbox rows in flight


@pytest.fixture
def world(sandbox_loop: LoopThread, tmp_path: Path) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path / "sandbox", seed=31, accounts=30) as world:
        yield world


def _kill_rounds(world: World, rounds: int, log: Path, seed: int) -> Rounds:
    rng = random.Random(seed)
    config = world.sandbox.options.directory / "cmsync.toml"
    linked = sorted(world.linked())
    seen = Rounds()
    world.sandbox.ctx.faults.set_profile("flaky")
    try:
        for n in range(rounds):
            for k in range(rng.randint(1, 3)):
                customer = rng.choice(linked)
                import_invoice(world, customer, f"crash-{seed}-{n}-{k}", failed=rng.random() < 0.3)
            proc = start_daemon(config, log, "--log-json")

            def working(pid: int = proc.pid) -> bool:
                beat = heartbeat(world.store_path)
                return beat is not None and beat.pid == pid

            wait_for(lambda p=proc: working() or p.poll() is not None, 60, "the daemon", 0.05)
            time.sleep(rng.uniform(*KILL_WINDOW))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                seen.killed += 1
            code = proc.wait(timeout=30)
            if code != -signal.SIGKILL:
                seen.exited.append(code)
            seen.mid_dispatch += outbox_counts(world.store_path).in_flight > 0
    finally:
        world.sandbox.ctx.faults.set_profile("none")
    return seen


def _settle_with_once(world: World, attempts: int = 6) -> None:
    """``cmsync once`` until it succeeds with nothing pending (retries made due between)."""
    config = world.sandbox.options.directory / "cmsync.toml"
    for _ in range(attempts):
        done = run_cmsync("once", config=config, timeout=240)
        counts = outbox_counts(world.store_path)
        if done.returncode == 0 and counts.pending == counts.in_flight == 0:
            return
        make_retries_due(world.store_path)
    pytest.fail(f"`cmsync once` did not settle: {counts}\n{done.stdout}\n{done.stderr}")


def _crash_and_check(world: World, rounds: int, tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    seen = _kill_rounds(world, rounds, log, seed=rounds)
    assert not seen.exited, log.read_text()[-5000:]  # every run was cut short by the kill
    _settle_with_once(world)
    asyncio.run(check_all(world))
    print(f"\n{seen.killed} kills, {seen.mid_dispatch} with outbox rows in flight")


def test_five_kills_under_faults_lose_and_double_nothing(world: World, tmp_path: Path) -> None:
    _crash_and_check(world, 5, tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_thirty_kills_under_faults_lose_and_double_nothing(world: World, tmp_path: Path) -> None:
    _crash_and_check(world, 30, tmp_path)
