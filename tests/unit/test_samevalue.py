"""One rule for "Salesforce already holds this value", for drift and for the dry run's preview.

The cases marked "preview" were judged otherwise by the preview's own rule before this one
(it took True for 1 and an empty text for a change from null), those marked "reconcile" by
reconciliation's (it did not read "true" as a checkbox nor a Decimal as a number).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from state.samevalue import same


@pytest.mark.parametrize(
    ("want", "held"),
    [
        ("", None),  # preview: Salesforce keeps an empty text as null
        (None, ""),
        ("", ""),
        (None, None),
        (12.0, 12),  # Salesforce may answer an integral amount as an integer
        (1234.5, 1234.50000001),  # float noise
        (Decimal("12.00"), 12),
        (Decimal("123.451"), 123.45),  # reconcile: a Decimal is a number
        ("true", True),  # reconcile: Salesforce reads the text into a checkbox
        ("FALSE", False),
        (True, True),
        ("2024-03-05T10:00:00.000Z", "2024-03-05T10:00:00.000+0000"),
        ("2024-03-05T10:00:00.000Z", "2024-03-05T12:00:00.000+0200"),
        ("2024-03-05T10:00:00Z", "2024-03-05T10:00:00"),
        (datetime(2024, 3, 5, 10, tzinfo=UTC), "2024-03-05T10:00:00.000+0000"),
        ("2024-03-05", "2024-03-05"),
        ("Active", "Active"),
    ],
)
def test_spellings_of_one_value_are_the_same(want: Any, held: Any) -> None:
    assert same(want, held)


@pytest.mark.parametrize(
    ("want", "held"),
    [
        (True, 1),  # preview: a checkbox is not a number
        (False, 0),  # preview
        (1, True),  # preview
        ("true", "True "),  # text, not a checkbox, on both sides
        (True, None),
        (123.45, 123.44),  # a cent is a change
        (0.0, None),  # never written
        ("Active", "active"),  # text exactly
        ("Active", None),
        ("12", 12),
        ("2024-03-05", "2024-03-06"),
        ("2024-03-05", "2024-03-05T00:00:00.000+0000"),  # a date is not a date-time
        ("2024-03-05T10:00:00.000Z", "2024-03-05T10:00:01.000Z"),
    ],
)
def test_other_values_differ(want: Any, held: Any) -> None:
    assert not same(want, held)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_an_amount_in_cents_is_the_same_however_it_is_spelt(cents: int) -> None:
    amount = cents / 100
    assert same(amount, Decimal(cents) / 100)
    assert same(amount, round(amount, 2))
    assert not same(amount, (cents + 1) / 100)


@given(st.dates(min_value=date(1970, 1, 1), max_value=date(2400, 12, 31)))
def test_a_date_is_the_same_as_itself_and_not_its_neighbours(day: date) -> None:
    assert same(day.isoformat(), day.isoformat())
    assert not same(day.isoformat(), date.fromordinal(day.toordinal() + 1).isoformat())
