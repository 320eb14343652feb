"""SOQL literals: the one place user data becomes query text.

Every value that reaches a SOQL query goes through ``literal`` (or ``like_literal`` for LIKE
patterns), and queries with values are built with ``soql(template, **values)``, whose template
is a constant. A string literal is single-quoted with the escapes the SOQL reference defines
(backslash, both quotes, newline, carriage return, tab, backspace, form feed), so no input can
end the literal early and change the query's structure; the property tests parse the result
with the sandbox's SOQL parser to prove it.

A query travels in the URL (``GET .../query/?q=<the query, percent-encoded>``), and Salesforce
refuses a request whose line and headers pass 16,384 bytes (414 or 431; help article 000386264).
A query with an IN list of many keys is therefore split with ``in_chunks``: as many queries as
needed, each with part of the keys, each fitting ``QUERY_BUDGET`` bytes once encoded. The
encoding is what simple-salesforce sends (requests' ``urlencode``: UTF-8, then ``%XX`` for all
but letters, digits and ``_.-~``, a space as ``+``), so a non-ASCII key counts 6 to 12 bytes a
character, an escaped quote 6.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import quote_plus

__all__ = [
    "QUERY_BUDGET",
    "REQUEST_LIMIT",
    "SoqlValue",
    "distinct_fields",
    "encoded_length",
    "escape",
    "identifier",
    "in_chunks",
    "like_literal",
    "literal",
    "soql",
]

# Salesforce's limit on a request's line and headers together, in bytes (help article
# 000386264; "Status Codes and Error Responses": 414 and 431 above it).
REQUEST_LIMIT = 16_384
# Room for the headers cmsync's client sends (Host, User-Agent, Accept*, Connection,
# Content-Type, X-PrettyPrint, Authorization with a ~112-character session, Sforce-*): about
# 600 bytes; the rest is margin.
HEADERS_ALLOWANCE = 2_048
# The longest request line around a query, without the query: the API version's digits and
# ``queryAll`` are the longest the client writes.
_REQUEST_LINE = "GET /services/data/v000.0/queryAll/?q= HTTP/1.1\r\n"
QUERY_BUDGET = REQUEST_LIMIT - HEADERS_ALLOWANCE - len(_REQUEST_LINE)

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


def distinct_fields(names: Iterable[str]) -> list[str]:
    """A SELECT list's names, each checked by ``identifier()`` and each field once.

    Salesforce refuses a field selected twice (INVALID_FIELD "duplicate field selected: Id"),
    and field names are case-insensitive: ``Name`` and ``NAME`` are one field. The first
    spelling is kept.
    """
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(identifier(name).casefold(), name)
    return list(seen.values())


def encoded_length(query: str) -> int:
    """Bytes ``query`` takes in the URL, percent-encoded as the client encodes it."""
    return len(quote_plus(query))


_SEPARATOR = encoded_length(", ")
_PARENTHESES = encoded_length("()")


def in_chunks(
    template: str,
    keys: Iterable[SoqlValue],
    *,
    name: str = "keys",
    budget: int = QUERY_BUDGET,
    **values: SoqlValue | Iterable[SoqlValue],
) -> list[str]:
    """``template`` filled once per chunk of ``keys`` (placeholder ``{name}``, an IN list).

    Keys are taken in order, each once (repeats dropped), as many to a query as fit in
    ``budget`` encoded bytes; the other placeholders are filled from ``values`` in each.
    ValueError if a single key cannot fit (a key is at most a few hundred characters, so
    that is a bug, not data).
    """
    fixed = encoded_length(
        template.format(**{n: literal(v) for n, v in values.items()}, **{name: ""})
    )
    room = budget - fixed - _PARENTHESES
    chunks: list[list[SoqlValue]] = []
    used = room  # a full "previous chunk": the first key opens one
    for key in dict.fromkeys(keys):
        size = encoded_length(literal(key))
        if size > room:
            raise ValueError(f"a key of {size} encoded bytes cannot fit in a query: {key!r:.80}")
        if used + _SEPARATOR + size > room:
            chunks.append([key])
            used = size
        else:
            chunks[-1].append(key)
            used += _SEPARATOR + size
    return [soql(template, **values, **{name: chunk}) for chunk in chunks]
