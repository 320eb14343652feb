"""The SOQL syntax tree: frozen dataclasses, positions kept out of equality.

Positions (character offsets into the query) let errors point at the offending token, but two
queries that differ only in spacing parse to equal trees, which is what tests compare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "And",
    "BoolLit",
    "Compare",
    "Condition",
    "CountAll",
    "DateLit",
    "DateTimeLit",
    "FieldPath",
    "InList",
    "Like",
    "LikePattern",
    "Literal",
    "Not",
    "NullLit",
    "NumberLit",
    "Or",
    "OrderBy",
    "Query",
    "RelativeDate",
    "StringLit",
    "Wildcard",
]


@dataclass(frozen=True)
class FieldPath:
    """``Name`` or a parent relationship path such as ``Account.Owner.Email``."""

    parts: tuple[str, ...]
    pos: int = field(default=0, compare=False)

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class CountAll:
    """``COUNT()``: the number of matching rows, no records."""

    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class StringLit:
    value: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class NumberLit:
    value: Decimal
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class BoolLit:
    value: bool
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class NullLit:
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class DateLit:
    value: date
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class DateTimeLit:
    value: datetime  # UTC
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class RelativeDate:
    """A date literal such as ``TODAY`` or ``LAST_N_DAYS:30`` (``n`` for the ``_N_`` forms)."""

    name: str  # upper case
    n: int | None = None
    pos: int = field(default=0, compare=False)


Literal = StringLit | NumberLit | BoolLit | NullLit | DateLit | DateTimeLit | RelativeDate


class Wildcard(StrEnum):
    ANY = "%"  # any run of characters
    ONE = "_"  # exactly one character


@dataclass(frozen=True)
class LikePattern:
    """A LIKE pattern: literal text runs and unescaped wildcards, in order."""

    parts: tuple[str | Wildcard, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Compare:
    field: FieldPath
    op: str  # = != < <= > >=  (<> is read as !=)
    value: Literal


@dataclass(frozen=True)
class InList:
    field: FieldPath
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    field: FieldPath
    pattern: LikePattern


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class And:
    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Condition, ...]


Condition = Compare | InList | Like | Not | And | Or


@dataclass(frozen=True)
class OrderBy:
    field: FieldPath
    descending: bool = False
    nulls_first: bool | None = None  # None: the default (nulls sort as the lowest value)


@dataclass(frozen=True)
class Query:
    select: tuple[FieldPath, ...] | CountAll
    sobject: str
    where: Condition | None = None
    order_by: tuple[OrderBy, ...] = ()
    limit: int | None = None
    offset: int | None = None
    sobject_pos: int = field(default=0, compare=False)
    limit_pos: int = field(default=0, compare=False)
    offset_pos: int = field(default=0, compare=False)
