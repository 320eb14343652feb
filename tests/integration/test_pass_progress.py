"""A pass's progress as an operator sees it, over a real pass against the sandbox.

On a terminal (rich's console, forced to be one and recorded) each running step shows live
with its counts and each step's line is printed above as it ends; elsewhere (a pipe, a log)
each step's line as it ends and, every interval of a long step (60 s in use, a few
milliseconds here), a line saying where it is. The dry run shows the same, its preview last.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from io import StringIO

import pytest
from rich.console import Console

from cmsync.config import Settings
from cmsync.pipeline.once import run_once
from cmsync.pipeline.sync_pass import STEPS
from cmsync.progress import LogLines, RichDisplay
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from tests.support.invariants import load_world_settings

_END = re.compile(r"^(ok  |FAIL) (\w+)\s+(\d+\.\d\d)s  ")
# In a recorded terminal the live lines' cursor moves are gone: lines run together.
_ENDED = re.compile(r"(?:ok  |FAIL) (\w+) +\d+\.\d\ds  ")
_WHERE = re.compile(r"^(\w+): [\d,/]+ \w+(, [\d,/]+ pages?)?(, [\d,]+/s)?, \d+:\d\d elapsed$")


@pytest.fixture(scope="module")
def sandbox(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    options = SandboxOptions(directory=tmp_path_factory.mktemp("pass-progress"), accounts=6)
    running = sandbox_loop.call(start_sandbox(options))
    try:
        yield running
    finally:
        gc.collect()  # no lingering client response may hold a socket to the emulators
        sandbox_loop.call(running.stop())


@pytest.fixture(scope="module")
def settings(sandbox: RunningSandbox) -> Settings:
    return load_world_settings(sandbox.options.directory)


def _terminal() -> Console:
    return Console(file=StringIO(), force_terminal=True, record=True, width=140)


async def test_on_a_terminal_each_step_shows_live_and_its_line_as_it_ends(
    settings: Settings,
) -> None:
    console = _terminal()
    with RichDisplay(console, refresh_per_second=50) as display:
        report = await run_once(settings, progress=display)
    assert report.ok, report.summary()
    text = console.export_text()
    ended = _ENDED.findall(text)
    assert ended == [step.value for step in STEPS]
    # Each step's last counts show with its line: the sweep's listing said its page count,
    # the Closed-Won step counts the deals decided of those read.
    assert re.search(r"customers +━+ 8 customers, 1/1 page, ", text), text
    assert re.search(r"closed_won +━+ 6/6 deals, 1/1 page, ", text), text


async def test_elsewhere_a_line_per_interval_of_a_long_step_and_one_as_it_ends(
    settings: Settings,
) -> None:
    lines: list[str] = []
    report = await run_once(settings, progress=LogLines(lines.append, every=0.01))
    assert report.ok, report.summary()
    ended = [m[2] for m in map(_END.match, lines) if m]
    assert ended == [step.value for step in STEPS]
    where = [m for m in map(_WHERE.match, lines) if m]
    assert where, lines  # some step took longer than 10 ms
    assert len(where) + len(ended) == len(lines), lines  # nothing else
    # A step's periodic lines come before its end line and after the previous step's end.
    for index, line in enumerate(lines):
        if (m := _WHERE.match(line)) is not None:
            following = next(e for e in map(_END.match, lines[index + 1 :]) if e)
            assert following[2] == m[1], lines


async def test_the_dry_run_shows_its_progress_too(settings: Settings) -> None:
    console = _terminal()
    with RichDisplay(console, refresh_per_second=50) as display:
        report = await run_once(settings, dry_run=True, progress=display)
    assert report.ok, report.summary()
    ended = _ENDED.findall(console.export_text())
    assert ended[-1] == "preview" and "dispatch" not in ended
