"""SOQL tokens, and the string-literal escapes of the SOQL reference.

A string literal is single-quoted. Inside it a backslash must start one of the escapes the
reference lists ("Quoted String Escape Sequences", SOQL and SOSL Reference): ``\\'`` ``\\"``
``\\\\`` ``\\n`` ``\\r`` ``\\t`` ``\\b`` ``\\f`` (each letter in either case), ``\\uXXXX`` (the
character with that code, four hex digits), or ``\\%`` / ``\\_``, which only a LIKE pattern
gives a meaning to; any other backslash sequence is an error. Every other character, control
characters included, stands for itself. The lexer checks the escapes and keeps the literal's
raw body; the parser decodes it as plain text or as a LIKE pattern depending on where it
stands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from cmsync.sandbox.salesforce.soql.errors import SoqlError, row_col
from cmsync.sandbox.salesforce.soql.nodes import LikePattern, Wildcard

__all__ = ["Kind", "Token", "decode_like", "decode_string", "tokenize"]

MALFORMED = "MALFORMED_QUERY"


class Kind(StrEnum):
    IDENT = "identifier"
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    OP = "operator"
    COMMA = ","
    LPAREN = "("
    RPAREN = ")"
    COLON = ":"
    EOF = "<EOF>"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # as written (a string keeps its quotes)
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()

    @property
    def shown(self) -> str:
        """How an error message names this token."""
        return "<EOF>" if self.kind is Kind.EOF else self.text


_WHITESPACE = " \t\r\n\f"
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![0-9A-Za-z])")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?![0-9A-Za-z_.])")
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*(?![A-Za-z0-9_.])")
_OPS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_PUNCT = {",": Kind.COMMA, "(": Kind.LPAREN, ")": Kind.RPAREN, ":": Kind.COLON}

# Escapes that decode to a character; LIKE adds \% and \_ (a literal % or _).
_ESCAPES = {
    "'": "'", '"': '"', "\\": "\\",
    "n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t",
    "b": "\b", "B": "\b", "f": "\f", "F": "\f",
}  # fmt: skip
_LIKE_ONLY = "%_"
_HEX = frozenset("0123456789abcdefABCDEF")


def _string_end(query: str, start: int) -> int:
    """Offset just past the quote closing the literal opened at ``start``."""
    i = start + 1
    while i < len(query):
        ch = query[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "'":
            return i + 1
        i += 1
    row, col = row_col(query, len(query))
    raise SoqlError(
        MALFORMED, f"line {row}:{col - 1} mismatched character '<EOF>' expecting '''", len(query)
    )


def _illegal(body: str, sequence: str, pos: int) -> SoqlError:
    return SoqlError(
        MALFORMED,
        f"Invalid string literal '{body}'. Illegal character sequence '\\{sequence}' in string "
        "literal.",
        pos,
    )


def _escape(body: str, i: int, pos: int) -> tuple[str, int]:
    """The escape starting at the backslash ``body[i]``: what it stands for, and its length.

    ``\\%`` and ``\\_`` stand for themselves here; only a LIKE pattern accepts them.
    """
    sequence = body[i + 1]
    if sequence in _ESCAPES:
        return _ESCAPES[sequence], 2
    if sequence in _LIKE_ONLY:
        return sequence, 2
    if sequence == "u":
        digits = body[i + 2 : i + 6]
        if len(digits) == 4 and all(c in _HEX for c in digits):
            return chr(int(digits, 16)), 6
    raise _illegal(body, sequence, pos)


def _check_escapes(body: str, pos: int) -> None:
    i = 0
    while i < len(body):
        i += _escape(body, i, pos)[1] if body[i] == "\\" else 1


def tokenize(query: str) -> list[Token]:
    """The tokens of ``query``, ending with EOF; SoqlError at the first that cannot be read."""
    tokens: list[Token] = []
    i = 0
    while i < len(query):
        ch = query[i]
        if ch in _WHITESPACE:
            i += 1
            continue
        if ch == "'":
            end = _string_end(query, i)
            _check_escapes(query[i + 1 : end - 1], i)
            tokens.append(Token(Kind.STRING, query[i:end], i))
            i = end
            continue
        if ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, i))
            i += 1
            continue
        op = next((o for o in _OPS if query.startswith(o, i)), None)
        if op is not None:
            tokens.append(Token(Kind.OP, op, i))
            i += len(op)
            continue
        for kind, pattern in (
            (Kind.DATETIME, _DATETIME),
            (Kind.DATE, _DATE),
            (Kind.NUMBER, _NUMBER),
            (Kind.IDENT, _IDENT),
        ):
            match = pattern.match(query, i)
            if match:
                tokens.append(Token(kind, match.group(), i))
                i = match.end()
                break
        else:
            row, col = row_col(query, i)
            raise SoqlError(
                MALFORMED, f"line {row}:{col - 1} no viable alternative at character '{ch}'", i
            )
    tokens.append(Token(Kind.EOF, "", len(query)))
    return tokens


def decode_string(token: Token) -> str:
    """The text a string literal stands for outside LIKE (where \\% and \\_ are errors)."""
    body = token.text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if body[i + 1] in _LIKE_ONLY:
            raise _illegal(body, body[i + 1], token.pos)
        text, length = _escape(body, i, token.pos)
        out.append(text)
        i += length
    return "".join(out)


def decode_like(token: Token) -> LikePattern:
    """A LIKE pattern: unescaped % and _ are wildcards; \\% and \\_ are the characters."""
    body = token.text[1:-1]
    parts: list[str | Wildcard] = []
    text: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            decoded, length = _escape(body, i, token.pos)
            text.append(decoded)
            i += length
            continue
        if ch in _LIKE_ONLY:
            if text:
                parts.append("".join(text))
                text = []
            parts.append(Wildcard(ch))
        else:
            text.append(ch)
        i += 1
    if text:
        parts.append("".join(text))
    return LikePattern(tuple(parts), token.pos)
