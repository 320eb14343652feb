"""The dashboard's modal screens: help, and choosing the Account for an ambiguous match."""

from __future__ import annotations

from tui.screens.help import HelpScreen
from tui.screens.resolve import ResolveScreen

__all__ = ["HelpScreen", "ResolveScreen"]
