"""The help screen: what each panel means and what each key does."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

__all__ = ["HELP_TEXT", "HelpScreen"]

HELP_TEXT = """\
# cmsync dashboard

Reads the daemon's store (read-only) every second; nothing here talks to ChartMogul or
Salesforce. Actions are written as commands that the daemon carries out on its next pass.

## Keys

| key | action |
| --- | --- |
| `r` | **retry** the selected dead letter or quarantine entry (asks first, naming it) |
| `s` | **skip** it: give up on a dead letter, close a quarantine entry (asks first) |
| `m` | **resolve** an ambiguous match: choose the Salesforce Account |
| `v` | **void** an unwound deal: delete its invoice in ChartMogul (its revenue goes) |
| `k` | **keep** an unwound deal's invoice: the problem closes and is not raised again |
| `f` | the selected problem's cause and **fix**; for a dead letter, its why and its key |
| `u` | **unlink** the ChartMogul customer of the selected row from its Account (asks first) |
| `l` | **relink** that customer to a Salesforce Account you name (asks its Id, then to confirm) |
| `f5` | refresh now |
| `ctrl+p` | command palette: every action by name |
| `?` | this help (`escape` closes it) |
| `q` | quit (the daemon keeps running) |

## Panels

- **Header**: the target the configuration points at, and the daemon's heartbeat:
  *running*, *stale* (no beat for a while and no clean stop: look at the VM), or *stopped*;
  *store unwritable* in red, with the reason, when the daemon cannot write its store (a full
  disk, a read-only file): make room, and it goes on by itself.
- **Jobs**: each job's last run, result, duration, and next run when the schedule is known.
- **Sync lag**: per cursor, how old the newest record read from that feed is, and when the
  cursor last moved.
- **Outbox**: effects pending (and retrying), in flight and dead; writes per minute.
- **API budgets**: Salesforce calls used of the org's daily allocation and of cmsync's share;
  ChartMogul's request rate.
- **Accounts by stage**: accounts and MRR per lifecycle stage, and the total MRR synced.
- **Live feed**: the latest writes: which record, which fields, and why, in words (the keys are
  in `cmsync status --json`).
- **Quarantine and dead letters**: what waits for you. A command shows as *asked* until the
  daemon has carried it out; then the row leaves the table (or shows why it failed).
  The selection is a record, not a row: it follows its record when rows move, and when the
  record leaves (someone handled it) the table's subtitle says so and no key acts until you
  choose a row again (arrows, `enter`, a click). A command on a record someone else handled
  first comes back *already handled*, with how and when.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Markdown(HELP_TEXT, id="help-text")
