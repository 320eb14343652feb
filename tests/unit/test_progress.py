"""What a long step says while it runs: the meter's words, the periodic log line, the live
display (rich's console captured)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from io import StringIO

from rich.console import Console

from cmsync.progress import LogLines, Meter, RichDisplay


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Ended:
    name: str
    seconds: float

    def line(self) -> str:
        return f"ok   {self.name:<13} {self.seconds:7.2f}s  done"


def test_the_meter_says_counts_rate_and_time_in_words() -> None:
    ticks = Ticks()
    meter = Meter("activities", clock=ticks)
    assert meter.line() == "activities: 0 activities, 0:00 elapsed"
    meter.advanced(41_200, 206)
    ticks.now += 28
    assert meter.line() == "activities: 41,200 activities, 206 pages, 1,471/s, 0:28 elapsed"


def test_totals_where_the_service_said_them() -> None:
    ticks = Ticks()
    meter = Meter("customers", clock=ticks)
    meter.expect(pages=101)
    meter.advanced(200, 1)
    ticks.now += 3_725
    assert meter.counts() == "200 customers, 1/101 pages, 0/s, 1:02:05 elapsed"
    deals = Meter("closed_won", clock=ticks)
    deals.expect(records=1_553)
    deals.advanced(7)
    assert deals.counts() == "7/1,553 deals, 0:00 elapsed"  # no rate before a second


async def test_a_long_step_says_where_it_is_each_interval_and_its_line_at_the_end() -> None:
    lines: list[str] = []
    sink = LogLines(lines.append, every=0.1)
    meter = sink.step_started("activities")
    meter.advanced(200, 1)
    await asyncio.sleep(0.25)  # two intervals
    sink.step_ended(meter, Ended("activities", 0.25))
    await asyncio.sleep(0.15)  # nothing more once it ended
    periodic = [line for line in lines if line.startswith("activities: ")]
    assert len(periodic) == 2, lines
    assert periodic[0].startswith("activities: 200 activities, 1 page, ")
    assert lines[-1].startswith("ok   activities")
    assert len(lines) == 3


async def test_the_daemon_says_a_steps_end_at_its_first_run_and_after_long_runs() -> None:
    lines: list[str] = []
    sink = LogLines(lines.append, every=0.1, first_only=True)
    for _ in range(2):  # the first run is said, the next quick one not
        meter = sink.step_started("dispatch")
        sink.step_ended(meter, Ended("dispatch", 0.0))
    assert lines == [Ended("dispatch", 0.0).line()]
    meter = sink.step_started("dispatch")
    await asyncio.sleep(0.15)
    sink.step_ended(meter, Ended("dispatch", 0.15))
    assert lines[-1] == Ended("dispatch", 0.15).line() and lines[-2].startswith("dispatch: ")
    # A cancelled step has no result: its periodic lines stop, no end line.
    meter = sink.step_started("reconcile")
    sink.step_ended(meter, None)
    await asyncio.sleep(0.15)
    assert not any(line.startswith("reconcile") for line in lines)


def test_the_live_display_shows_running_steps_and_prints_each_line_above() -> None:
    console = Console(file=StringIO(), force_terminal=True, record=True, width=120)
    with RichDisplay(console) as display:
        sweep = display.step_started("customers")
        sweep.expect(pages=3)
        sweep.advanced(200, 1)
        deals = display.step_started("closed_won")  # side by side, as the daemon runs them
        deals.advanced(5)
        display.step_ended(deals, Ended("closed_won", 1.5))
        display.progress.refresh()
        display.step_ended(sweep, Ended("customers", 2.0))
    text = console.export_text()
    assert "200 customers, 1/3 pages" in text
    assert Ended("closed_won", 1.5).line() in text
    assert Ended("customers", 2.0).line() in text
    assert text.index(Ended("closed_won", 1.5).line()) < text.index(Ended("customers", 2.0).line())
