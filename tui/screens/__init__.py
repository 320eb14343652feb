"""The dashboard's modal screens: help, choosing the Account for an ambiguous match, and
unlinking or relinking a customer."""

from __future__ import annotations

from tui.screens.help import HelpScreen
from tui.screens.link import AccountIdScreen, ConfirmScreen
from tui.screens.resolve import ResolveScreen

__all__ = ["AccountIdScreen", "ConfirmScreen", "HelpScreen", "ResolveScreen"]
