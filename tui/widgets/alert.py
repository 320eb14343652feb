"""A red line under the header that says why the last refresh failed, until one succeeds.

Refresh errors (the store missing, locked, or of another schema version) must be seen, but
must not stop the dashboard: it keeps retrying every second and this line disappears on the
first good read.
"""

from __future__ import annotations

from textual.widgets import Static

__all__ = ["AlertLine"]


class AlertLine(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.message = ""
        self.display = False

    def raise_alert(self, message: str) -> None:
        if message != self.message:
            self.message = message
            self.update(f"⚠ {message}")
        self.display = True

    def clear(self) -> None:
        if self.display:
            self.message = ""
            self.update("")
            self.display = False
