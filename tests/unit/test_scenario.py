"""The scenario generator: deterministic, realistic, and full of traps for the matcher."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from cmsync.sandbox.scenario.generate import add_months, generate
from cmsync.sandbox.scenario.model import LinkKind, Scenario

NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
FREEMAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "proton.me")


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(seed=42, accounts=300, now=NOW)


def test_same_seed_same_scenario(scenario: Scenario) -> None:
    assert generate(seed=42, accounts=300, now=NOW) == scenario
    assert generate(seed=43, accounts=300, now=NOW) != scenario


def test_every_link_kind_appears_even_in_a_small_company() -> None:
    small = generate(seed=1, accounts=10, now=NOW)
    kinds = {c.link for c in small.customers}
    assert kinds == set(LinkKind)
    assert any(a.link is None for a in small.accounts)


def test_ambiguous_emails_sit_on_two_accounts(scenario: Scenario) -> None:
    owners: dict[str, set[str]] = {}
    for contact in scenario.contacts:
        if contact.email:
            owners.setdefault(contact.email, set()).add(contact.account)
    ambiguous = [c for c in scenario.customers if c.link is LinkKind.AMBIGUOUS]
    assert ambiguous
    for customer in ambiguous:
        assert customer.email is not None
        assert len(owners[customer.email]) == 2


def test_domain_customers_match_only_by_domain(scenario: Scenario) -> None:
    by_key = {a.key: a for a in scenario.accounts}
    contact_emails = {c.email for c in scenario.contacts}
    for customer in scenario.customers:
        if customer.link is LinkKind.DOMAIN:
            assert customer.account is not None and customer.email is not None
            website = by_key[customer.account].website
            assert website is not None
            assert website.endswith(customer.email.split("@")[1])
            assert customer.email not in contact_emails


def test_traps_are_present(scenario: Scenario) -> None:
    names = [a.name for a in scenario.accounts]
    assert any("'" in n for n in names)
    assert any("\\" in n for n in names)
    assert any(not n.isascii() for n in names)
    assert any(c.email is None for c in scenario.customers)
    assert any(c.email and c.email.endswith(FREEMAIL) for c in scenario.customers)
    assert any(c.email and "'" in c.email for c in scenario.contacts)


def test_billing_histories_are_consistent(scenario: Scenario) -> None:
    plan = {p.key: p for p in scenario.plans}
    events: Counter[str] = Counter()
    for customer in scenario.customers:
        previous = None
        for invoice in customer.invoices:
            assert invoice.date <= NOW
            for item in invoice.line_items:
                spec = plan[item.plan]
                assert item.end == add_months(item.start, spec.period_months)
                assert item.amount_cents == spec.unit_price_cents * item.quantity
                if previous and previous.subscription == item.subscription:
                    if item.amount_cents * 12 // spec.period_months > (
                        previous.amount_cents * 12 // plan[previous.plan].period_months
                    ):
                        events["upgrade"] += 1
                    elif item.plan != previous.plan or item.quantity < previous.quantity:
                        events["downgrade"] += 1
                previous = item
            events[invoice.payment] += 1
        if customer.cancellations:
            events["churn"] += 1
        if len({i.line_items[0].subscription for i in customer.invoices}) > 1:
            events["reactivation"] += 1
    for kind in ("upgrade", "downgrade", "churn", "reactivation", "failed", "recovered"):
        assert events[kind] > 0, kind


def test_two_years_of_history(scenario: Scenario) -> None:
    first = min(i.date for c in scenario.customers for i in c.invoices)
    assert (NOW - first).days > 600


def test_leads_and_deals(scenario: Scenario) -> None:
    assert any(lead.converted_account for lead in scenario.leads)
    assert any(not lead.converted_account for lead in scenario.leads)
    won_unbilled = [
        o
        for o in scenario.opportunities
        if o.stage == "Closed Won"
        and next(a for a in scenario.accounts if a.key == o.account).link is None
    ]
    assert won_unbilled, "Closed-Won deals with no ChartMogul customer feed the reverse sync"


def test_needs_an_account() -> None:
    with pytest.raises(ValueError, match="at least one account"):
        generate(seed=1, accounts=0, now=NOW)


def test_the_company_has_a_free_plan_customer(scenario: Scenario) -> None:
    """Free Customer Handling (help article 15384089786524): on the free plan, paying nothing
    (the emulator shows such a customer Active with zero MRR)."""
    free = [
        c
        for c in scenario.customers
        if c.invoices and all(i.amount_cents == 0 for v in c.invoices for i in v.line_items)
    ]
    assert len(free) == 1 and not free[0].cancellations
