"""Matching: the rules in order, ambiguity never guessed, free-mail never trusted."""

from __future__ import annotations

import pytest

from state.matching import (
    AccountFacts,
    Ambiguous,
    CustomerFacts,
    Found,
    MatchIndex,
    Method,
    NotFound,
    build_index,
    match,
    website_domain,
)

A1 = "001000000000001AAA"
A2 = "001000000000002AAA"
A3 = "001000000000003AAA"

INDEX = MatchIndex(
    account_ids=frozenset({A1, A2, A3}),
    by_uuid_field={"cus_linked": frozenset({A1}), "cus_twice": frozenset({A1, A2})},
    by_contact_email={
        "ceo@acme.example": frozenset({A2}),
        "finance@shared.example": frozenset({A2, A3}),
        "owner@taken.example": frozenset({A1}),
    },
    by_domain={"acme.example": frozenset({A2}), "gmail.com": frozenset({A3})},
    linked_to={A1: "cus_linked"},
)


@pytest.mark.parametrize(
    ("customer", "stored", "expected"),
    [
        (CustomerFacts("cus_x", email="ceo@acme.example"), A3, Found(A3, Method.STORED)),
        (CustomerFacts("cus_linked", email="ceo@acme.example"), None, Found(A1, Method.UUID_FIELD)),
        (CustomerFacts("cus_ext", external_id=A3), None, Found(A3, Method.EXTERNAL_ID)),
        (CustomerFacts("cus_ext15", external_id="001000000000003"), None,
         Found(A3, Method.EXTERNAL_ID)),
        (CustomerFacts("cus_mail", email="  CEO@Acme.Example "), None,
         Found(A2, Method.CONTACT_EMAIL)),
        (CustomerFacts("cus_dom", email="billing@acme.example"), None, Found(A2, Method.DOMAIN)),
        (CustomerFacts("cus_free", email="someone@gmail.com"), None, NotFound()),
        (CustomerFacts("cus_none"), None, NotFound()),
        (CustomerFacts("cus_unknown_ext", external_id="001999999999999AAA"), None, NotFound()),
        (CustomerFacts("cus_not_account_id", external_id="003000000000003AAA"), None, NotFound()),
    ],
)  # fmt: skip
def test_rules(customer: CustomerFacts, stored: str | None, expected: object) -> None:
    assert match(customer, stored, INDEX) == expected


def test_two_contacts_on_two_accounts_is_ambiguous_and_lists_both() -> None:
    result = match(CustomerFacts("cus_amb", email="finance@shared.example"), None, INDEX)
    assert result == Ambiguous(Method.CONTACT_EMAIL, (A2, A3), "2 Accounts match by contact_email")


def test_a_stronger_conflict_is_not_overruled_by_a_weaker_rule() -> None:
    customer = CustomerFacts("cus_twice", external_id=A3, email="ceo@acme.example")
    result = match(customer, None, INDEX)
    assert isinstance(result, Ambiguous) and result.method is Method.UUID_FIELD


def test_a_heuristic_match_never_steals_another_customers_account() -> None:
    result = match(CustomerFacts("cus_other", email="owner@taken.example"), None, INDEX)
    assert isinstance(result, Ambiguous)
    assert "cus_linked" in result.reason


def test_the_same_inputs_give_the_same_answer() -> None:
    customer = CustomerFacts("cus_amb", email="finance@shared.example")
    assert {match(customer, None, INDEX) for _ in range(5)} == {match(customer, None, INDEX)}


@pytest.mark.parametrize(
    ("website", "domain"),
    [
        ("https://www.Acme.example/pricing", "acme.example"),
        ("http://acme.example", "acme.example"),
        ("acme.example", "acme.example"),
        ("www.acme.example.", "acme.example"),
        ("", None),
        (None, None),
    ],
)
def test_website_domain(website: str | None, domain: str | None) -> None:
    assert website_domain(website) == domain


def test_build_index_from_salesforce_rows() -> None:
    index = build_index(
        [
            AccountFacts(A1, "https://www.acme.example", "cus_linked"),
            AccountFacts(A2, "acme.example"),
            AccountFacts(A3, None),
        ],
        [(A2, "CEO@acme.example"), (A3, None), ("001999999999999ZZZ", "ghost@acme.example")],
        {A3: "cus_stored"},
    )
    assert index.by_uuid_field == {"cus_linked": frozenset({A1})}
    assert index.by_domain == {"acme.example": frozenset({A1, A2})}
    assert index.by_contact_email == {"ceo@acme.example": frozenset({A2})}  # no orphans
    assert index.linked_to == {A3: "cus_stored", A1: "cus_linked"}
    assert match(CustomerFacts("cus_new", email="ops@acme.example"), None, index) == Ambiguous(
        Method.DOMAIN, (A1, A2), "2 Accounts match by domain"
    )
