"""Unlinking and relinking a ChartMogul customer: asking for the Account, and confirming.

Each confirmation names the record it acts on (the customer, the Account, and the problem row
it came from), so the operator never unlinks or relinks the wrong customer by a slip of the
cursor. The daemon carries the command out (``cmsync.daemon.commands``).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

__all__ = ["AccountIdScreen", "ConfirmScreen"]


class ConfirmScreen(ModalScreen[bool]):
    """Dismissed with True on ``y``, False on ``n`` or ``escape``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(Text(self.title_text, "bold"), id="confirm-title")
            yield Static(self.body, markup=False, id="confirm-body")
            yield Static("y: yes · n or escape: cancel")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class AccountIdScreen(ModalScreen[str | None]):
    """Asks for the Salesforce Account Id to link a customer to; None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, customer: str, record: str) -> None:
        super().__init__()
        self.customer = customer
        self.record = record

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(Text(f"Relink ChartMogul customer {self.customer}", "bold"))
            yield Static(f"From: {self.record}", markup=False)
            yield Static("Link it to which Salesforce Account? (enter: next, escape: cancel)")
            yield Input(placeholder="Account Id, e.g. 001Dn00000000001IAA", id="account-id")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        self.dismiss(value or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
