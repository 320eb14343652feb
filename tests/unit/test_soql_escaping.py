"""No string can change a query's structure once it went through cmsync's SOQL literals.

The sandbox's SOQL parser (which follows the SOQL reference's literal rules) reads each
generated query back: the WHERE clause must be exactly the one comparison the template wrote,
holding exactly the input string, whatever the input.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmsync.salesforce.soql import identifier, like_literal, literal, soql
from cmsync.sandbox.salesforce.soql import parse
from cmsync.sandbox.salesforce.soql.nodes import (
    Compare,
    FieldPath,
    InList,
    Like,
    LikePattern,
    StringLit,
    Wildcard,
)

# Text that stresses the escaping: quotes, backslashes, SOQL keywords and control characters.
hostile = st.lists(
    st.one_of(
        st.sampled_from(list("'\"\\%_ \n\r\t\b\f()=!<>,;-")),
        st.sampled_from(["OR", "AND", "NOT", "LIMIT", "' OR Name != '", "\\'", "\\\\"]),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=400)
@given(hostile)
def test_an_equality_holds_exactly_the_input(value: str) -> None:
    query = parse(soql("SELECT Id FROM Contact WHERE Email = {v} LIMIT 5", v=value))
    assert query.where == Compare(FieldPath(("Email",)), "=", StringLit(value))
    assert query.limit == 5


@settings(max_examples=200)
@given(st.lists(hostile, min_size=1, max_size=5))
def test_an_in_list_holds_exactly_the_inputs(values: list[str]) -> None:
    query = parse(soql("SELECT Id FROM Lead WHERE Email IN {v}", v=values))
    assert query.where == InList(FieldPath(("Email",)), tuple(StringLit(v) for v in values))


@settings(max_examples=300)
@given(hostile)
def test_like_patterns_match_the_text_literally(value: str) -> None:
    where = "SELECT Id FROM Account WHERE Website LIKE "
    query = parse(where + like_literal(value, prefix=True))
    assert isinstance(query.where, Like)
    pattern = query.where.pattern
    assert isinstance(pattern, LikePattern)
    text = "".join(p for p in pattern.parts if not isinstance(p, Wildcard))
    assert text == value
    assert pattern.parts[-1] is Wildcard.ANY
    assert [p for p in pattern.parts if isinstance(p, Wildcard)] == [Wildcard.ANY]


def test_other_literals() -> None:
    assert literal(None) == "null" and literal(True) == "true" and literal(3) == "3"
    moment = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
    assert literal(moment) == "2026-11-24T10:00:00Z"
    with pytest.raises(ValueError, match="naive"):
        literal(datetime(2026, 11, 24))
    with pytest.raises(ValueError, match="empty IN"):
        literal([])
    with pytest.raises(ValueError, match="no SOQL literal"):
        literal(float("nan"))


@pytest.mark.parametrize("name", ["Account", "CM_MRR__c", "Account.Owner.Email"])
def test_identifiers_pass(name: str) -> None:
    assert identifier(name) == name


@pytest.mark.parametrize("name", ["", "Name FROM Lead", "Id;", "a'b", "1Field", "Owner..Email"])
def test_identifiers_that_could_smuggle_text_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a Salesforce object or field name"):
        identifier(name)
