"""Messages the dashboard's thread workers post to the app (``post_message`` is thread-safe).

Plain dataclasses: what happened, with the values, nothing else. Worker failures are not
messages of ours: Textual reports them as ``Worker.StateChanged`` and the app handles them in
its one ``on_worker_state_changed``.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tui.commands import CommandRequest
from tui.data import DashboardData

__all__ = ["CommandSent", "DataRead"]


@dataclass
class DataRead(Message):
    """A refresh finished; ``data`` may be the previous snapshot if nothing was committed."""

    data: DashboardData


@dataclass
class CommandSent(Message):
    """A command row was committed for the daemon."""

    request: CommandRequest
    command_id: int
