"""SOQL literals: the one place user data becomes query text.

Every value that reaches a SOQL query goes through ``literal`` (or ``like_literal`` for LIKE
patterns), and queries with values are built with ``soql(template, **values)``, whose template
is a constant. A string literal is single-quoted with the escapes the SOQL reference defines
(backslash, both quotes, newline, carriage return, tab, backspace, form feed), so no input can
end the literal early and change the query's structure; the property tests parse the result
with the sandbox's SOQL parser to prove it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

__all__ = ["SoqlValue", "escape", "identifier", "like_literal", "literal", "soql"]

SoqlValue = str | bool | int | float | Decimal | date | datetime | None

_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\b": "\\b",
        "\f": "\\f",
    }
)


def escape(text: str) -> str:
    """The body of a SOQL string literal for ``text`` (without the quotes)."""
    return text.translate(_ESCAPES)


def literal(value: SoqlValue | Iterable[SoqlValue]) -> str:
    """``value`` as a SOQL literal: strings quoted and escaped, datetimes in UTC, lists for IN."""
    match value:
        case None:
            return "null"
        case bool():
            return "true" if value else "false"
        case str():
            return f"'{escape(value)}'"
        case int() | Decimal():
            return str(value)
        case float():
            if not math.isfinite(value):
                raise ValueError(f"{value!r} has no SOQL literal")
            return repr(value)
        case datetime():
            if value.tzinfo is None:
                raise ValueError("naive datetimes are ambiguous in SOQL; give a timezone")
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        case date():
            return value.isoformat()
        case _:
            items = [literal(v) for v in value]
            if not items:
                raise ValueError("an empty IN list is not valid SOQL")
            return "(" + ", ".join(items) + ")"


def like_literal(text: str, *, prefix: bool = False, suffix: bool = False) -> str:
    """A quoted LIKE pattern matching ``text`` literally, with % added where asked."""
    body = escape(text).replace("%", "\\%").replace("_", "\\_")
    return "'" + ("%" if suffix else "") + body + ("%" if prefix else "") + "'"


def soql(template: str, **values: SoqlValue | Iterable[SoqlValue]) -> str:
    """Fill ``{name}`` placeholders of a constant template with SOQL literals."""
    return template.format(**{name: literal(value) for name, value in values.items()})


_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*")


def identifier(name: str) -> str:
    """``name`` checked to be an object or field name (or a dotted relationship path).

    Names come from configuration, never from records, but they are still checked: a field
    mapping is not a place to smuggle SOQL in.
    """
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a Salesforce object or field name")
    return name
