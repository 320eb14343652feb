"""The command palette's dashboard entries: one per action, each running the app's action.

Listed with an empty query (``discover``) and fuzzy-matched as the operator types
(``search``), beside Textual's own system commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

__all__ = ["PALETTE_ACTIONS", "ActionsProvider", "PaletteAction"]


@dataclass(frozen=True, slots=True)
class PaletteAction:
    name: str  # what the palette shows and matches
    action: str  # the app action it runs
    help: str


PALETTE_ACTIONS = (
    PaletteAction(
        "Retry the selected problem", "retry", "Send a dead letter again, or reprocess a record"
    ),
    PaletteAction(
        "Skip the selected problem", "skip", "Give up on a dead letter or close a quarantine entry"
    ),
    PaletteAction(
        "Resolve the selected ambiguous match",
        "resolve",
        "Choose the Salesforce Account among the candidates",
    ),
    PaletteAction(
        "Void the selected unwound deal's invoice",
        "void",
        "Delete in ChartMogul the invoice of a deal no longer Closed Won",
    ),
    PaletteAction(
        "Keep the selected unwound deal's invoice",
        "keep",
        "Leave the invoice in ChartMogul and close the problem for good",
    ),
    PaletteAction(
        "Show the selected problem's fix", "fix", "Its cause in words and what to do about it"
    ),
    PaletteAction(
        "Unlink the selected row's customer",
        "unlink",
        "Drop the ChartMogul customer's link; it is matched again on the next sweep",
    ),
    PaletteAction(
        "Relink the selected row's customer",
        "relink",
        "Link the ChartMogul customer to a Salesforce Account you name",
    ),
    PaletteAction("Refresh now", "refresh", "Re-read the store without waiting"),
    PaletteAction("Show help", "help", "What each panel means and what each key does"),
)


class ActionsProvider(Provider):
    async def discover(self) -> Hits:
        for entry in PALETTE_ACTIONS:
            run = partial(self.app.run_action, entry.action)
            yield DiscoveryHit(entry.name, run, help=entry.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in PALETTE_ACTIONS:
            score = matcher.match(entry.name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(entry.name),
                    partial(self.app.run_action, entry.action),
                    text=entry.name,
                    help=entry.help,
                )
