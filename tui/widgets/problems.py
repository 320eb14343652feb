"""Quarantine and dead letters: everything waiting for an operator, with its latest command.

The operator selects a row and presses retry, skip or resolve (the app's bindings); the table
says which row is selected and shows each row's command as it goes from "asked" to done or
failed. A row leaves the table once the daemon has carried the command out.

The selection is the record's key (``KeyedTable``): when rows move it moves with its record;
when its record leaves (handled by this operator, another, or the daemon) the subtitle says
which record it was and what became of it, and no action applies until the operator chooses
a row again, never to the neighbour the cursor now stands on.
"""

from __future__ import annotations

from rich.text import Text

from state import CommandStatus
from tui.format import clip
from tui.problems import Problem, ProblemKind, problems, what_became_of
from tui.view import View
from tui.widgets.keyed_table import Cell, Column, KeyedTable, Row

__all__ = ["ProblemsTable"]

_KIND_STYLES = {
    ProblemKind.DEAD_LETTER: "bold red",
    ProblemKind.AMBIGUOUS_MATCH: "bold yellow",
    ProblemKind.BAD_RECORD: "magenta",
    ProblemKind.ILLEGAL_TRANSITION: "magenta",
    ProblemKind.DEAL_UNWOUND: "bold yellow",
    ProblemKind.FIELD_LIMIT: "yellow",
}


def _command(problem: Problem) -> Cell:
    command = problem.command
    if command is None:
        return ""
    verb = command.kind.value.replace("_", " ")
    if command.status is CommandStatus.NEW:
        return Text(f"{verb} asked…", "cyan")
    if command.status is CommandStatus.FAILED:
        return Text(clip(f"{verb} failed: {command.result or ''}", 18), "red")
    return Text(clip(f"{verb} done: {command.result or ''}", 18), "green")


def _row(problem: Problem) -> Row:
    who = f" ({problem.customer})" if problem.customer else ""
    return (
        problem.key,
        (
            Text(problem.kind.value, _KIND_STYLES[problem.kind]),
            clip(problem.record + who, 34),
            clip(problem.reason, 34),
            problem.detail,
            f"{problem.since:%m-%d %H:%M}",
            _command(problem),
        ),
    )


class ProblemsTable(KeyedTable):
    COLUMNS = (
        Column("ref", "ref", 13),
        Column("kind", "kind", 18),
        Column("record", "record", 34),
        Column("reason", "reason", 34),
        Column("detail", "detail", 12),
        Column("since", "since", 11),
        Column("command", "command", 18),
    )

    def __init__(self) -> None:
        super().__init__(title="Quarantine and dead letters", id="problems", cursor=True)
        self._problems: dict[str, Problem] = {}
        self._gone_problem: Problem | None = None  # the chosen record, as last seen, once it left
        self._became = ""  # what became of it, as the commands tell
        self._keys_line = ""
        self._shown: tuple[object, ...] | None = None  # what the rows were made from

    def show(self, view: View) -> None:
        data = view.data
        # Most refreshes follow a commit that changed no problem (a heartbeat, a page of a
        # poller): comparing what the rows come from costs well under a millisecond, syncing
        # 400 rows cell by cell about 20 (``make bench``, the dashboard benchmark).
        shown = (data.quarantine, data.dead_letters, data.commands, data.outbox.dead)
        if shown == self._shown:
            return
        self._shown = shown
        found = problems(data)
        seen = self._problems
        self._problems = {problem.key: problem for problem in found}
        self.sync([_row(problem) for problem in found])
        gone = self.gone_key
        if gone is None:
            self._gone_problem = None
        else:
            self._gone_problem = seen.get(gone, self._gone_problem)
            self._became = what_became_of(gone, data.commands)
        quarantined = sum(1 for p in found if p.kind is not ProblemKind.DEAD_LETTER)
        unwound = any(p.kind is ProblemKind.DEAL_UNWOUND for p in found)
        self._keys_line = (
            f"{quarantined} quarantined · {view.data.outbox.dead} dead"
            " · r retry · s skip · m resolve match" + (" · v void · k keep" if unwound else "")
        )
        self._show_subtitle()

    def _show_subtitle(self) -> None:
        gone = self.gone_key
        self.border_subtitle = (f"{gone} is gone: choose a row · " if gone else "") + (
            self._keys_line
        )

    def chosen(self) -> None:
        self._show_subtitle()  # a row chosen again: the "gone" note goes

    def selected(self) -> Problem | None:
        """The chosen problem, as of the last refresh; None if none is, or it is gone."""
        key = self.selected_key()
        return None if key is None else self._problems.get(key)

    def gone(self) -> str | None:
        """If the chosen record left the table: which it was and what became of it."""
        key = self.gone_key
        if key is None:
            return None
        record = f" ({self._gone_problem.record})" if self._gone_problem is not None else ""
        return f"{key}{record} is no longer listed: {self._became}"
