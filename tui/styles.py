"""The dashboard's stylesheet (Textual CSS).

Kept in a Python module rather than a ``.tcss`` file so it ships in any install of the
package without package-data settings. Layout: the daemon line, two rows of small panels,
then the live feed and the problems table sharing the remaining height.
"""

from __future__ import annotations

__all__ = ["DASHBOARD_CSS"]

DASHBOARD_CSS = """
Screen {
    layout: vertical;
}

#daemon {
    border: none;
    height: 1;
    padding: 0 1;
    background: $boost;
}

#alert {
    height: auto;
    padding: 0 1;
    background: $error;
    color: $text;
    text-style: bold;
}

.panel {
    border: round $primary 60%;
    border-title-color: $text;
    border-title-style: bold;
    border-subtitle-color: $text-muted;
}

.panel:focus-within, .panel:focus {
    border: round $accent;
}

#row-a {
    height: 12;
}

#row-b {
    height: 10;
}

#row-a > .panel, #row-b > .panel {
    height: 100%;
}

#jobs {
    width: 68;
}

#lag {
    width: 50;
}

#budgets {
    width: 1fr;
    padding: 0 1;
}

#outbox {
    width: 1fr;
    padding: 0 1;
}

#outbox-counts {
    height: 3;
}

#outbox-spark {
    height: 2;
    margin: 0 0;
}

#outbox-caption {
    height: 1;
    color: $text-muted;
}

#stages {
    width: 42;
}

#feed {
    height: 1fr;
}

#problems {
    height: 1fr;
}

/* The chosen record left the table: the cursor's row is only a neighbour, not a selection. */
#problems.-gone > .datatable--cursor {
    background: $surface;
    color: $text-muted;
    text-style: italic;
}

DataTable {
    scrollbar-size-vertical: 1;
}

HelpScreen, ResolveScreen {
    align: center middle;
}

#help-body {
    width: 90;
    height: 80%;
    border: round $accent;
    background: $surface;
}

#resolve-box {
    width: 72;
    height: auto;
    max-height: 80%;
    padding: 1 2;
    border: round $accent;
    background: $surface;
}

#confirm-box {
    width: 72;
    height: auto;
    padding: 1 2;
    border: round $accent;
    background: $surface;
}

#resolve-candidates {
    height: auto;
    max-height: 12;
    margin-top: 1;
}
"""
