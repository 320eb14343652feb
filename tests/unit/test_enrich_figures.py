"""A person's ChartMogul figures: plan tier, start, lifetime value, and the update row."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from cmsync.chartmogul.records import Customer, CustomerSubscription, Invoice
from cmsync.config import PersonFieldMap
from cmsync.pipeline.streams.enrich_figures import (
    lifetime_value,
    main_subscriptions,
    paid,
    person_figures,
    person_payload,
    person_update,
    reads_subscriptions,
    subscription_facts,
)
from state import AccountState


def _sub(plan: str, mrr: int, start: str, status: str = "active") -> CustomerSubscription:
    return CustomerSubscription.model_validate(
        {"uuid": plan, "plan": plan, "mrr": mrr, "status": status,
         "start-date": f"{start}T10:00:00+00:00"}
    )  # fmt: skip


def _invoice(amounts: list[int], *transactions: tuple[str, str]) -> Invoice:
    return Invoice.model_validate(
        {
            "uuid": "inv",
            "date": "2026-01-01T00:00:00Z",
            "currency": "USD",
            "line_items": [{"type": "subscription", "amount_in_cents": a} for a in amounts],
            "transactions": [
                {"type": kind, "result": result, "date": "2026-01-01T00:00:00Z"}
                for kind, result in transactions
            ],
        }
    )


@pytest.mark.parametrize(
    ("subscriptions", "expected"),
    [
        ([], (None, None)),
        ([_sub("Pro", 500, "2025-03-01")], ("Pro", date(2025, 3, 1))),
        # the main plan is the biggest active one; the start the earliest active one
        (
            [_sub("Starter", 100, "2024-01-01"), _sub("Pro", 500, "2025-03-01"),
             _sub("Old", 900, "2023-01-01", "inactive")],
            ("Pro", date(2024, 1, 1)),
        ),
        # equal MRR: the later start wins
        ([_sub("A", 100, "2024-01-01"), _sub("B", 100, "2025-01-01")], ("B", date(2024, 1, 1))),
        # nothing active: what the customer last had, from its first start
        (
            [_sub("Old", 0, "2023-01-01", "inactive"), _sub("Older", 0, "2022-05-01", "inactive")],
            ("Old", date(2022, 5, 1)),
        ),
    ],
)  # fmt: skip
def test_plan_tier_and_start(
    subscriptions: list[CustomerSubscription], expected: tuple[str | None, date | None]
) -> None:
    assert main_subscriptions(subscriptions) == expected


def test_lifetime_value_is_what_was_paid_net_of_refunds() -> None:
    invoices = [
        _invoice([1000, 500], ("payment", "successful")),
        _invoice([2000], ("payment", "failed")),  # never paid
        _invoice([3000], ("payment", "failed"), ("payment", "successful")),  # recovered
        _invoice([700], ("payment", "successful"), ("refund", "successful")),  # refunded
        _invoice([400]),  # no payment yet
    ]
    assert lifetime_value(invoices) == 1500 + 3000


FIELDS = PersonFieldMap()


def _customer(**values: Any) -> Customer:
    return Customer.model_validate({"uuid": "cus_1", "mrr": 12345, "status": "Active", **values})


def test_the_payload_uses_the_configured_names_and_salesforce_values() -> None:
    figures = person_figures(
        _customer(),
        [_sub("Pro", 12345, "2025-03-01")],
        [_invoice([9999], ("payment", "successful"))],
    )
    fields = PersonFieldMap(plan="Tier__c", ltv="Paid__c")
    assert person_payload(figures, fields) == {
        "Tier__c": "Pro",
        "CM_Subscription_Start__c": "2025-03-01",
        "Paid__c": 99.99,
        "CM_MRR__c": 123.45,
        "CM_Status__c": "Active",
        "CM_Customer_UUID__c": "cus_1",
    }


def test_unknown_figures_are_left_out_not_blanked() -> None:
    figures = person_figures(_customer(mrr=0, status="New Lead"), [], [])
    assert person_payload(figures, FIELDS) == {
        "CM_LTV__c": 0.0,
        "CM_MRR__c": 0.0,
        "CM_Status__c": "New Lead",
        "CM_Customer_UUID__c": "cus_1",
    }


def test_the_update_key_follows_the_values_not_the_read() -> None:
    payload = {"CM_MRR__c": 1.0, "CM_Customer_UUID__c": "cus_1"}
    first = person_update("Contact", "003A", payload, "why")
    again = person_update("Contact", "003A", dict(reversed(payload.items())), "read again")
    changed = person_update("Contact", "003A", {**payload, "CM_MRR__c": 2.0}, "why")
    other = person_update("Lead", "003A", payload, "why")
    assert first.idempotency_key == again.idempotency_key
    assert len({first.idempotency_key, changed.idempotency_key, other.idempotency_key}) == 3
    assert (first.kind, first.target_object, first.target_key) == ("update", "Contact", "003A")


def test_a_customer_billed_in_another_currency_gets_no_lifetime_value() -> None:
    """ChartMogul converts MRR into the account currency (the customer record's ``currency``),
    not invoice amounts; cmsync does not convert, so it leaves the LTV out."""
    euro = _invoice([9999], ("payment", "successful")).model_copy(update={"currency": "EUR"})
    figures = person_figures(_customer(currency="USD"), [], [euro])
    assert figures.ltv_cents is None
    assert "CM_LTV__c" not in person_payload(figures, FIELDS)
    assert person_payload(figures, FIELDS)["CM_MRR__c"] == 123.45  # MRR is converted: kept
    same = person_figures(
        _customer(currency="USD"), [], [_invoice([9999], ("payment", "successful"))]
    )
    assert same.ltv_cents == 9999


NAMES = {"pro_monthly": "Pro", "pl_pro": "Pro"}
SUBS = [_sub("Starter", 100, "2024-01-01"), _sub("Pro", 500, "2025-03-01")]


def _line(kind: str) -> Invoice:
    body = _invoice([100]).model_dump(by_alias=True)
    body["line_items"] = [{"type": kind, "amount_in_cents": 100}]
    return Invoice.model_validate(body)


def test_plan_and_start_are_the_accounts_when_its_state_has_a_plan() -> None:
    """The plan of the latest paid movement, by name, and the day the customer first paid
    (a UTC date, as the Account's Customer Since): whatever its subscriptions say."""
    since = datetime(2024, 6, 30, 23, 0, tzinfo=timezone(timedelta(hours=-5)))  # July 1 UTC
    state = AccountState("cus_1", "active", plan="pro_monthly", customer_since=since)
    assert subscription_facts(state, NAMES, SUBS) == ("Pro", date(2024, 7, 1))
    unnamed = AccountState("cus_1", "active", plan="gone_plan", customer_since=None)
    assert subscription_facts(unnamed, NAMES) == ("gone_plan", None)  # as the Account shows it


@pytest.mark.parametrize(
    "state",
    [None, AccountState("cus_1", "lead"), AccountState("cus_1", "lead", plan="")],
)
def test_a_customer_that_never_paid_shows_its_main_subscription(
    state: AccountState | None,
) -> None:
    assert subscription_facts(state, NAMES, SUBS) == main_subscriptions(SUBS)
    assert subscription_facts(state, NAMES) == (None, None)


@pytest.mark.parametrize(
    ("plan", "kinds", "read"),
    [
        (None, ["subscription"], True),
        (None, ["trial"], True),  # a trial makes a subscription, and no paid movement
        (None, ["one_time"], False),  # no subscription: nothing to read
        (None, [], False),  # no invoice at all
        ("pro_monthly", ["subscription"], False),  # the state says
        ("pro_monthly", ["trial"], False),
    ],
)
def test_subscriptions_are_read_only_where_the_state_cannot_say(
    plan: str | None, kinds: list[str], read: bool
) -> None:
    state = AccountState(
        "cus_1", "lead", plan=plan, customer_since=datetime(2024, 1, 1, tzinfo=UTC)
    )
    summed = paid([_line(kind) for kind in kinds])
    assert summed.subscribed is any(k != "one_time" for k in kinds)
    assert reads_subscriptions(state, summed) is read
    assert reads_subscriptions(None, summed) is summed.subscribed
