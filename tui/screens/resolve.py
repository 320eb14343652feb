"""Choosing the Salesforce Account for an ambiguous match, among the quarantine's candidates.

The daemon quarantined the customer because more than one Account matched and it never
guesses; the operator picks one (or cancels). Only the recorded candidates are offered: the
resolve command names one of them, and the daemon links exactly that pair.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.problems import Problem

__all__ = ["ResolveScreen"]


class ResolveScreen(ModalScreen[str | None]):
    """Dismissed with the chosen Account Id, or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, problem: Problem) -> None:
        super().__init__()
        self.problem = problem

    def compose(self) -> ComposeResult:
        problem = self.problem
        with Vertical(id="resolve-box"):
            yield Static(Text(f"Resolve the match for {problem.record}", "bold"))
            if problem.customer:
                yield Static(f"Customer: {problem.customer}", markup=False)
            yield Static(f"Why: {problem.reason}", markup=False)
            yield Static("Link it to which Account? (enter: choose, escape: cancel)")
            yield OptionList(
                *(Option(f"Account {account}", id=account) for account in problem.candidates),
                id="resolve-candidates",
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
