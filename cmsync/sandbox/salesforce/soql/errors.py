"""SOQL errors as Salesforce words them: an excerpt of the query, a caret, the position, why.

The real message (newlines shown as they print) looks like::

    SELECT Id, NonField FROM Contact
               ^
    ERROR at Row:1:Column:12
    No such column 'NonField' on entity 'Contact'. ...

The excerpt is the error's row cut to about four tokens either side of the offending one
(observed in real answers for long queries), rows and columns counted from 1.
"""

from __future__ import annotations

import re

__all__ = ["SoqlError", "render"]

_TOKENISH = re.compile(r"'(?:[^'\\]|\\.)*'?|[A-Za-z0-9_.:+-]+|\S")
_CONTEXT_TOKENS = 4


class SoqlError(Exception):
    """A query Salesforce refuses: an error code, the reason, and where (a character offset)."""

    def __init__(self, code: str, detail: str, pos: int) -> None:
        super().__init__(f"{code} at {pos}: {detail}")
        self.code = code
        self.detail = detail
        self.pos = pos

    def message(self, query: str) -> str:
        """The wire message for this error in ``query``."""
        return render(query, self.pos, self.detail)


def row_col(query: str, pos: int) -> tuple[int, int]:
    """1-based row and column of character offset ``pos``."""
    pos = max(0, min(pos, len(query)))
    row = query.count("\n", 0, pos) + 1
    col = pos - (query.rfind("\n", 0, pos) + 1) + 1
    return row, col


def render(query: str, pos: int, detail: str) -> str:
    row, col = row_col(query, pos)
    line = query.split("\n")[row - 1] if query else ""
    spans = [m.span() for m in _TOKENISH.finditer(line)]
    at = next((i for i, (start, end) in enumerate(spans) if start <= col - 1 < end), len(spans))
    first = spans[max(0, at - _CONTEXT_TOKENS)][0] if spans else 0
    last = spans[min(len(spans) - 1, at + _CONTEXT_TOKENS)][1] if spans else 0
    excerpt = line[first:last]
    caret = " " * max(0, col - 1 - first) + "^"
    return f"\n{excerpt}\n{caret}\nERROR at Row:{row}:Column:{col}\n{detail}"
