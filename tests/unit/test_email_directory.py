"""The directory of customers by email on disk answers enrichment as the dict of ``Listed`` it
replaced did: every customer with the casefolded email, in listing order, the same figures."""

from __future__ import annotations

import random

from cmsync.chartmogul.records import Customer
from cmsync.pipeline.streams.email_directory import EmailDirectory, Listed


def _customers(seed: int) -> list[Customer]:
    """Customers with what a listing shows: emails shared, in odd case, some that casefold
    but do not lower-case alike (``ß``), none at all; a uuid listed twice; figures missing."""
    rng = random.Random(seed)
    emails = [f"ceo@co{n}.example" for n in range(25)] + ["Straße@Weg.example"]
    listed = []
    for _ in range(300):
        email = rng.choice(
            [None, "", rng.choice(emails), rng.choice(emails).upper(), "STRASSE@weg.example"]
        )
        listed.append(
            Customer.model_validate(
                {
                    "uuid": f"cus_{rng.randrange(280):04d}",  # some listed twice
                    "email": email,
                    "mrr": rng.choice([0, 4900, 12_345]),
                    "status": rng.choice([None, "Active", "Lead", "Cancelled"]),
                    "currency": rng.choice([None, "USD", "EUR"]),
                }
            )
        )
    return listed


def _in_memory(pages: list[list[Customer]]) -> dict[str, list[Listed]]:
    """The directory as it was (``enrichment._Enricher._list_all`` before it went to disk)."""
    directory: dict[str, list[Listed]] = {}
    for page in pages:
        for customer in page:
            if customer.email:
                directory.setdefault(customer.email.casefold(), []).append(Listed.of(customer))
    return directory


def test_the_directory_on_disk_answers_as_the_one_in_memory() -> None:
    for seed in range(5):
        customers = _customers(seed)
        pages = [customers[i : i + 37] for i in range(0, len(customers), 37)]
        directory = EmailDirectory()
        try:
            for page in pages:
                directory.add(page)
            expected = _in_memory(pages)
            asked = [*expected, "nobody@nowhere.example", "strasse@weg.example"]
            random.Random(seed).shuffle(asked)
            answers = directory.get_many(asked)
            assert {k: answers.get(k, []) for k in asked} == {k: expected.get(k, []) for k in asked}
            assert directory.count == sum(len(v) for v in expected.values())
        finally:
            directory.close()


def test_more_emails_than_one_query_holds_are_all_answered() -> None:
    """A page of 2,000 people asks more emails than one SQL statement's parameters (chunks)."""
    customers = [
        Customer.model_validate({"uuid": f"cus_{n}", "email": f"p{n}@co.example", "mrr": n})
        for n in range(2_500)
    ]
    directory = EmailDirectory()
    try:
        directory.add(customers)
        answers = directory.get_many(f"p{n}@co.example" for n in range(2_500))
        assert len(answers) == 2_500
        assert answers["p2499@co.example"] == [Listed("cus_2499", 2499, None, None)]
    finally:
        directory.close()
