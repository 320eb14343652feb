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

Two rules of the SOQL reference are syntax here too: ``COUNT()`` cannot be used with ORDER BY
("COUNT() and COUNT(fieldName)"), and a string literal's escapes (see the lexer).

Valid SOQL beyond the subset (GROUP BY, HAVING, aggregate and other functions, TYPEOF,
subqueries, WITH, USING SCOPE, FOR VIEW/REFERENCE/UPDATE, UPDATE TRACKING/VIEWSTAT, INCLUDES and
EXCLUDES, the date literals not listed below such as THIS_FISCAL_QUARTER) is refused with a
message saying the sandbox does not support it, naming the construct: never "unexpected token",
which would claim the query is malformed when Salesforce would run it.
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

__all__ = ["RELATIVE_DATES", "RESERVED", "UNSUPPORTED_DATES", "parse"]

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
# The date literals of the SOQL reference ("Date Formats and Date Literals") that the sandbox
# does not evaluate; any other unknown word is not a value at all.
UNSUPPORTED_DATES = frozenset(
    {"THIS_QUARTER", "LAST_QUARTER", "NEXT_QUARTER",
     "LAST_N_WEEKS", "NEXT_N_WEEKS", "N_WEEKS_AGO", "LAST_N_MONTHS", "NEXT_N_MONTHS",
     "N_MONTHS_AGO", "LAST_N_QUARTERS", "NEXT_N_QUARTERS", "N_QUARTERS_AGO",
     "LAST_N_YEARS", "NEXT_N_YEARS", "N_YEARS_AGO",
     "THIS_FISCAL_QUARTER", "LAST_FISCAL_QUARTER", "NEXT_FISCAL_QUARTER",
     "LAST_N_FISCAL_QUARTERS", "NEXT_N_FISCAL_QUARTERS", "N_FISCAL_QUARTERS_AGO",
     "THIS_FISCAL_YEAR", "LAST_FISCAL_YEAR", "NEXT_FISCAL_YEAR",
     "LAST_N_FISCAL_YEARS", "NEXT_N_FISCAL_YEARS", "N_FISCAL_YEARS_AGO"}
)  # fmt: skip
_AGGREGATES = frozenset({"AVG", "COUNT", "COUNT_DISTINCT", "MAX", "MIN", "SUM"})
# Clauses that may follow FROM, WHERE, ORDER BY, LIMIT or OFFSET in SOQL, none in the subset:
# the keyword, and whether the next word belongs in the construct's name (WITH SECURITY_ENFORCED).
_UNSUPPORTED_CLAUSES = {
    "WITH": True, "GROUP": True, "HAVING": False, "FOR": True, "UPDATE": True, "USING": True,
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

    def unsupported(self, construct: str, token: Token) -> SoqlError:
        """Valid SOQL the sandbox does not implement: say so, rather than call it malformed."""
        return SoqlError(
            MALFORMED,
            f"The sandbox does not support {construct}: valid SOQL, but outside the subset "
            "this emulator implements",
            token.pos,
        )

    def refuse_unsupported_clause(self) -> None:
        token = self.token
        if token.kind is not Kind.IDENT or token.upper not in _UNSUPPORTED_CLAUSES:
            return
        construct = token.upper
        following = self.tokens[min(self.i + 1, len(self.tokens) - 1)]
        if _UNSUPPORTED_CLAUSES[construct] and following.kind is Kind.IDENT:
            construct += " " + following.upper
        raise self.unsupported(construct, token)

    def refuse_function(self) -> None:
        """A name followed by ``(`` is a function call: aggregates, FORMAT(), toLabel()..."""
        token = self.token
        following = self.tokens[min(self.i + 1, len(self.tokens) - 1)]
        if token.kind is Kind.IDENT and following.kind is Kind.LPAREN:
            kind = "aggregate function" if token.upper in _AGGREGATES else "function"
            raise self.unsupported(f"{kind} {token.text}()", token)

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
        self.refuse_unsupported_clause()
        where = None
        if self.is_keyword("WHERE"):
            self.advance()
            where = self.condition()
            self.refuse_unsupported_clause()
        order: tuple[OrderBy, ...] = ()
        if self.is_keyword("ORDER"):
            if isinstance(select, CountAll):
                # "COUNT() and COUNT(fieldName)", SOQL and SOSL Reference: COUNT() cannot be
                # used with ORDER BY (the count is the result's totalSize; there are no rows).
                raise SoqlError(MALFORMED, "ORDER BY cannot be used with COUNT()", self.token.pos)
            self.advance()
            self.keyword("BY")
            order = self.order_list()
            self.refuse_unsupported_clause()
        limit, limit_pos = self.clause_int("LIMIT")
        self.refuse_unsupported_clause()
        offset, offset_pos = self.clause_int("OFFSET")
        self.refuse_unsupported_clause()
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
        self.refuse_function()
        token = self.name()
        return FieldPath(tuple(token.text.split(".")), token.pos)

    def select_list(self) -> tuple[FieldPath, ...] | CountAll:
        after = self.tokens[self.i + 1 : self.i + 3]
        if self.is_keyword("COUNT") and [t.kind for t in after] == [Kind.LPAREN, Kind.RPAREN]:
            start = self.advance()
            self.advance()
            self.advance()
            return CountAll(start.pos)
        paths = [self.select_item()]
        while self.token.kind is Kind.COMMA:
            self.advance()
            paths.append(self.select_item())
        return tuple(paths)

    def select_item(self) -> FieldPath:
        token = self.token
        if token.kind is Kind.LPAREN:
            raise self.unsupported("subqueries in SELECT (child relationships)", token)
        if self.is_keyword("TYPEOF"):
            raise self.unsupported("TYPEOF", token)
        return self.path()

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
        if self.is_keyword("INCLUDES") or self.is_keyword("EXCLUDES"):
            raise self.unsupported(token.upper, token)
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
        if self.is_keyword("SELECT"):
            raise self.unsupported("subqueries in WHERE (semi-joins and anti-joins)", self.token)
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
        if takes_n is None and word in UNSUPPORTED_DATES:
            raise self.unsupported(f"the date literal {word}", token)
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
