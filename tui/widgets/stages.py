"""Accounts by lifecycle stage with their MRR, and the total MRR cmsync has synced.

Stages in lifecycle order (lead, trial, new, active, at risk, churned), any stage the store
holds that this dashboard does not know after them, then a total row. Customers still waiting
for a Salesforce Account are counted in the subtitle: they are synced nowhere yet.
"""

from __future__ import annotations

from rich.text import Text

from state import StageSummary
from state.lifecycle import Stage
from tui.format import count, money
from tui.view import View
from tui.widgets.keyed_table import Column, KeyedTable, Row

__all__ = ["StagesPanel"]

_ORDER = {stage.value: index for index, stage in enumerate(Stage)}
TOTAL = "total"


def _ordered(stages: tuple[StageSummary, ...]) -> list[StageSummary]:
    unknown = len(_ORDER)  # stages this dashboard does not know go last, by name
    return sorted(stages, key=lambda s: (_ORDER.get(s.lifecycle_state, unknown), s.lifecycle_state))


class StagesPanel(KeyedTable):
    COLUMNS = (
        Column("stage", "stage", 9),
        Column("accounts", "accounts", 9),
        Column("mrr", "MRR", 14),
    )

    def __init__(self) -> None:
        super().__init__(title="Accounts by stage", id="stages")

    def show(self, view: View) -> None:
        data = view.data
        rows: list[Row] = [
            (s.lifecycle_state, (count(s.accounts).rjust(9), money(s.mrr_cents).rjust(14)))
            for s in _ordered(data.stages)
        ]
        rows.append(
            (
                TOTAL,
                (
                    Text(count(data.total_accounts).rjust(9), "bold"),
                    Text(money(data.total_mrr_cents).rjust(14), "bold"),
                ),
            )
        )
        self.sync(rows)
        self.border_subtitle = (
            f"{count(data.pending_matches)} unmatched" if data.pending_matches else ""
        )
