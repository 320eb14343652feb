"""Closed-Won deals priced, planned and dated without any I/O."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmsync.config import ClosedWonSettings
from cmsync.pipeline.closed_won.deal import (
    Deal,
    Era,
    Horizon,
    Interval,
    line_amount_cents,
    new_customer,
    new_invoice,
    period_end,
    plan_key,
    refusal,
)
from cmsync.pipeline.closed_won.effect import IMPORT_DEAL, DealImport, import_row
from cmsync.pipeline.closed_won.poll import dump_cursor, load_cursor
from cmsync.pipeline.closed_won.steps import Holder
from state import MatchMethod, System
from state.incremental import Stamped, Watermark

MONTH = Interval(1, "month")
ROW: dict[str, Any] = {
    "attributes": {"type": "Opportunity"},
    "Id": "006Dn0000000001IAA",
    "Name": "Acme - New",
    "AccountId": "001Dn0000000001IAA",
    "Amount": 1392.1,
    "CloseDate": "2026-01-31",
    "Type": "New Customer",
    "Tier__c": "gold",
    "Account": {
        "attributes": {"type": "Account"},
        "Name": "Acme",
        "BillingCountry": "gb",
        "CreatedDate": "2025-03-01T10:00:00.000+0000",
        "Website": None,
        "CM_Customer_UUID__c": None,
    },
    "SystemModstamp": "2026-01-31T12:00:00.000+0000",
}


def _deal(**changes: Any) -> Deal:
    account = changes.pop("Account", {})
    row = {**ROW, **changes, "Account": None if account is None else {**ROW["Account"], **account}}
    return Deal.from_row(row, plan_field="Tier__c", uuid_field="CM_Customer_UUID__c")


def test_a_row_becomes_a_deal_with_exact_amounts_and_its_account() -> None:
    deal = _deal()
    assert deal.amount == Decimal("1392.1")  # not the binary float's expansion
    assert deal.close_date == date(2026, 1, 31)
    assert deal.starts == datetime(2026, 1, 31, tzinfo=UTC)
    assert (deal.account_name, deal.country, deal.plan_value) == ("Acme", "gb", "gold")
    assert deal.account_created == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert _deal(Account=None).account_name is None  # a deal without an Account still reads


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, None),
        ({"AccountId": None}, "no Account"),
        ({"Amount": None}, "no Amount"),
        ({"Amount": 0}, "must be positive"),
        ({"Amount": -5.5}, "must be positive"),
        ({"CloseDate": None}, "no Close Date"),
    ],
)
def test_refusals_name_what_to_fix(changes: dict[str, Any], expected: str | None) -> None:
    reason = refusal(_deal(**changes))
    assert reason is None if expected is None else expected in (reason or "")


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        ("gold", "New Customer", ("gold_annual", "Tier__c 'gold'")),
        ("tin", "New Customer", ("new_plan", "Type 'New Customer'")),  # unmapped value
        (None, "Existing Customer - Upgrade", ("default", "the default plan")),
        (None, None, ("default", "the default plan")),
    ],
)
def test_the_plan_comes_from_the_field_then_the_type_then_the_default(
    value: str | None, type_: str | None, expected: tuple[str, str]
) -> None:
    settings = ClosedWonSettings(
        plan_field="Tier__c",
        plan_by_value={"gold": "gold_annual"},
        plan_by_type={"New Customer": "new_plan"},
        default_plan="default",
    )
    assert plan_key(_deal(Tier__c=value, Type=type_), settings) == expected


def test_without_a_plan_field_its_values_are_ignored() -> None:
    settings = ClosedWonSettings(plan_by_value={"gold": "gold_annual"}, default_plan="default")
    deal = Deal.from_row(ROW, plan_field=None, uuid_field="CM_Customer_UUID__c")
    assert plan_key(deal, settings) == ("default", "the default plan")


@pytest.mark.parametrize(
    ("amount", "interval", "term", "cents"),
    [
        ("12000", MONTH, 12, 100_000),  # ACV billed monthly: MRR = Amount / 12
        ("12000", Interval(1, "year"), 12, 1_200_000),  # billed yearly: the whole year
        ("12000", Interval(3, "month"), 12, 300_000),
        ("12000", MONTH, 24, 50_000),  # a two-year contract
        ("1000", MONTH, 12, 8_333),  # 8333.33 rounds down
        ("1000.06", MONTH, 12, 8_334),  # 8333.83 rounds up
        ("0.06", MONTH, 12, 1),  # 0.5 cent: half up
        ("3652.50", Interval(30, "day"), 12, 30_000),  # 30 days is 48*30/1461 months
    ],
)
def test_one_interval_is_priced_amount_times_its_months_over_the_term(
    amount: str, interval: Interval, term: int, cents: int
) -> None:
    assert line_amount_cents(Decimal(amount), interval, term) == cents


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000000"), places=2))
def test_a_monthly_price_is_within_half_a_cent_of_a_twelfth(amount: Decimal) -> None:
    cents = line_amount_cents(amount, MONTH, 12)
    assert abs(Decimal(cents) - amount * 100 / 12) <= Decimal("0.5")


def _at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "interval", "end"),
    [
        (_at(2026, 1, 15), MONTH, _at(2026, 2, 15)),
        (_at(2026, 1, 31), MONTH, _at(2026, 2, 28)),
        (_at(2026, 5, 31), MONTH, _at(2026, 6, 30)),
        (
            _at(2026, 11, 30),
            Interval(3, "month"),
            _at(2027, 2, 28),
        ),
        (_at(2028, 2, 29), Interval(1, "year"), _at(2029, 2, 28)),
        (_at(2026, 12, 20), Interval(14, "day"), _at(2027, 1, 3)),
    ],
)
def test_one_billing_interval_ends_on_the_same_day_or_the_month_end(
    start: datetime, interval: Interval, end: datetime
) -> None:
    assert period_end(start, interval) == end


def test_the_horizon_splits_history_backfill_and_new() -> None:
    horizon = Horizon(since=date(2026, 11, 25), backfill_days=30)
    assert horizon.era(date(2026, 11, 25)) is Era.NEW
    assert horizon.era(date(2027, 1, 1)) is Era.NEW
    assert horizon.era(date(2026, 11, 24)) is Era.BACKFILL
    assert horizon.era(date(2026, 10, 26)) is Era.BACKFILL
    assert horizon.era(date(2026, 10, 25)) is Era.HISTORY


def test_the_customer_is_the_account_with_a_code_for_a_country() -> None:
    body = new_customer(_deal(), "ops@acme.example", "ds_1").to_wire()
    assert body == {
        "data_source_uuid": "ds_1",
        "external_id": "001Dn0000000001IAA",
        "name": "Acme",
        "company": "Acme",
        "email": "ops@acme.example",
        "country": "GB",
        "lead_created_at": "2025-03-01T10:00:00.000Z",
    }
    named = new_customer(_deal(Account={"BillingCountry": "United Kingdom"}), None, "ds_1")
    assert named.country is None and named.email is None  # no guessing a code from a name


def test_a_lead_is_never_created_after_the_deal_it_became() -> None:
    late = _deal(Account={"CreatedDate": "2026-06-01T00:00:00.000+0000"})
    assert new_customer(late, None, "ds_1").lead_created_at == late.starts


def test_the_invoice_carries_the_opportunity_id_everywhere() -> None:
    settings = ClosedWonSettings()
    body = new_invoice(
        _deal(Amount=12000), plan_uuid="pl_1", interval=MONTH, settings=settings,
        customer_external_id="001Dn0000000001IAA", data_source_uuid="ds_1",
    ).to_wire()  # fmt: skip
    opp = "006Dn0000000001IAA"
    assert body["external_id"] == opp
    assert body["date"] == "2026-01-31T00:00:00.000Z"
    assert body["currency"] == "USD"
    [item] = body["line_items"]
    assert item["subscription_external_id"] == item["subscription_set_external_id"] == opp
    assert item["external_id"] == f"{opp}-li"
    assert (item["amount_in_cents"], item["quantity"], item["plan_uuid"]) == (100_000, 1, "pl_1")
    assert item["service_period_start"] == "2026-01-31T00:00:00.000Z"
    assert item["service_period_end"] == "2026-02-28T00:00:00.000Z"
    assert body["transactions"] == [
        {"type": "payment", "date": "2026-01-31T00:00:00.000Z", "result": "successful",
         "external_id": f"{opp}-tx"}
    ]  # fmt: skip


def test_the_cursor_keeps_its_watermark_and_start_date() -> None:
    stamp = datetime(2026, 11, 25, 12, tzinfo=UTC)
    watermark, _ = Watermark().advance([Stamped("006A", stamp)], timedelta(minutes=5))
    text = dump_cursor(watermark, date(2026, 11, 20))
    assert load_cursor(text) == (watermark, date(2026, 11, 20))
    assert Watermark.loads(text) == watermark  # readers of plain watermarks still read it
    assert load_cursor(None) == (Watermark(), None)
    # The start date spliced into the watermark's text: the text the dict's dump was.
    watermark, _ = watermark.advance(
        [Stamped(f"006{n}\u00e9", stamp + timedelta(seconds=n)) for n in range(5)],
        timedelta(minutes=5),
    )
    text = dump_cursor(watermark, date(2026, 11, 20))
    assert text == json.dumps(
        {**json.loads(watermark.dumps()), "since": "2026-11-20"}, separators=(",", ":")
    )
    assert load_cursor(text) == (watermark, date(2026, 11, 20))


def test_a_decided_deal_survives_its_outbox_payload() -> None:
    """The import effect is stored as JSON and read back by the executor, field for field."""
    deal = Deal(
        opportunity_id="006Dn00000PAYLOAD", name="Round Trip deal", account_id="001Dn00000PAYLOAD",
        amount=Decimal("1234.50"), close_date=date(2024, 2, 29), type="New Customer",
        plan_value="Gold", account_name="Round Trip Ltd", country="Deutschland",
        account_created=datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC), website="https://rt.example",
        uuid_field=None,
    )  # fmt: skip
    holder = Holder(
        "cus_1", "customer cus_1", "ds_1", "001Dn00000PAYLOAD", "https://app.example/cus_1",
        pays=True, link_by=MatchMethod.CONTACT_EMAIL, stale="cus_0", survives=True,
        external_ids=("001Dn00000PAYLOAD", "other"),
    )  # fmt: skip
    for decided in (
        DealImport(deal, "gold", "plan_field Gold", holder, "ds_1", None, None),
        DealImport(deal, "gold", "the default plan", None, "ds_1", "a@rt.example", "cus_0"),
    ):
        row = import_row(decided, "2024-02-29T10:00:00.000+0000")
        stored = json.loads(json.dumps(row.payload))
        assert DealImport.of(stored) == decided
        assert (row.target_system, row.kind, row.target_key) == (
            System.CHARTMOGUL, IMPORT_DEAL, deal.opportunity_id,
        )  # fmt: skip
