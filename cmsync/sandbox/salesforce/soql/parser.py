"""A recursive-descent parser for the SOQL subset the sandbox answers.

Grammar (keywords and names case-insensitive)::

    query     := SELECT (COUNT '(' ')' | path (',' path)*) FROM name
                 [WHERE condition] [ORDER BY order (',' order)*] [LIMIT int] [OFFSET int]
    condition := unary ((AND unary)* | (OR unary)*)
    unary     := NOT unary | '(' condition ')' | path op value
               | path [NOT] IN '(' value (',' value)* ')' | path LIKE string
    order     := path [ASC | DESC] [NULLS (FIRST | LAST)]
    value     := string | number | date | datetime | TRUE | FALSE | NULL
               | TODAY | YESTERDAY | ... | LAST_N_DAYS ':' int | ...

As in Salesforce, AND and OR never mix at one level without parentheses ("client applications
must specify parentheses when nesting operators"): ``a AND b OR c`` is refused at the OR,
while ``a AND b AND c`` and ``NOT a AND b`` (NOT binds to the one condition after it) are fine.
Only syntax is checked here; names and types are the binder's job.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from cmsync.sandbox.salesforce.soql.errors import SoqlError
from cmsync.sandbox.salesforce.soql.lexer import (
    MALFORMED,
    Kind,
    Token,
    decode_like,
    decode_string,
    tokenize,
)
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
    OrderBy,
    Query,
    RelativeDate,
    StringLit,
)
from cmsync.sandbox.salesforce.values import parse_datetime

__all__ = ["RELATIVE_DATES", "RESERVED", "parse"]

# SOQL reserved words: never a field or object name.
RESERVED = frozenset(
    {"AND", "ASC", "DESC", "EXCLUDES", "FIRST", "FROM", "GROUP", "HAVING", "IN", "INCLUDES",
     "LAST", "LIKE", "LIMIT", "NOT", "NULL", "NULLS", "OR", "SELECT", "WHERE", "WITH"}
)  # fmt: skip
# Date literals; True: takes ":n".
RELATIVE_DATES = {
    "YESTERDAY": False, "TODAY": False, "TOMORROW": False,
    "LAST_WEEK": False, "THIS_WEEK": False, "NEXT_WEEK": False,
    "LAST_MONTH": False, "THIS_MONTH": False, "NEXT_MONTH": False,
    "LAST_90_DAYS": False, "NEXT_90_DAYS": False,
    "LAST_YEAR": False, "THIS_YEAR": False, "NEXT_YEAR": False,
    "LAST_N_DAYS": True, "NEXT_N_DAYS": True, "N_DAYS_AGO": True,
}  # fmt: skip
_COMPARISONS = {"=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = tokenize(query)
        self.i = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind is not Kind.EOF:
            self.i += 1
        return token

    def unexpected(self, token: Token | None = None) -> SoqlError:
        token = token or self.token
        return SoqlError(MALFORMED, f"unexpected token: '{token.shown}'", token.pos)

    def is_keyword(self, word: str, offset: int = 0) -> bool:
        token = self.tokens[min(self.i + offset, len(self.tokens) - 1)]
        return token.kind is Kind.IDENT and token.upper == word

    def keyword(self, word: str) -> Token:
        if not self.is_keyword(word):
            raise self.unexpected()
        return self.advance()

    def expect(self, kind: Kind) -> Token:
        if self.token.kind is not kind:
            raise self.unexpected()
        return self.advance()

    # --- clauses -----------------------------------------------------------------------

    def query(self) -> Query:
        self.keyword("SELECT")
        select = self.select_list()
        self.keyword("FROM")
        sobject = self.name()
        where = None
        if self.is_keyword("WHERE"):
            self.advance()
            where = self.condition()
        order: tuple[OrderBy, ...] = ()
        if self.is_keyword("ORDER"):
            self.advance()
            self.keyword("BY")
            order = self.order_list()
        limit, limit_pos = self.clause_int("LIMIT")
        offset, offset_pos = self.clause_int("OFFSET")
        if self.token.kind is not Kind.EOF:
            raise self.unexpected()
        return Query(
            select, sobject.text, where, order, limit, offset,
            sobject_pos=sobject.pos, limit_pos=limit_pos, offset_pos=offset_pos,
        )  # fmt: skip

    def clause_int(self, word: str) -> tuple[int | None, int]:
        if not self.is_keyword(word):
            return None, 0
        self.advance()
        token = self.expect(Kind.NUMBER)
        if not token.text.isdigit():
            raise self.unexpected(token)
        return int(token.text), token.pos

    def name(self) -> Token:
        token = self.token
        if token.kind is not Kind.IDENT or token.upper in RESERVED:
            raise self.unexpected()
        return self.advance()

    def path(self) -> FieldPath:
        token = self.name()
        return FieldPath(tuple(token.text.split(".")), token.pos)

    def select_list(self) -> tuple[FieldPath, ...] | CountAll:
        if self.is_keyword("COUNT") and self.tokens[self.i + 1].kind is Kind.LPAREN:
            start = self.advance()
            self.advance()
            self.expect(Kind.RPAREN)
            return CountAll(start.pos)
        paths = [self.path()]
        while self.token.kind is Kind.COMMA:
            self.advance()
            paths.append(self.path())
        return tuple(paths)

    def order_list(self) -> tuple[OrderBy, ...]:
        items = [self.order_item()]
        while self.token.kind is Kind.COMMA:
            self.advance()
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderBy:
        path = self.path()
        descending = False
        if self.is_keyword("ASC") or self.is_keyword("DESC"):
            descending = self.advance().upper == "DESC"
        nulls_first = None
        if self.is_keyword("NULLS"):
            self.advance()
            if not (self.is_keyword("FIRST") or self.is_keyword("LAST")):
                raise self.unexpected()
            nulls_first = self.advance().upper == "FIRST"
        return OrderBy(path, descending, nulls_first)

    # --- conditions --------------------------------------------------------------------

    def condition(self) -> Condition:
        first = self.unary()
        if not (self.is_keyword("AND") or self.is_keyword("OR")):
            return first
        joiner = self.token.upper
        operands = [first]
        while self.is_keyword("AND") or self.is_keyword("OR"):
            if self.token.upper != joiner:  # mixing needs parentheses
                raise self.unexpected()
            self.advance()
            operands.append(self.unary())
        return And(tuple(operands)) if joiner == "AND" else Or(tuple(operands))

    def unary(self) -> Condition:
        if self.is_keyword("NOT"):
            self.advance()
            return Not(self.unary())
        if self.token.kind is Kind.LPAREN:
            self.advance()
            inner = self.condition()
            self.expect(Kind.RPAREN)
            return inner
        return self.simple()

    def simple(self) -> Condition:
        path = self.path()
        token = self.token
        if token.kind is Kind.OP:
            self.advance()
            return Compare(path, _COMPARISONS[token.text], self.value())
        if self.is_keyword("LIKE"):
            self.advance()
            pattern = self.expect(Kind.STRING)
            return Like(path, decode_like(pattern))
        negated = self.is_keyword("NOT") and self.is_keyword("IN", 1)
        if negated:
            self.advance()
        if self.is_keyword("IN"):
            self.advance()
            return InList(path, self.value_list(), negated)
        raise self.unexpected()

    def value_list(self) -> tuple[Literal, ...]:
        self.expect(Kind.LPAREN)
        values = [self.value()]
        while self.token.kind is Kind.COMMA:
            self.advance()
            values.append(self.value())
        self.expect(Kind.RPAREN)
        return tuple(values)

    def value(self) -> Literal:
        token = self.advance()
        match token.kind:
            case Kind.STRING:
                return StringLit(decode_string(token), token.pos)
            case Kind.NUMBER:
                return NumberLit(Decimal(token.text), token.pos)
            case Kind.DATE:
                try:
                    return DateLit(date.fromisoformat(token.text), token.pos)
                except ValueError:
                    raise self.unexpected(token) from None
            case Kind.DATETIME:
                moment = parse_datetime(token.text)
                if moment is None:
                    raise self.unexpected(token)
                return DateTimeLit(moment, token.pos)
            case Kind.IDENT:
                return self.word_value(token)
        raise self.unexpected(token)

    def word_value(self, token: Token) -> Literal:
        word = token.upper
        if word in ("TRUE", "FALSE"):
            return BoolLit(word == "TRUE", token.pos)
        if word == "NULL":
            return NullLit(token.pos)
        takes_n = RELATIVE_DATES.get(word)
        if takes_n is None:
            raise self.unexpected(token)
        if not takes_n:
            return RelativeDate(word, None, token.pos)
        self.expect(Kind.COLON)
        n = self.expect(Kind.NUMBER)
        if not n.text.isdigit():
            raise self.unexpected(n)
        return RelativeDate(word, int(n.text), token.pos)


def parse(query: str) -> Query:
    """The syntax tree of ``query``; SoqlError (MALFORMED_QUERY, with a position) if malformed."""
    return _Parser(query).query()
