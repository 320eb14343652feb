"""`cmsync once` as an operator runs it on a company's first day: a line per step as it ends.

A first pass over a large org takes minutes, so `cmsync once` prints each step's line (mark,
name, wall time, what it did) the moment the step ends, not a summary at the end. The test
reads the process's output as it arrives. The same pass checks the onboarding benchmark's
floor: the deals and customers it counts from the seeded world are the ones the pass imports
and creates.
"""

from __future__ import annotations

import gc
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.onboarding import World
from cmsync.config import load_settings
from cmsync.pipeline.sync_pass import STEPS
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from tests.support.invariants import sync_env
from tests.support.processes import CMSYNC, cmsync_env

_LINE = re.compile(r"^(ok  |FAIL) (\w+)\s+(\d+\.\d\d)s  (.*)$")


@dataclass(frozen=True)
class Seen:
    line: str
    running: bool  # the process had not ended when the line was read


@dataclass(frozen=True)
class FirstPass:
    world: World
    seen: list[Seen]
    exit_code: int
    stderr: str
    requests: dict[str, int]


@pytest.fixture(scope="module")
def first_pass(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FirstPass]:
    directory: Path = tmp_path_factory.mktemp("first-pass")
    sandbox: RunningSandbox = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=30, seed=21))
    )
    try:
        config = directory / "cmsync.toml"
        settings = load_settings(config)
        world = World(
            sandbox,
            closed_won_days=settings.closed_won.backfill_days,
            enrichment_days=settings.enrichment.backfill_days,
        )
        sandbox.chartmogul.stats.reset()
        log = directory / "once.stderr"
        with log.open("w") as err, subprocess.Popen(
            [*CMSYNC, "once", "--config", str(config)], stdout=subprocess.PIPE, stderr=err,
            text=True, env=cmsync_env(**sync_env()),
        ) as proc:  # fmt: skip
            assert proc.stdout is not None
            seen = [Seen(line.rstrip("\n"), proc.poll() is None) for line in proc.stdout]
            exit_code = proc.wait(timeout=120)
        stderr = log.read_text(encoding="utf-8")
        requests = dict(sandbox.chartmogul.stats.by_endpoint)
        yield FirstPass(world, seen, exit_code, stderr, requests)
    finally:
        gc.collect()  # no lingering client response may hold a socket to the emulators
        sandbox_loop.call(sandbox.stop())


def test_once_prints_each_step_as_it_ends(first_pass: FirstPass) -> None:
    assert first_pass.exit_code == 0, first_pass.stderr
    steps = [m for m in (_LINE.match(s.line) for s in first_pass.seen) if m]
    assert [m[2] for m in steps] == [step.value for step in STEPS]
    assert all(m[1] == "ok  " for m in steps)
    # The first step's line reached the reader while the pass was still going: it was
    # flushed as the step ended, not printed with the rest at the end.
    first = first_pass.seen[0]
    assert _LINE.match(first.line) and first.running
    # Each line says what the step did, its counts.
    detail = {m[2]: m[4] for m in steps}
    assert re.search(r"\baccounts=30\b", detail["load_context"]), detail["load_context"]
    assert re.search(r"\bimported=\d+", detail["closed_won"]), detail["closed_won"]


def test_the_onboarding_floor_counts_what_a_first_pass_imports(first_pass: FirstPass) -> None:
    world = first_pass.world
    assert world.deals_to_import > 0  # the seed has deals won lately and not in ChartMogul
    closed_won = next(
        m[4] for m in (_LINE.match(s.line) for s in first_pass.seen) if m and m[2] == "closed_won"
    )
    assert f"imported={world.deals_to_import} " in closed_won, closed_won
    assert f"customers_created={world.customers_to_create} " in closed_won, closed_won
    # Each one call: a customer create per new customer, an invoice import per deal.
    assert first_pass.requests["POST /v1/customers"] == world.customers_to_create
    imports = first_pass.requests["POST /v1/import/customers/{uuid}/invoices"]
    assert imports == world.deals_to_import
