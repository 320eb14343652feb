"""The top line: what the dashboard points at, and whether the daemon is alive.

Running while the heartbeat is recent; stopped once the daemon recorded a clean shutdown;
stale when it neither beats nor said goodbye (hung, killed, or the VM went away), which is the
state an operator must notice first, so it is shown in red. A daemon whose store refuses writes
(a full disk, a read-only file) beats no more either: the note it writes beside the store says
so, and the line shows "store unwritable" and the reason, in red, instead of a bare "stale".
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from cmsync.machineclock import machine_clock
from state.liveness import beat_age
from tui.format import DaemonLiveness, ago, liveness, span
from tui.view import View

__all__ = ["DaemonBar"]

_STYLES = {
    DaemonLiveness.RUNNING: "bold green",
    DaemonLiveness.STALE: "bold white on red",
    DaemonLiveness.STOPPED: "bold yellow",
    DaemonLiveness.NEVER: "bold yellow",
}


class DaemonBar(Static):
    """``cmsync · target: sandbox │ daemon: running (pid 4242, up 2h 03m) · beat 2s ago``."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("cmsync · waiting for the first read…", id=id, classes="panel")
        self._shown = ""

    def show(self, view: View) -> None:
        beat, here = view.data.heartbeat, machine_clock()
        state = liveness(beat, view.now, view.stale_after, here)
        text = Text.assemble(
            ("cmsync", "bold"),
            "  target: ",
            (view.target_label, "bold cyan"),
            "  │  daemon: ",
            (f" {state.value} ", _STYLES[state]),
        )
        note = view.data.store_note
        if note is not None and note.fresh(view.now) and state is not DaemonLiveness.STOPPED:
            text.append("  ")
            text.append(f" store unwritable: {note.reason} ", "bold white on red")
            text.append(f" since {ago(note.since, view.now)}")
        elif beat is not None:
            if state is DaemonLiveness.STOPPED and beat.stopped_at is not None:
                text.append(f"  pid {beat.pid} · stopped {ago(beat.stopped_at, view.now)}")
            else:
                # The beat's true age (``state.liveness``), not its wall time, which a
                # stepped clock can put in the future.
                age = beat_age(beat, view.now, here).age
                when = ago(view.now - age, view.now) if age is not None else "in the future"
                text.append(
                    f"  pid {beat.pid} · up {span(view.now - beat.started_at)} · beat {when}"
                )
            if beat.target != view.target_label:
                text.append(f"  (daemon points at {beat.target}!)", "bold red")
        text.append(f"  │  {view.now:%Y-%m-%d %H:%M:%S} UTC", "dim")
        if text.plain != self._shown:
            self._shown = text.plain
            # One line the screen's width (``#daemon``): its size never changes, so no layout
            # pass, which would re-render every panel on every refresh (the beat time changes).
            self.update(text, layout=False)

    @property
    def shown(self) -> str:
        """The text on the line (for tests and screen readers)."""
        return self._shown
