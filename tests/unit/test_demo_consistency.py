"""The demo's consistency check: every kind of disagreement is reported, agreement passes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cmsync.demo.consistency import (
    AccountFigures,
    ClosedWonDeal,
    CustomerFigures,
    KeyedRecord,
    Observation,
    check,
    to_cents,
)

ACC_A, ACC_B, ACC_C = "001Dn000000000AIAQ", "001Dn000000000BIAQ", "001Dn000000000CIAQ"
CUS_A, CUS_B = "cus_aaaa", "cus_bbbb"


def _agreeing() -> Observation:
    return Observation(
        customers={
            CUS_A: CustomerFigures(CUS_A, 15_800, 189_600, "Active"),
            CUS_B: CustomerFigures(CUS_B, 0, 0, "Cancelled"),
        },
        accounts={
            ACC_A: AccountFigures(ACC_A, CUS_A, 15_800, 189_600, "Active"),
            ACC_B: AccountFigures(ACC_B, CUS_B, 0, 0, "Cancelled"),
            ACC_C: AccountFigures(ACC_C, None, None, None, None),  # no customer: not compared
        },
        links={CUS_A: ACC_A, CUS_B: ACC_B},
        keyed=[
            KeyedRecord("Task", "00T1", "cmsync:churn:1"),
            KeyedRecord("Opportunity", "0061", "cmsync:churn:1"),  # another object: fine
        ],
        deals=[ClosedWonDeal("006A", 1, expected=True), ClosedWonDeal("006B", 0, expected=False)],
    )


def test_agreement_passes() -> None:
    result = check(_agreeing())
    assert result.ok, result.differences
    assert (result.accounts, result.keys, result.deals) == (2, 2, 2)
    assert result.describe().startswith("consistency: OK")


def test_every_difference_is_reported_and_fails_the_check() -> None:
    seen = _agreeing()
    accounts = dict(seen.accounts)
    accounts[ACC_A] = AccountFigures(ACC_A, CUS_A, 15_000, 189_600, "Past Due")
    broken = replace(
        seen,
        accounts=accounts,
        keyed=[*seen.keyed, KeyedRecord("Task", "00T2", "cmsync:churn:1")],
        deals=[ClosedWonDeal("006A", 2, expected=True), ClosedWonDeal("006C", 0, expected=True)],
    )
    result = check(broken)
    assert not result.ok
    text = "\n".join(result.differences)
    assert f"Account {ACC_A} (customer {CUS_A}): MRR is 150.00, ChartMogul says 158.00" in text
    assert "status is Past Due, ChartMogul says Active" in text
    assert "ARR" not in text  # the ARR agrees: only what differs is listed
    assert "2 Task records share the sync key 'cmsync:churn:1': 00T1, 00T2" in text
    assert "Opportunity 006A: 2 ChartMogul invoices" in text
    assert "Opportunity 006C: Closed Won, but no ChartMogul invoice" in text
    assert len(result.differences) == 5
    assert result.describe().startswith("consistency: FAILED, 5 differences")


def test_a_uuid_written_on_the_account_counts_as_a_link() -> None:
    seen = replace(_agreeing(), links={CUS_A: ACC_A})  # ACC_B holds CUS_B, not stored
    assert check(seen).ok and check(seen).accounts == 2
    accounts = dict(seen.accounts)
    accounts[ACC_B] = AccountFigures(ACC_B, CUS_B, 100, 1_200, "Cancelled")
    accounts[ACC_C] = AccountFigures(ACC_C, CUS_B, 0, 0, "Cancelled")
    result = check(replace(seen, accounts=accounts))
    assert result.differences == (
        f"Account {ACC_C} holds customer {CUS_B}, linked to {ACC_B}",
        f"Account {ACC_B} (customer {CUS_B}): MRR is 1.00, ChartMogul says 0.00",
        f"Account {ACC_B} (customer {CUS_B}): ARR is 12.00, ChartMogul says 0.00",
    )


@pytest.mark.parametrize(
    ("links", "accounts_change", "expected"),
    [
        ({CUS_A: "001missing"}, {}, "linked, but Salesforce has no such Account"),
        ({"cus_gone": ACC_A}, {}, "ChartMogul has no such customer"),
        (
            {CUS_A: ACC_A},
            {ACC_C: AccountFigures(ACC_C, CUS_A, 15_800, 189_600, "Active")},
            f"Account {ACC_C} holds customer {CUS_A}, linked to {ACC_A}",
        ),
        (
            {CUS_A: ACC_A},
            {ACC_A: AccountFigures(ACC_A, None, 15_800, 189_600, "Active")},
            f"Account {ACC_A} (customer {CUS_A}): CM_Customer_UUID__c is empty",
        ),
    ],
)
def test_broken_links_are_reported(
    links: dict[str, str], accounts_change: dict[str, AccountFigures], expected: str
) -> None:
    seen = _agreeing()
    accounts = {k: v for k, v in seen.accounts.items() if k != ACC_B} | accounts_change
    result = check(replace(seen, accounts=accounts, links=links))
    assert any(expected in d for d in result.differences), result.differences


@pytest.mark.parametrize(
    ("amount", "cents"),
    [(158.0, 15_800), (0.1 + 0.2, 30), (1_194.99, 119_499), (None, None), ("12", None)],
)
def test_salesforce_currency_becomes_cents(amount: object, cents: int | None) -> None:
    assert to_cents(amount) == cents
