"""The sandbox's SOQL parser: every construct of the subset, and malformed queries refused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmsync.salesforce.soql import like_literal, soql
from cmsync.sandbox.salesforce.soql import SoqlError, parse
from cmsync.sandbox.salesforce.soql.nodes import (
    And,
    BoolLit,
    Compare,
    CountAll,
    DateLit,
    DateTimeLit,
    FieldPath,
    InList,
    Like,
    LikePattern,
    Literal,
    Not,
    NullLit,
    NumberLit,
    Or,
    OrderBy,
    Query,
    RelativeDate,
    StringLit,
    Wildcard,
)


def f(dotted: str) -> FieldPath:
    return FieldPath(tuple(dotted.split(".")))


def eq(dotted: str, value: Literal) -> Compare:
    return Compare(f(dotted), "=", value)


def where(clause: str) -> object:
    return parse("SELECT Id FROM Account WHERE " + clause).where  # noqa: S608 (test input)


def n(value: str) -> NumberLit:
    return NumberLit(Decimal(value))


# --- the SELECT list, FROM, ORDER BY, LIMIT, OFFSET -------------------------------------


def test_fields_and_object() -> None:
    assert parse("SELECT Id, Name, CM_MRR__c FROM Account") == Query(
        (f("Id"), f("Name"), f("CM_MRR__c")), "Account"
    )


def test_parent_relationship_paths() -> None:
    query = parse("SELECT Name, Account.Name, Account.Owner.Email FROM Contact")
    assert query.select == (f("Name"), f("Account.Name"), f("Account.Owner.Email"))


def test_count() -> None:
    assert parse("SELECT COUNT() FROM Lead").select == CountAll()
    assert parse("select count ( ) from lead").select == CountAll()


def test_keywords_and_names_are_case_insensitive_and_spacing_free() -> None:
    loud = parse("SELECT Id FROM Account WHERE Name = 'x' ORDER BY Name DESC LIMIT 5 OFFSET 2")
    quiet = parse("select id\n  from account\twhere name='x'  order  by name desc limit 5 offset 2")
    assert loud.limit == quiet.limit == 5 and loud.offset == quiet.offset == 2
    assert quiet.sobject == "account"  # names keep their spelling; binding folds case
    assert quiet.where == eq("name", StringLit("x"))


def test_order_by_directions_and_nulls() -> None:
    query = parse(
        "SELECT Id FROM Opportunity ORDER BY CloseDate DESC NULLS LAST, Amount NULLS FIRST, "
        "Account.Name ASC, Id"
    )
    assert query.order_by == (
        OrderBy(f("CloseDate"), descending=True, nulls_first=False),
        OrderBy(f("Amount"), descending=False, nulls_first=True),
        OrderBy(f("Account.Name")),
        OrderBy(f("Id")),
    )


def test_limit_and_offset_without_order() -> None:
    query = parse("SELECT Id FROM Account LIMIT 10 OFFSET 20")
    assert (query.limit, query.offset, query.order_by) == (10, 20, ())


# --- conditions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "op"),
    [("=", "="), ("!=", "!="), ("<>", "!="), ("<", "<"), ("<=", "<="), (">", ">"), (">=", ">=")],
)
def test_comparison_operators(written: str, op: str) -> None:
    assert where(f"Amount {written} 5") == Compare(f("Amount"), op, n("5"))
    assert where(f"Amount{written}5") == Compare(f("Amount"), op, n("5"))


def test_in_and_not_in() -> None:
    assert where("Type IN ('a', 'b')") == InList(f("Type"), (StringLit("a"), StringLit("b")))
    assert where("Type not in ('a')") == InList(f("Type"), (StringLit("a"),), negated=True)
    assert where("Id IN (null, 'x')") == InList(f("Id"), (NullLit(), StringLit("x")))


def test_like_wildcards_and_their_escapes() -> None:
    assert where(r"Name LIKE 'Ac_e%'") == Like(
        f("Name"), LikePattern(("Ac", Wildcard.ONE, "e", Wildcard.ANY))
    )
    assert where(r"Name LIKE '50\% off\_%'") == Like(
        f("Name"), LikePattern(("50% off_", Wildcard.ANY))
    )
    assert where(r"Name LIKE 'a\\%'") == Like(f("Name"), LikePattern(("a\\", Wildcard.ANY)))


def test_same_operator_chains_need_no_parentheses() -> None:
    a, b, c = eq("A", n("1")), eq("B", n("2")), eq("C", n("3"))
    assert where("A = 1 AND B = 2 AND C = 3") == And((a, b, c))
    assert where("A = 1 or B = 2 or C = 3") == Or((a, b, c))


def test_parentheses_nest_and_or() -> None:
    a, b, c = eq("A", n("1")), eq("B", n("2")), eq("C", n("3"))
    assert where("A = 1 OR (B = 2 AND C = 3)") == Or((a, And((b, c))))
    assert where("(A = 1 OR B = 2) AND C = 3") == And((Or((a, b)), c))
    assert where("((A = 1))") == a


def test_not_binds_to_the_one_condition_after_it() -> None:
    a, b = eq("A", n("1")), eq("B", n("2"))
    assert where("NOT A = 1 AND B = 2") == And((Not(a), b))
    assert where("NOT (A = 1 OR B = 2)") == Not(Or((a, b)))
    assert where("A = 1 AND NOT B = 2") == And((a, Not(b)))
    assert where("NOT NOT A = 1") == Not(Not(a))


# --- literals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "value"),
    [
        (r"'plain'", "plain"),
        (r"''", ""),
        (r"'O\'Brien'", "O'Brien"),
        (r"'say \"hi\"'", 'say "hi"'),
        (r"'back\\slash'", "back\\slash"),
        (r"'a\nb\rc\td\be\ff'", "a\nb\rc\td\be\ff"),
        (r"'A\NB\RC\TD\BE\FF'", "A\nB\rC\tD\bE\fF"),  # escapes in either case
        ("'raw\nnewline'", "raw\nnewline"),
        ("'ünïcode 日本 \x00'", "ünïcode 日本 \x00"),
        (r"'%_ are plain here'", "%_ are plain here"),
        (r"'caf\u00e9 \u65E5\u0027'", "café 日'"),  # \uXXXX: four hex digits, either case
    ],
)
def test_string_literals_and_escapes(written: str, value: str) -> None:
    assert where(f"Name = {written}") == eq("Name", StringLit(value))


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("5", n("5")),
        ("-5", n("-5")),
        ("+5", n("5")),
        ("2.50", n("2.50")),
        ("true", BoolLit(True)),
        ("FALSE", BoolLit(False)),
        ("null", NullLit()),
        ("NULL", NullLit()),
        ("2026-11-24", DateLit(date(2026, 11, 24))),
        ("2026-11-24T10:00:00Z", DateTimeLit(datetime(2026, 11, 24, 10, tzinfo=UTC))),
        ("2026-11-24T12:00:00+02:00", DateTimeLit(datetime(2026, 11, 24, 10, tzinfo=UTC))),
        ("2026-11-24T04:30:00-05:30", DateTimeLit(datetime(2026, 11, 24, 10, tzinfo=UTC))),
        (
            "2026-11-24T10:00:00.250Z",
            DateTimeLit(datetime(2026, 11, 24, 10, 0, 0, 250000, tzinfo=UTC)),
        ),
        ("TODAY", RelativeDate("TODAY")),
        ("yesterday", RelativeDate("YESTERDAY")),
        ("LAST_N_DAYS:30", RelativeDate("LAST_N_DAYS", 30)),
        ("NEXT_N_DAYS : 7", RelativeDate("NEXT_N_DAYS", 7)),
    ],
)
def test_other_literals(written: str, value: Literal) -> None:
    assert where(f"X = {written}") == eq("X", value)


# --- malformed queries ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "detail", "row", "column"),
    [
        ("SELECT Id FROM Account WHERE", "unexpected token: '<EOF>'", 1, 29),
        ("SELECT FROM Account", "unexpected token: 'FROM'", 1, 8),
        ("SELECT Id, FROM Account", "unexpected token: 'FROM'", 1, 12),
        ("SELECT Id Account", "unexpected token: 'Account'", 1, 11),
        ("SELECT Id FROM Account Account", "unexpected token: 'Account'", 1, 24),
        ("SELECT Id FROM Account WHERE A = 1 AND B = 2 OR C = 3", "unexpected token: 'OR'", 1, 46),
        ("SELECT Id FROM Account WHERE A = 1 OR B = 2 AND C = 3", "unexpected token: 'AND'", 1, 45),
        ("SELECT Id FROM Account WHERE Name NOT LIKE 'x'", "unexpected token: 'NOT'", 1, 35),
        ("SELECT Id FROM Account WHERE Type IN ()", "unexpected token: ')'", 1, 39),
        ("SELECT Id FROM Account WHERE Name = Other", "unexpected token: 'Other'", 1, 37),
        ("SELECT Id FROM Account WHERE X = LAST_N_DAYS", "unexpected token: '<EOF>'", 1, 45),
        ("SELECT Id FROM Account WHERE X = 2026-13-45", "unexpected token: '2026-13-45'", 1, 34),
        ("SELECT Id FROM Account LIMIT 1.5", "unexpected token: '1.5'", 1, 30),
        ("SELECT Id FROM Account LIMIT -1", "unexpected token: '-1'", 1, 30),
        ("SELECT Id FROM Account ORDER BY Name NULLS", "unexpected token: '<EOF>'", 1, 43),
        ("SELECT Id FROM Account WHERE Name = 'abc", "mismatched character '<EOF>'", 1, 41),
        ('SELECT Id FROM Account WHERE Name = "x"', "no viable alternative at character", 1, 37),
        ("SELECT Id\nFROM Account\nWHERE Name =", "unexpected token: '<EOF>'", 3, 13),
        (
            r"SELECT Id FROM Account WHERE Name = 'a\qb'",
            r"Invalid string literal 'a\qb'. Illegal character sequence '\q' in string literal.",
            1,
            37,
        ),
        (  # \% means something only in a LIKE pattern
            r"SELECT Id FROM Account WHERE Name = 'a\%'",
            r"Illegal character sequence '\%'",
            1,
            37,
        ),
        (r"SELECT Id FROM Account WHERE Name LIKE 'a\u004'", r"sequence '\u'", 1, 40),
        (r"SELECT Id FROM Account WHERE Name = 'a\U0041'", r"sequence '\U'", 1, 37),
        (r"SELECT Id FROM Account WHERE Name = 'a\u00G1'", r"sequence '\u'", 1, 37),
        ("SELECT COUNT() FROM Account ORDER BY Name", "cannot be used with COUNT()", 1, 29),
    ],
)
def test_malformed_queries_are_refused_with_a_position(
    query: str, detail: str, row: int, column: int
) -> None:
    with pytest.raises(SoqlError) as caught:
        parse(query)
    assert caught.value.code == "MALFORMED_QUERY"
    message = caught.value.message(query)
    assert detail in message
    assert f"ERROR at Row:{row}:Column:{column}\n" in message


def test_a_unicode_escape_in_a_like_pattern_is_a_character() -> None:
    assert where(r"Name LIKE 'a\u0041%'") == Like(f("Name"), LikePattern(("aA", Wildcard.ANY)))


# Valid SOQL outside the sandbox's subset: refused as a sandbox limitation, naming the
# construct, never as a malformed query ("unexpected token").
@pytest.mark.parametrize(
    ("query", "construct", "column"),
    [
        ("SELECT COUNT(Id) FROM Account", "aggregate function COUNT()", 8),
        ("SELECT Industry, SUM(AnnualRevenue) FROM Account", "aggregate function SUM()", 18),
        ("SELECT MAX(CreatedDate) FROM Account", "aggregate function MAX()", 8),
        ("SELECT Industry FROM Account GROUP BY Industry", "GROUP BY", 30),
        ("SELECT Id FROM Account WHERE Name = 'x' HAVING Id != null", "HAVING", 41),
        ("SELECT TYPEOF What WHEN Account THEN Name END FROM Task", "TYPEOF", 8),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "subqueries in SELECT", 12),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)",
            "subqueries in WHERE",
            37,
        ),
        ("SELECT Id FROM Account WITH SECURITY_ENFORCED", "WITH SECURITY_ENFORCED", 24),
        ("SELECT Id FROM Account WHERE Name = 'x' WITH USER_MODE", "WITH USER_MODE", 41),
        ("SELECT Id FROM Account LIMIT 1 FOR VIEW", "FOR VIEW", 32),
        ("SELECT Id FROM Account LIMIT 1 FOR UPDATE", "FOR UPDATE", 32),
        ("SELECT Id FROM Account FOR REFERENCE", "FOR REFERENCE", 24),
        ("SELECT Id FROM Account USING SCOPE Mine", "USING SCOPE", 24),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = THIS_FISCAL_QUARTER",
            "the date literal THIS_FISCAL_QUARTER",
            46,
        ),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate > LAST_N_FISCAL_YEARS:2",
            "the date literal LAST_N_FISCAL_YEARS",
            46,
        ),
        ("SELECT Id FROM Account WHERE CreatedDate = THIS_QUARTER", "the date literal", 44),
        ("SELECT FORMAT(Amount) FROM Opportunity", "function FORMAT()", 8),
        ("SELECT convertCurrency(Amount) FROM Opportunity", "function convertCurrency()", 8),
        ("SELECT toLabel(StageName) FROM Opportunity", "function toLabel()", 8),
        ("SELECT FIELDS(ALL) FROM Account LIMIT 200", "function FIELDS()", 8),
        (
            "SELECT Id FROM Account WHERE CALENDAR_YEAR(CreatedDate) = 2026",
            "function CALENDAR_YEAR()",
            30,
        ),
        ("SELECT Id FROM Account WHERE Tags__c INCLUDES ('a')", "INCLUDES", 38),
    ],
)
def test_valid_soql_outside_the_subset_is_refused_as_unsupported(
    query: str, construct: str, column: int
) -> None:
    with pytest.raises(SoqlError) as caught:
        parse(query)
    message = caught.value.message(query)
    assert f"The sandbox does not support {construct}" in message
    assert "unexpected token" not in message
    assert f"ERROR at Row:1:Column:{column}\n" in message


def test_the_error_message_quotes_the_query_and_points_at_the_token() -> None:
    query = "SELECT Id, FROM Account"
    with pytest.raises(SoqlError) as caught:
        parse(query)
    assert caught.value.message(query) == (
        "\nSELECT Id, FROM Account\n           ^\nERROR at Row:1:Column:12\n"
        "unexpected token: 'FROM'"
    )


def test_a_long_query_is_quoted_around_the_error_only() -> None:
    fields = ", ".join(f"Field{i}__c" for i in range(30))
    query = "SELECT " + fields + ", FROM Account"  # noqa: S608 (test input)
    with pytest.raises(SoqlError) as caught:
        parse(query)
    excerpt, caret = caught.value.message(query).split("\n")[1:3]
    assert excerpt == "Field28__c, Field29__c, FROM Account"
    assert excerpt[caret.index("^") :].startswith("FROM")


# --- cmsync's escaping, read back exactly ----------------------------------------------

TRICKY = ["O'Brien", "a\\'b", 'q"uote', "back\\", "\\\\'", "\n\r\t\b\f", "%_", "", "日本\x00\u2028"]


@pytest.mark.parametrize("value", TRICKY)
def test_escaped_literals_parse_back_to_the_value(value: str) -> None:
    query = soql("SELECT Id FROM Contact WHERE Email = {v} AND Name != {v}", v=value)
    assert parse(query).where == And(
        (eq("Email", StringLit(value)), Compare(f("Name"), "!=", StringLit(value)))
    )


@pytest.mark.parametrize("value", TRICKY)
def test_like_literals_match_the_text_literally(value: str) -> None:
    pattern_text = like_literal(value, suffix=True)
    query = "SELECT Id FROM Account WHERE Website LIKE " + pattern_text  # noqa: S608 (escaped)
    parts = (Wildcard.ANY, value) if value else (Wildcard.ANY,)
    pattern = Like(f("Website"), LikePattern(parts))
    assert parse(query).where == pattern


@given(st.text(), st.text())
def test_no_value_can_change_a_query_s_structure(first: str, second: str) -> None:
    template = "SELECT Id FROM Lead WHERE Email IN ({a}, {b}) AND Company = {b}"
    query = soql(template, a=first, b=second)
    assert parse(query).where == And(
        (
            InList(f("Email"), (StringLit(first), StringLit(second))),
            eq("Company", StringLit(second)),
        )
    )
