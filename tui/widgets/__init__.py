"""The dashboard's panels, one widget per module."""

from __future__ import annotations

from tui.widgets.alert import AlertLine
from tui.widgets.budgets import BudgetsPanel
from tui.widgets.feed import EffectsFeed
from tui.widgets.heartbeat import DaemonBar
from tui.widgets.jobs import JobsPanel
from tui.widgets.keyed_table import KeyedTable
from tui.widgets.lag import LagPanel
from tui.widgets.outbox import OutboxPanel
from tui.widgets.problems import ProblemsTable
from tui.widgets.stages import StagesPanel

__all__ = [
    "AlertLine",
    "BudgetsPanel",
    "DaemonBar",
    "EffectsFeed",
    "JobsPanel",
    "KeyedTable",
    "LagPanel",
    "OutboxPanel",
    "ProblemsTable",
    "StagesPanel",
]
