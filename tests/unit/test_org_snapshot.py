"""The org snapshot on disk answers matching as the whole-org index would, a page at a time."""

from __future__ import annotations

import random

from cmsync.pipeline.org import OrgSnapshot
from cmsync.pipeline.translate import AccountTarget
from state.matching import (
    AccountFacts,
    Ambiguous,
    CustomerFacts,
    Found,
    NotFound,
    build_index,
    match,
)

A1 = "001000000000001AAA"
A2 = "001000000000002AAA"


def _snapshot(accounts: list[AccountFacts], contacts: list[tuple[str, str | None]]) -> OrgSnapshot:
    org = OrgSnapshot()
    # Contacts may arrive before their Account's page: the snapshot joins when asked.
    org.add_contacts(contacts[: len(contacts) // 2])
    org.add_accounts((a, f"005{n:015d}", f"Account {n}") for n, a in enumerate(accounts))
    org.add_contacts(contacts[len(contacts) // 2 :])
    return org.seal()


def test_build_index_keeps_contacts_of_known_accounts_and_links_win() -> None:
    accounts = [
        AccountFacts(A1, "https://www.acme.example", "cus_1"),
        AccountFacts(A2, "acme.example/pricing", "cus_9"),
    ]
    contacts = [(A1, " CEO@Acme.example"), (A2, "ceo@acme.example"), ("001OTHER", "x@y.example")]
    index = build_index(accounts, contacts, {A2: "cus_2"})
    assert dict(index.by_contact_email) == {"ceo@acme.example": frozenset({A1, A2})}
    assert dict(index.by_domain) == {"acme.example": frozenset({A1, A2})}
    assert dict(index.by_uuid_field) == {"cus_1": frozenset({A1}), "cus_9": frozenset({A2})}
    assert index.linked_to == {A1: "cus_1", A2: "cus_2"}
    assert index.account_ids == frozenset({A1, A2})


def _world(seed: int) -> tuple[list[AccountFacts], list[tuple[str, str | None]], dict[str, str]]:
    """An org with every kind of overlap: shared domains and emails, duplicate UUID fields,
    Contacts of Accounts that do not exist, free-mail addresses, odd case and spaces."""
    rng = random.Random(seed)
    ids = [f"001{n:012d}ABC" for n in range(300)]
    domains = [f"co{n}.example" for n in range(120)] + ["gmail.com"]
    accounts = [
        AccountFacts(
            account_id,
            rng.choice([None, "", f"https://www.{rng.choice(domains)}/x", rng.choice(domains)]),
            rng.choice([None, None, f"cus_{rng.randrange(200)}"]),
        )
        for account_id in ids
    ]
    contacts: list[tuple[str, str | None]] = []
    for n in range(600):
        user = f"user{rng.randrange(400)}"
        email = rng.choice([f"{user}@{rng.choice(domains)}", f" {user.upper()}@Co1.example ", None])
        if n % 25 == 0:  # a Contact of an Account the org does not have
            contacts.append((f"001{n:012d}ZZZ", f"orphan{n % 4}@co1.example"))
        contacts.append((rng.choice(ids), email))
    links = {rng.choice(ids): f"cus_{rng.randrange(200)}" for _ in range(60)}
    return accounts, contacts, links


def _customers(seed: int, accounts: list[AccountFacts]) -> list[CustomerFacts]:
    rng = random.Random(seed + 1)
    customers = []
    for n in range(1_200):  # more than one IN (...) chunk of keys
        user = f"user{rng.randrange(400)}"
        external = rng.choice([None, "ext-1", rng.choice(accounts).account_id])
        if external and external.startswith("001") and n % 2:
            external = external[:15]  # the 15-character form names the same Account
        email = rng.choice([None, f"{user}@co{rng.randrange(130)}.example", f"{user}@gmail.com"])
        if n % 40 == 0:
            email = f"orphan{n % 5}@co1.example"  # orphan4: no Contact has it at all
        customers.append(CustomerFacts(f"cus_{rng.randrange(260)}", external, email))
    return customers


def test_page_indexes_decide_every_customer_as_the_whole_index_does() -> None:
    outcomes: set[type] = set()
    for seed in range(3):
        accounts, contacts, links = _world(seed)
        whole = build_index(accounts, contacts, links)
        org = _snapshot(accounts, contacts)
        customers = _customers(seed, accounts)
        for start in range(0, len(customers), 200):  # a page at a time, as the sweep asks
            page = customers[start : start + 200]
            partial = org.index_for(page)
            # What ``page_index`` adds from the store: the links of the Accounts it names.
            named = partial.named()
            index = partial.with_links({a: u for a, u in links.items() if a in named})
            for customer in page:
                expected = match(customer, None, whole)
                assert match(customer, None, index) == expected, customer
                outcomes.add(type(expected))
        org.close()
    assert outcomes == {Found, NotFound, Ambiguous}  # the worlds exercise every answer


def test_targets_name_the_owner_and_account_and_fall_back_to_the_bare_id() -> None:
    org = _snapshot([AccountFacts(A1), AccountFacts(A2)], [])
    missing = "001000000000099AAA"
    assert org.targets([A2, missing, A2]) == {
        A2: AccountTarget(A2, "005000000000000001", "Account 1"),
        missing: AccountTarget(missing),
    }
    assert org.target(A1) == AccountTarget(A1, "005000000000000000", "Account 0")
    assert (org.accounts, org.contact_emails) == (2, 0)
