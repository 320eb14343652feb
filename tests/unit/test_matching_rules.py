"""Matching's small rules to the letter: the case-safe Account Id, email domains, the index
built from Salesforce's rows, and what an ambiguity reports."""

from __future__ import annotations

import pytest

from state.matching import (
    AccountFacts,
    Ambiguous,
    CustomerFacts,
    MatchIndex,
    Method,
    account_id_of,
    build_index,
    email_domain,
    match,
    normalise_email,
)

# Real Account Ids and their case-safe suffixes, the same as the sandbox's Id tests use: each
# 5-character chunk's upper-case letters make the bits of one suffix character.
KNOWN = [
    ("001D000000IqhSL", "IAZ"),
    ("0015000000VALDt", "AAP"),
    ("00190000001pPvH", "AAU"),
    ("001RM000003oLrH", "YAU"),
    ("0012S00002GWsZ0", "QAL"),
]


@pytest.mark.parametrize(("body", "suffix"), KNOWN)
def test_a_15_character_account_id_gets_its_case_safe_suffix(body: str, suffix: str) -> None:
    assert account_id_of(body) == body + suffix
    assert account_id_of(body + suffix) == body + suffix


def test_every_upper_case_position_of_a_chunk_counts() -> None:
    # "001AB": bits 3 and 4 (24, "Y"); "ABCDE": all five (31, the alphabet's last, "5")
    assert account_id_of("001ABABCDEABCDE") == "001ABABCDEABCDE" + "Y55"


@pytest.mark.parametrize(
    "value", [None, "", "003D000000IqhSL", "001D000000IqhS", "001D00000-IqhSL"]
)
def test_what_is_not_an_account_id(value: str | None) -> None:
    assert account_id_of(value) is None


def test_an_email_without_an_at_sign_is_no_email() -> None:
    assert normalise_email("not-an-email") is None
    assert email_domain("not-an-email") is None


def test_the_domain_is_after_the_last_at_sign() -> None:
    # a quoted local part may hold an @ (RFC 5321); the domain is what follows the last one
    assert email_domain('"sales@desk"@Acme.Example') == "acme.example"


def test_the_index_answers_with_every_account_it_holds() -> None:
    index = build_index(
        [AccountFacts("001A", website="acme.example", uuid_field="cus_1"), AccountFacts("001B")],
        [("001B", "ceo@beta.example"), ("001Z", "lost@else.example")],
        {"001C": "cus_3"},
    )
    assert index.account_ids == frozenset({"001A", "001B"})
    assert index.by_contact_email == {"ceo@beta.example": frozenset({"001B"})}
    assert index.named() == {"001A", "001B"}
    assert MatchIndex(by_domain={"x.example": frozenset({"001Q"})}).named() == {"001Q"}
    relinked = index.with_links({"001A": "cus_9", "001D": "cus_4"})
    assert relinked.linked_to == {"001A": "cus_9", "001C": "cus_3", "001D": "cus_4"}
    assert relinked.account_ids == index.account_ids


def test_an_account_linked_elsewhere_is_an_ambiguity_that_names_it() -> None:
    index = MatchIndex(
        account_ids=frozenset({"001A"}),
        by_domain={"acme.example": frozenset({"001A"})},
        linked_to={"001A": "cus_other"},
    )
    found = match(CustomerFacts("cus_1", email="ops@acme.example"), None, index)
    assert found == Ambiguous(Method.DOMAIN, ("001A",), "Account 001A is linked to cus_other")
