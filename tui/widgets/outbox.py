"""The outbox: effects waiting to be sent, by status, and writes per minute as a sparkline.

Pending includes the rows waiting to be retried (shown apart too); dead rows wait for an
operator in the problems table below. The sparkline has one bar per minute of the last
``SPARK_MINUTES`` (minutes without writes are zeros), so a stalled dispatcher is a flat line.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from state import MinuteCount
from tui.data import SPARK_MINUTES, spark_start
from tui.format import count
from tui.view import View

__all__ = ["OutboxPanel", "minute_series"]


def minute_series(counts: tuple[MinuteCount, ...], now: datetime) -> list[int]:
    """Writes in each minute of the window ending with ``now``'s minute, oldest first."""
    start = spark_start(now)
    by_minute = {c.minute: c.writes for c in counts}
    return [by_minute.get(start + timedelta(minutes=i), 0) for i in range(SPARK_MINUTES)]


class OutboxPanel(Vertical):
    def __init__(self) -> None:
        super().__init__(id="outbox", classes="panel")
        self.border_title = "Outbox"
        self._counts = Static(id="outbox-counts")
        self._spark = Sparkline([0] * SPARK_MINUTES, summary_function=max, id="outbox-spark")
        self._caption = Static(id="outbox-caption")
        self._shown = ""

    def compose(self) -> ComposeResult:
        yield self._counts
        yield self._spark
        yield self._caption

    def show(self, view: View) -> None:
        counts = view.data.outbox
        text = Text.assemble(
            "pending   ",
            (count(counts.pending), "bold"),
            f"  (retrying {count(counts.retrying)})\n",
            "in flight ",
            (count(counts.in_flight), "bold"),
            "\ndead      ",
            (count(counts.dead), "bold red" if counts.dead else "bold"),
        )
        series = minute_series(view.data.writes_per_minute, view.now)
        caption = (
            f"writes/min: {count(series[-1])} now · peak {count(max(series))}"
            f" · {count(sum(series))} in {SPARK_MINUTES} min"
        )
        shown = text.plain + caption + repr(series)
        if shown == self._shown:
            return
        self._shown = shown
        # Fixed heights (``#outbox-counts``, ``#outbox-caption``): no layout pass needed.
        self._counts.update(text, layout=False)
        self._caption.update(caption, layout=False)
        self._spark.data = series

    @property
    def shown(self) -> str:
        return self._shown
