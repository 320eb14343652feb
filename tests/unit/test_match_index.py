"""The match index built a record at a time, stored compactly, read as sets."""

from __future__ import annotations

import sys

from state.matching import AccountFacts, Candidates, IndexBuilder, build_index

A1 = "001000000000001AAA"
A2 = "001000000000002AAA"


def test_candidates_read_as_sets_whatever_they_hold() -> None:
    candidates = Candidates()
    candidates.add("one@acme.example", A1)
    candidates.add("one@acme.example", A1)  # the same Account again: still one
    candidates.add("two@acme.example", A1)
    candidates.add("two@acme.example", A2)
    candidates.add("two@acme.example", A2)
    assert dict(candidates) == {
        "one@acme.example": frozenset({A1}),
        "two@acme.example": frozenset({A1, A2}),
    }
    assert candidates.get("nobody@acme.example", frozenset()) == frozenset()
    assert len(candidates) == 2


def test_the_builder_and_build_index_agree_and_contacts_need_a_known_account() -> None:
    accounts = [
        AccountFacts(A1, "https://www.acme.example", "cus_1"),
        AccountFacts(A2, "acme.example/pricing", None),
    ]
    contacts = [(A1, " CEO@Acme.example"), (A2, "ceo@acme.example"), ("001OTHER", "x@y.example")]
    builder = IndexBuilder()
    for account in accounts:
        builder.add_account(account)
    for account_id, email in contacts:
        builder.add_contact(account_id, email)
    built = builder.build({A2: "cus_2"})
    whole = build_index(accounts, contacts, {A2: "cus_2"})
    for index in (built, whole):
        assert dict(index.by_contact_email) == {"ceo@acme.example": frozenset({A1, A2})}
        assert dict(index.by_domain) == {"acme.example": frozenset({A1, A2})}
        assert dict(index.by_uuid_field) == {"cus_1": frozenset({A1})}
        assert index.linked_to == {A1: "cus_1", A2: "cus_2"}
        assert index.account_ids == frozenset({A1, A2})


def test_a_key_with_one_account_costs_no_set() -> None:
    builder = IndexBuilder()
    ids = [f"001{n:015d}" for n in range(1_000)]
    for account_id in ids:
        builder.add_account(AccountFacts(account_id))
        builder.add_contact(account_id, f"person{account_id}@example.com")
    stored = builder.build({}).by_contact_email
    assert isinstance(stored, Candidates)
    held = sum(sys.getsizeof(v) for v in stored._items.values())
    assert held == sum(sys.getsizeof(i) for i in ids)  # the Id strings themselves, shared
