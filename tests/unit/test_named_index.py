"""The customer index on disk answers the Closed-Won step's questions as the in-memory index it
replaced did (``closed_won.lookups``: dicts of tuples over every listed customer), in the same
order: a uuid listed twice is the later one, an external id and an email every customer
carrying it in listing order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from cmsync.pipeline.named_index import Named, NamedIndex

DS = ("ds_a", "ds_b", "ds_c")


def _customers(seed: int) -> list[Named]:
    """Customers with every overlap the listing shows: a uuid listed twice, external ids
    carried over by merges (also twice on one customer), emails shared and in odd case,
    customers in two data sources, fields missing."""
    rng = random.Random(seed)
    accounts = [f"001{n:012d}ABC" for n in range(40)]
    emails = [f"ceo@co{n}.example" for n in range(25)]
    listed = []
    for n in range(300):
        own = rng.choice([None, "", *accounts])
        carried = tuple(rng.sample(accounts, rng.choice([0, 0, 0, 1, 2])))
        if own and rng.random() < 0.1:
            carried += (own,)  # a merge can carry over the customer's own id
        sources = tuple(rng.sample(DS, rng.choice([0, 1, 1, 2])))
        email = rng.choice([None, rng.choice(emails), rng.choice(emails).upper()])
        listed.append(
            Named(
                uuid=f"cus_{rng.randrange(280):04d}",  # some listed twice
                id=rng.choice([None, n]),
                external_id=own,
                external_ids=carried,
                data_source_uuid=sources[0] if sources and rng.random() < 0.8 else None,
                data_source_uuids=sources,
                email=email,
                chartmogul_url=rng.choice([None, f"https://app.chartmogul.com/#/customers/{n}"]),
                mrr=rng.choice([0, 0, 4900]),
                customer_since=rng.choice(
                    [None, datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=n * 7919)]
                ),
            )
        )
    return listed


class _InMemory:
    """The index as it was: objects, the lookups' dicts of tuples."""

    def __init__(self, customers: list[Named]) -> None:
        self.uuids: dict[str, Named] = {}
        self.external: dict[str, tuple[Named, ...]] = {}
        self.emails: dict[str, tuple[Named, ...]] = {}
        for customer in customers:
            self.uuids[customer.uuid] = customer
            for external_id in dict.fromkeys((customer.external_id, *customer.external_ids)):
                if external_id:
                    self.external[external_id] = (*self.external.get(external_id, ()), customer)
            if customer.email:
                email = customer.email.lower()
                self.emails[email] = (*self.emails.get(email, ()), customer)


def test_the_index_on_disk_answers_as_the_index_in_memory() -> None:
    for seed in range(5):
        customers = _customers(seed)
        reference = _InMemory(customers)
        index = NamedIndex()
        try:
            for start in range(0, len(customers), 37):  # page by page, as the sweep adds them
                index.add(customers[start : start + 37])
            assert index.count == len(customers)
            for uuid in [*reference.uuids, "cus_9999"]:
                assert index.by_uuid(uuid) == reference.uuids.get(uuid), uuid
                assert index.has(uuid) is (uuid in reference.uuids)
            for external_id in [*reference.external, "001UNKNOWN"]:
                assert index.carrying(external_id) == list(reference.external.get(external_id, ()))
            for email in [*reference.emails, "nobody@co0.example"]:
                assert index.mailed(email) == list(reference.emails.get(email, ()))
        finally:
            index.close()


def test_a_customer_added_after_the_first_question_is_found() -> None:
    """The sweep may still be adding pages when nothing asks yet; the index is built at the
    first question and kept up to date after it."""
    first, later = _customers(7)[:2]
    index = NamedIndex()
    try:
        index.add([first])
        assert index.by_uuid(later.uuid) is None or later.uuid == first.uuid
        index.add([later])
        assert index.by_uuid(later.uuid) == later
    finally:
        index.close()
