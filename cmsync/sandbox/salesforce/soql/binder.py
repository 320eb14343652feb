"""Binding a parsed query to the catalogue: names, literal types, and compiled predicates.

Binding does what Salesforce does before it reads a row: the object must exist (INVALID_TYPE),
every field (INVALID_FIELD), each literal must suit its field's type (MALFORMED_QUERY "value of
filter criterion for field 'X' must be of type double and should not be enclosed in quotes"),
Ids must be Ids (INVALID_QUERY_FILTER_OPERATOR). The WHERE clause then compiles to one Python
predicate per record. Comparison semantics are SOQL's, not SQL's: text compares
case-insensitively, and ``!=`` / ``NOT IN`` match records whose field is null.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from cmsync.salesforce.schema import Catalogue, FieldSpec, FieldType, SObjectSpec
from cmsync.sandbox.salesforce.ids import InvalidIdError, normalize
from cmsync.sandbox.salesforce.records import Record, is_indexed
from cmsync.sandbox.salesforce.soql.dates import date_range
from cmsync.sandbox.salesforce.soql.errors import SoqlError
from cmsync.sandbox.salesforce.soql.nodes import (
    And,
    BoolLit,
    Compare,
    Condition,
    CountAll,
    DateLit,
    DateTimeLit,
    FieldPath,
    InList,
    Like,
    Literal,
    Not,
    NullLit,
    NumberLit,
    Or,
    Query,
    RelativeDate,
    StringLit,
    Wildcard,
)
from cmsync.sandbox.salesforce.soql.paths import BoundPath, Finder, bind_path, getter
from cmsync.sandbox.salesforce.values import Value

__all__ = ["BoundOrder", "IndexHint", "Plan", "Predicate", "bind"]

Predicate = Callable[[Record], bool]
# A comparable normalised value, a (start, end) range, or None; compared with record values
# of the same field type, so the tests below are typed loosely on purpose.
Operand = Any
Test = Callable[[Any], bool]
MAX_OFFSET = 2000

_TYPE_NAMES = {
    FieldType.CURRENCY: "double", FieldType.DOUBLE: "double", FieldType.PERCENT: "double",
    FieldType.INT: "int", FieldType.BOOLEAN: "boolean", FieldType.DATE: "date",
    FieldType.DATETIME: "dateTime", FieldType.ID: "id", FieldType.REFERENCE: "id",
}  # fmt: skip
_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class IndexHint:
    """Candidate rows can come from an index: ``field`` equals one of ``keys``."""

    field: str
    keys: tuple[object, ...]


@dataclass(frozen=True)
class BoundOrder:
    key: Callable[[Record], object]  # normalised sort value, None for null
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Plan:
    """A bound query, ready to run against the store it was bound with."""

    sobject: SObjectSpec
    select: tuple[BoundPath, ...] | None  # None: COUNT()
    where: Predicate | None
    index: IndexHint | None
    order_by: tuple[BoundOrder, ...]
    limit: int | None
    offset: int


def _normalize(spec: FieldSpec, value: Value) -> object:
    """The form compared and sorted: text case-folded (Ids are exact)."""
    if isinstance(value, str) and spec.type not in (FieldType.ID, FieldType.REFERENCE):
        return value if spec.case_sensitive else value.casefold()
    return value


class _Binder:
    def __init__(self, root: SObjectSpec, catalogue: Catalogue, find: Finder, now: datetime):
        self.root = root
        self.catalogue = catalogue
        self.find = find
        self.today = now.astimezone(UTC).date()

    def path(self, path: FieldPath, filtering: bool = False) -> BoundPath:
        bound = bind_path(path, self.root, self.catalogue)
        if filtering and not bound.field.filterable:
            raise SoqlError(
                "INVALID_FIELD",
                f"field '{bound.field.name}' can not be filtered in query call",
                path.pos,
            )
        return bound

    def type_error(self, spec: FieldSpec, literal: Literal) -> SoqlError:
        if spec.type.is_text and spec.type not in (FieldType.ID, FieldType.REFERENCE):
            return SoqlError(
                "MALFORMED_QUERY",
                f"value of filter criterion for field '{spec.name}' must be of type string and "
                "should be enclosed in quotes",
                literal.pos,
            )
        kind = _TYPE_NAMES.get(spec.type, "string")
        return SoqlError(
            "MALFORMED_QUERY",
            f"value of filter criterion for field '{spec.name}' must be of type {kind} and "
            "should not be enclosed in quotes",
            literal.pos,
        )

    def operand(self, spec: FieldSpec, literal: Literal) -> Operand:
        """``literal`` as a value comparable with ``spec``'s normalised values."""
        kind = spec.type
        if isinstance(literal, NullLit):
            return None
        if kind in (FieldType.ID, FieldType.REFERENCE) and isinstance(literal, StringLit):
            try:
                return normalize(literal.value)
            except InvalidIdError:
                raise SoqlError(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"invalid ID field: {literal.value}",
                    literal.pos,
                ) from None
        if kind.is_text and isinstance(literal, StringLit):
            return _normalize(spec, literal.value)
        if kind.is_number and isinstance(literal, NumberLit):
            return float(literal.value)
        if kind is FieldType.BOOLEAN and isinstance(literal, BoolLit):
            return literal.value
        if kind is FieldType.DATE and isinstance(literal, DateLit):
            return literal.value
        if kind is FieldType.DATETIME and isinstance(literal, DateTimeLit):
            return literal.value
        if kind in (FieldType.DATE, FieldType.DATETIME) and isinstance(literal, RelativeDate):
            start, end = date_range(literal.name, literal.n, self.today)
            if kind is FieldType.DATE:
                return (start, end)
            return (_midnight(start), _midnight(end))
        raise self.type_error(spec, literal)

    def condition(self, node: Condition) -> Predicate:
        match node:
            case And(operands):
                parts = tuple(self.condition(o) for o in operands)
                return lambda r: all(p(r) for p in parts)
            case Or(operands):
                parts = tuple(self.condition(o) for o in operands)
                return lambda r: any(p(r) for p in parts)
            case Not(operand):
                inner = self.condition(operand)
                return lambda r: not inner(r)
            case Compare(path, op, literal):
                bound = self.path(path, filtering=True)
                test = _comparison(op, self.operand(bound.field, literal))
                return self._apply(bound, test)
            case InList(path, literals, negated):
                bound = self.path(path, filtering=True)
                tests = tuple(_comparison("=", self.operand(bound.field, v)) for v in literals)
                if negated:
                    return self._apply(bound, lambda v: not any(t(v) for t in tests))
                return self._apply(bound, lambda v: any(t(v) for t in tests))
            case Like(path, pattern):
                bound = self.path(path, filtering=True)
                if not bound.field.type.is_text:
                    raise self.type_error(bound.field, StringLit("", pattern.pos))
                regex = _like_regex(pattern.parts)
                return self._apply(bound, lambda v: v is not None and bool(regex.fullmatch(str(v))))
        raise AssertionError(node)

    def _apply(self, bound: BoundPath, test: Test) -> Predicate:
        read = getter(bound, self.find, self.catalogue)
        spec = bound.field
        return lambda record: test(_normalize(spec, read(record)))

    def index_hint(self, where: Condition | None) -> IndexHint | None:
        """An equality on an indexed field of the root that every match must satisfy."""
        conjuncts = where.operands if isinstance(where, And) else (where,)
        for node in conjuncts:
            literals: tuple[Literal, ...]
            if isinstance(node, Compare) and node.op == "=":
                path, literals = node.field, (node.value,)
            elif isinstance(node, InList) and not node.negated:
                path, literals = node.field, node.values
            else:
                continue
            bound = bind_path(path, self.root, self.catalogue)
            spec = bound.field
            if bound.hops or not (spec.name == "Id" or is_indexed(spec)):
                continue
            if any(isinstance(v, NullLit | RelativeDate) for v in literals):
                continue
            return IndexHint(spec.name, tuple(self.operand(spec, v) for v in literals))
        return None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _comparison(op: str, operand: Operand) -> Test:
    """A test of a normalised field value against ``operand`` with SOQL's null rules."""
    if operand is None:
        if op == "=":
            return lambda v: v is None
        if op == "!=":
            return lambda v: v is not None
        return lambda v: False
    if isinstance(operand, tuple):  # a date literal's range [start, end)
        start, end = operand

        def within(v: Any) -> bool:
            return v is not None and bool(start <= v < end)

        tests: dict[str, Test] = {
            "=": within,
            "!=": lambda v: not within(v),
            "<": lambda v: v is not None and bool(v < start),
            "<=": lambda v: v is not None and bool(v < end),
            ">": lambda v: v is not None and bool(v >= end),
            ">=": lambda v: v is not None and bool(v >= start),
        }
        return tests[op]
    if op == "=":
        return lambda v: v == operand
    if op == "!=":
        return lambda v: v != operand
    compare = _ORDERING[op]
    return lambda v: v is not None and bool(compare(v, operand))


def _like_regex(parts: tuple[str | Wildcard, ...]) -> re.Pattern[str]:
    pieces = []
    for part in parts:
        if part is Wildcard.ANY:
            pieces.append(".*")
        elif part is Wildcard.ONE:
            pieces.append(".")
        else:
            pieces.append(re.escape(part))
    return re.compile("".join(pieces), re.IGNORECASE | re.DOTALL)


def _sort_key(binder: _Binder, path: FieldPath) -> Callable[[Record], object]:
    bound = binder.path(path)
    if not bound.field.sortable:
        raise SoqlError(
            "INVALID_FIELD",
            f"field '{bound.field.name}' can not be sorted in a query call",
            path.pos,
        )
    read = getter(bound, binder.find, binder.catalogue)
    spec = bound.field
    return lambda record: _normalize(spec, read(record))


def _select_list(binder: _Binder, paths: tuple[FieldPath, ...]) -> tuple[BoundPath, ...]:
    """The selected fields; a field selected twice (however it is spelt) is refused.

    Salesforce answers INVALID_FIELD "duplicate field selected: Id", naming the field as the
    second mention writes it; names are case-insensitive and ``Account.Name`` from Account is
    ``Name``, so the comparison is on the resolved path.
    """
    seen: set[tuple[str, ...]] = set()
    bound_paths = []
    for path in paths:
        bound = binder.path(path)
        key = tuple(name.casefold() for name in bound.names)
        if key in seen:
            raise SoqlError("INVALID_FIELD", f"duplicate field selected: {path.dotted}", path.pos)
        seen.add(key)
        bound_paths.append(bound)
    return tuple(bound_paths)


def bind(query: Query, catalogue: Catalogue, find: Finder, now: datetime) -> Plan:
    """Resolve ``query`` against ``catalogue``; SoqlError (positioned) where Salesforce refuses."""
    root = catalogue.get(query.sobject)
    if root is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
            query.sobject_pos,
        )
    binder = _Binder(root, catalogue, find, now)
    select = None
    if not isinstance(query.select, CountAll):
        select = _select_list(binder, query.select)
    where = binder.condition(query.where) if query.where is not None else None
    order = tuple(
        BoundOrder(
            _sort_key(binder, item.field),
            item.descending,
            item.nulls_first if item.nulls_first is not None else not item.descending,
        )
        for item in query.order_by
    )
    offset = query.offset or 0
    if offset > MAX_OFFSET:
        raise SoqlError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"Maximum SOQL offset allowed is {MAX_OFFSET}",
            query.offset_pos,
        )
    return Plan(root, select, where, binder.index_hint(query.where), order, query.limit, offset)
