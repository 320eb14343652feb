"""API budgets: Salesforce calls used of the org's daily allocation and of cmsync's share,
and ChartMogul's request rate when the daemon records one.

Salesforce's figure is org-wide (every integration counts against it); cmsync may drive it up
to ``share * max`` and pauses its writes there, so the line that matters is usage against that
share. For ChartMogul, which limits requests per second rather than per day, the daemon's
snapshot holds the recent rate as ``used`` and the limit as ``max``.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from state import BudgetSnapshot, System
from tui.format import ago, count
from tui.view import View

__all__ = ["BudgetsPanel"]


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"


def _style(part: int, whole: int) -> str:
    if not whole:
        return ""
    used = part / whole
    return "bold red" if used >= 0.95 else "yellow" if used >= 0.8 else "green"


def _line(text: Text, label: str, used: int, limit: int) -> None:
    text.append(f"  {label:<6}{count(used):>8} / {count(limit):<8} ")
    text.append(f"{_pct(used, limit):>4}\n", _style(used, limit))


def _salesforce(snap: BudgetSnapshot, view: View, text: Text) -> None:
    text.append("Salesforce", "bold")
    text.append(f"  daily calls · {ago(snap.updated_at, view.now)}\n", "dim")
    _line(text, "org", snap.used, snap.max)
    _line(text, "share", snap.used, int(snap.max * snap.share))
    text.append(f"  (cmsync may use {snap.share:.0%} of the org's)\n", "dim")


def _chartmogul(snap: BudgetSnapshot, view: View, text: Text) -> None:
    text.append("ChartMogul", "bold")
    text.append(f"  requests/s · {ago(snap.updated_at, view.now)}\n", "dim")
    _line(text, "rate", snap.used, snap.max)


class BudgetsPanel(Static):
    def __init__(self) -> None:
        super().__init__(id="budgets", classes="panel")
        self.border_title = "API budgets"
        self._shown = ""

    def show(self, view: View) -> None:
        by_system = {snap.system: snap for snap in view.data.budgets}
        text = Text()
        salesforce = by_system.get(System.SALESFORCE)
        if salesforce is None:
            text.append("Salesforce  no usage recorded yet\n", "dim")
        else:
            _salesforce(salesforce, view, text)
        chartmogul = by_system.get(System.CHARTMOGUL)
        if chartmogul is None:
            text.append("ChartMogul  no request rate recorded", "dim")
        else:
            _chartmogul(chartmogul, view, text)
        text.rstrip()
        if text.plain != self._shown:
            self._shown = text.plain
            self.update(text, layout=False)  # a fixed-size panel (``#budgets``): no layout pass

    @property
    def shown(self) -> str:
        return self._shown
