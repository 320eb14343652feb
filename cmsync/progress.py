"""How far a long step has come, told while it runs.

A first pass over a large org runs for many minutes, most of them in a few steps (the customer
sweep, the Closed-Won backfill, the activity feed). Each step of a pass gets a ``Meter`` when
it starts: the work that reads pages (the stream runner, once for every feed; the Closed-Won
and enrichment pollers; the dispatcher's windows; reconciliation) adds what it has done to it,
and says the total where the service gave one. The meter only counts; a ``ProgressSink``
decides what an operator sees:

- ``RichDisplay``: on a terminal, a live line per running step (rich's progress display):
  records and pages done, of how many where known, the rate and the time elapsed; each step's
  line (``StepResult.line``) printed above it as the step ends.
- ``LogLines``: anywhere else (a pipe, a log file, journald): the step's line as it ends and,
  every ``every`` seconds of a long step, one line saying where it is ("activities: 41,200
  activities, 206 pages, 1,480/s, 0:28 elapsed"), through whatever ``say`` is (stdout for
  ``cmsync once``, the log for the daemon).
- ``SILENT``: nobody to tell (the default of a pass).

The daemon's steps run side by side, so a sink holds one meter per running step and never
assumes only one is running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = [
    "NO_METER",
    "SILENT",
    "Finished",
    "LogLines",
    "Meter",
    "ProgressSink",
    "RichDisplay",
    "unit_of",
]

# What a step's records are, in an operator's words; "records" for the rest.
_UNITS = {
    "load_context": "accounts",
    "customers": "customers",
    "closed_won": "deals",
    "enrichment": "accounts",
    "activities": "activities",
    "late_activities": "activities",
    "payments": "invoices",
    "first_cycles": "customers",
    "dispatch": "rows",
    "reconcile": "customers",
    "reports": "rows",
    "preview": "rows",
}


def unit_of(step: str) -> str:
    return _UNITS.get(step, "records")


class Finished(Protocol):
    """What a sink is told of a step that ended (``StepResult``)."""

    @property
    def name(self) -> str: ...

    @property
    def seconds(self) -> float: ...

    def line(self) -> str: ...


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Meter:
    """One step's counts: records and pages done, their totals where known, since when.

    ``on_change`` (the sink's) is called after each change; a meter without one only counts.
    """

    def __init__(
        self,
        step: str,
        *,
        total: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[Meter], None] | None = None,
    ) -> None:
        self.step, self.unit = step, unit_of(step)
        self.records = self.pages = 0
        self.total_records: int | None = total
        self.total_pages: int | None = None
        self.clock, self.started = clock, clock()
        self._on_change = on_change

    def expect(self, *, records: int | None = None, pages: int | None = None) -> None:
        """The totals, once the service has said them (a listing's first page, a count)."""
        if records is not None:
            self.total_records = records
        if pages is not None:
            self.total_pages = pages
        self._changed()

    def advanced(self, records: int = 0, pages: int = 0) -> None:
        self.records += records
        self.pages += pages
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self)

    @property
    def elapsed(self) -> float:
        return max(0.0, self.clock() - self.started)

    @property
    def rate(self) -> float | None:
        """Records a second so far; None before a second has passed (a rate from a few
        milliseconds says nothing)."""
        elapsed = self.elapsed
        return self.records / elapsed if elapsed >= 1.0 else None

    def counts(self) -> str:
        """ "41,200/50,000 activities, 206 pages, 1,480/s, 0:28 elapsed": what is known."""
        records = f"{self.records:,}"
        if self.total_records is not None:
            records += f"/{self.total_records:,}"
        parts = [f"{records} {self.unit}"]
        if self.pages or self.total_pages is not None:
            pages = f"{self.pages:,}"
            if self.total_pages is not None:
                pages += f"/{self.total_pages:,}"
            one = (self.pages if self.total_pages is None else self.total_pages) == 1
            parts.append(f"{pages} {'page' if one else 'pages'}")
        if (rate := self.rate) is not None:
            parts.append(f"{rate:,.0f}/s")
        parts.append(f"{_elapsed(self.elapsed)} elapsed")
        return ", ".join(parts)

    def line(self) -> str:
        return f"{self.step}: {self.counts()}"


NO_METER = Meter("")  # counts nobody reads: a poller run outside a pass (tests, tools)


class ProgressSink(Protocol):
    """Told of each step of a pass as it starts and ends; the meter it hands out is told of
    the step's work in between."""

    def step_started(self, step: str) -> Meter: ...

    def step_ended(self, meter: Meter, result: Finished | None) -> None:
        """``result`` is None when the step was cancelled (its run says why)."""


class _Silent:
    def step_started(self, step: str) -> Meter:
        return Meter(step)

    def step_ended(self, meter: Meter, result: Finished | None) -> None:
        pass


SILENT: ProgressSink = _Silent()


class LogLines:
    """A line per step as it ends, and a line every ``every`` seconds of a long step.

    The periodic line is timed on the event loop (``call_later``), not by the step's work, so
    a step waiting on a slow service still says where it is. ``first_only`` (the daemon):
    a step's end is said at its first run (the daemon's first pass) and after any run long
    enough to have had a periodic line, not at every run of a job that runs each minute.
    """

    def __init__(
        self,
        say: Callable[[str], None],
        *,
        every: float = 60.0,
        first_only: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if every <= 0:
            raise ValueError("every must be positive")
        self.say, self.every, self.first_only, self.clock = say, every, first_only, clock
        self._ticks: dict[int, asyncio.TimerHandle] = {}
        self._ended: set[str] = set()

    def step_started(self, step: str) -> Meter:
        meter = Meter(step, clock=self.clock)
        self._arm(meter)
        return meter

    def _arm(self, meter: Meter) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not in a loop: nothing to time the lines by
            return
        self._ticks[id(meter)] = loop.call_later(self.every, self._tick, meter)

    def _tick(self, meter: Meter) -> None:
        self.say(meter.line())
        self._arm(meter)

    def step_ended(self, meter: Meter, result: Finished | None) -> None:
        tick = self._ticks.pop(id(meter), None)
        if tick is not None:
            tick.cancel()
        if result is None:
            return
        first = result.name not in self._ended
        self._ended.add(result.name)
        if first or not self.first_only or meter.elapsed >= self.every:
            self.say(result.line())


class RichDisplay:
    """On a terminal: a live line per running step, each step's line above them as it ends.

    Use as a context manager around the pass (it starts and stops rich's live display).
    Anything else printed to the console meanwhile goes above the live lines, as rich does.
    """

    def __init__(self, console: Console, *, refresh_per_second: float = 4) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            Task,
            TextColumn,
        )
        from rich.text import Text

        class Counts(ProgressColumn):
            """The meter's counts, read at each refresh: the time elapsed goes on while a
            step waits on a slow service."""

            def render(self, task: Task) -> Text:
                meter = task.fields.get("meter")
                return Text(meter.counts() if isinstance(meter, Meter) else "")

        self.console = console
        self.progress: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<15}"),
            BarColumn(bar_width=24),
            Counts(),
            console=console,
            refresh_per_second=refresh_per_second,
            transient=True,  # the live lines go; each step's line stays
        )
        self._tasks: dict[int, TaskID] = {}

    def __enter__(self) -> RichDisplay:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def step_started(self, step: str) -> Meter:
        meter = Meter(step, on_change=self._update)
        self._tasks[id(meter)] = self.progress.add_task(step, total=None, meter=meter)
        return meter

    def _update(self, meter: Meter) -> None:
        task = self._tasks.get(id(meter))
        if task is None:
            return
        # The bar fills by pages where their total is known, else by records; else it pulses.
        if meter.total_pages is not None:
            total, completed = meter.total_pages, meter.pages
        elif meter.total_records is not None:
            total, completed = meter.total_records, meter.records
        else:
            total, completed = None, 0
        self.progress.update(task, total=total, completed=completed)

    def step_ended(self, meter: Meter, result: Finished | None) -> None:
        task = self._tasks.get(id(meter))
        if task is not None:  # its last counts show with its line, however short the step
            self._update(meter)
            self.progress.refresh()  # rich prints the live lines as last refreshed
            del self._tasks[id(meter)]
        if result is not None:
            self.console.print(result.line(), markup=False, highlight=False, soft_wrap=True)
        if task is not None:
            self.progress.remove_task(task)
