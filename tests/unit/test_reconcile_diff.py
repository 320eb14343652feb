"""Reconciliation's diff: like compared with like, and what each record should hold."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmsync.chartmogul.records import Customer
from cmsync.config import FieldSettings, PersonFieldMap, SyncSettings
from cmsync.pipeline.reconcile_diff import (
    FIGURE_FIELDS,
    FieldDrift,
    RecordDrift,
    account_wanted,
    diff_fields,
    person_wanted,
    same,
)
from cmsync.pipeline.streams.customers import figures
from cmsync.pipeline.translate import Translator, wire
from state.effects import AccountField, Money


def _customer(**overrides: Any) -> Customer:
    values: dict[str, Any] = {
        "uuid": "cus_1",
        "status": "Active",
        "mrr": 12_345,
        "arr": 148_140,
        "customer-since": "2024-03-05T10:00:00Z",
        "chartmogul-url": "https://app.chartmogul.com/#/customers/1",
        **overrides,
    }
    return Customer.model_validate(values)


@pytest.mark.parametrize(
    ("want", "held"),
    [
        (123.45, 123.45),
        (12.0, 12),  # Salesforce may answer an integral currency value as an integer
        (0.0, 0),
        (1234.5, 1234.50000001),  # float noise, not a different amount
        (None, ""),  # Salesforce keeps an empty text as null
        ("2024-03-05", "2024-03-05"),
        ("2024-03-05T10:00:00.000Z", "2024-03-05T10:00:00.000+0000"),
        ("2024-03-05T10:00:00.000Z", "2024-03-05T12:00:00.000+0200"),
        ("Active", "Active"),
        (True, True),
    ],
)
def test_values_spelt_differently_are_the_same(want: Any, held: Any) -> None:
    assert same(want, held)


@pytest.mark.parametrize(
    ("want", "held"),
    [
        (123.45, 123.44),  # one cent is drift
        (123.45, None),  # never written
        (0.0, None),
        ("Active", "active"),  # text is compared exactly
        ("Active", None),
        ("2024-03-05", "2024-03-06"),
        ("2024-03-05T10:00:00.000Z", "2024-03-05T10:00:01.000Z"),
        (True, 1),  # a checkbox is not a number
        ("12", 12),
    ],
)
def test_different_values_drift(want: Any, held: Any) -> None:
    assert not same(want, held)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_every_amount_in_cents_matches_itself_as_salesforce_answers_it(cents: int) -> None:
    sent = wire(Money(cents))
    answered = round(cents / 100, 2)  # what a currency field of scale 2 holds
    assert same(sent, answered)
    assert not same(sent, round((cents + 1) / 100, 2))


def test_diff_names_only_drifting_fields_with_both_values() -> None:
    want = {"CM_MRR__c": 123.45, "CM_ARR__c": 1481.4, "CM_Status__c": "Active"}
    held = {"Id": "001", "CM_MRR__c": 123.45, "CM_ARR__c": 1000, "CM_Status__c": None}
    assert diff_fields(want, held) == (
        FieldDrift("CM_ARR__c", 1481.4, 1000),
        FieldDrift("CM_Status__c", "Active", None),
    )
    assert diff_fields(want, {**held, "CM_ARR__c": 1481.4, "CM_Status__c": "Active"}) == ()


def test_a_drift_repairs_with_exactly_its_fields() -> None:
    drift = RecordDrift(
        "Account", "001A", "cus_1", (FieldDrift("CM_MRR__c", 12.0, 9.0),), name="Acme"
    )
    assert drift.payload == {"CM_MRR__c": 12.0}
    assert drift.describe() == "Account 001A (Acme): CM_MRR__c: 9.0 -> 12.0"


def test_the_columns_read_are_every_field_figures_can_set() -> None:
    assert set(figures(_customer())) == set(FIGURE_FIELDS)


def test_an_account_should_hold_the_figures_in_wire_form() -> None:
    translator = Translator(FieldSettings(), SyncSettings())
    wanted = account_wanted(_customer(), translator)
    assert {api: sent for api, (_, _, sent) in wanted.items()} == {
        "CM_Customer_UUID__c": "cus_1",
        "CM_MRR__c": 123.45,
        "CM_ARR__c": 1481.4,
        "CM_Status__c": "Active",
        "CM_Customer_Since__c": "2024-03-05",
        "CM_URL__c": "https://app.chartmogul.com/#/customers/1",
    }
    assert wanted["CM_MRR__c"][:2] == (AccountField.MRR, Money(12_345))
    assert "CM_Customer_Since__c" not in account_wanted(_customer(**{"customer-since": None}),
                                                        translator)  # fmt: skip


def test_a_person_should_hold_what_the_customer_record_gives() -> None:
    names = PersonFieldMap(mrr="Cm_Mrr__c", status="Cm_Status__c", customer_uuid="Cm_Uuid__c")
    assert person_wanted(_customer(), names) == {
        "Cm_Uuid__c": "cus_1",
        "Cm_Mrr__c": 123.45,
        "Cm_Status__c": "Active",
    }
    # As enrichment writes them: an unknown status is not blanked, a long one is cut.
    assert "Cm_Status__c" not in person_wanted(_customer(status=None), names)
    assert person_wanted(_customer(status="x" * 50), names)["Cm_Status__c"] == "x" * 40


def test_a_datetime_without_a_zone_is_read_as_utc() -> None:
    moment = datetime(2024, 3, 5, 10, tzinfo=UTC)
    assert same(wire(moment), "2024-03-05T10:00:00")
