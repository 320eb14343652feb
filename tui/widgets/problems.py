"""Quarantine and dead letters: everything waiting for an operator, with its latest command.

The operator selects a row and presses retry, skip or resolve (the app's bindings); the table
says which row is selected and shows each row's command as it goes from "asked" to done or
failed. A row leaves the table once the daemon has carried the command out.
"""

from __future__ import annotations

from rich.text import Text

from state import CommandStatus
from tui.format import clip
from tui.problems import Problem, ProblemKind, problems
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
        self._problems = {problem.key: problem for problem in found}
        self.sync([_row(problem) for problem in found])
        quarantined = sum(1 for p in found if p.kind is not ProblemKind.DEAD_LETTER)
        unwound = any(p.kind is ProblemKind.DEAL_UNWOUND for p in found)
        self.border_subtitle = (
            f"{quarantined} quarantined · {view.data.outbox.dead} dead"
            " · r retry · s skip · m resolve match" + (" · v void · k keep" if unwound else "")
        )

    def selected(self) -> Problem | None:
        """The problem under the cursor, as of the last refresh."""
        key = self.selected_key()
        return None if key is None else self._problems.get(key)
