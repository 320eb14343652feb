"""Whether Salesforce already holds a value: one rule for reconciliation's drift and the
dry run's preview (pure).

``same(want, held)`` compares a value in the form cmsync sends it (the wire form: JSON as the
dispatcher writes it) with what a SOQL query answers for the field. The two sides spell some
values differently, so a field differs only when writing ``want`` would leave Salesforce
showing another value than ``held``:

- absent, None and the empty string are one value: Salesforce keeps an empty text as null,
  and a field a query leaves out of its answer is null;
- numbers (currency, percent, ``int``, ``float`` or ``Decimal``) are equal within half a
  cent: currency fields keep two decimals, and Salesforce may answer ``12`` for ``12.0``;
- a checkbox equals only a boolean, or the text ``"true"``/``"false"`` that Salesforce reads
  into one (its JSON reader takes either; it refuses a number), so ``True`` is not ``1``;
- date-times compare as instants (Salesforce answers ``...000+0000``, cmsync sends
  ``...000Z``; ``state.sftime``), dates as dates, and a date is never a date-time;
- anything else compares with ``==``: text exactly, as a picklist or an Id is held.

Before this module the preview and reconciliation each had a rule, and they disagreed: the
preview took ``True`` for ``1`` and ``""`` for a change from null, and reconciliation did not
see a Decimal as a number.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from state.sftime import parse_datetime

__all__ = ["same"]

_HALF_CENT = 0.005
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_CHECKBOX_TEXT = {"true": True, "false": False}


def _number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _checkbox(value: Any) -> bool | None:
    """The boolean Salesforce would store for ``value`` in a checkbox, or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _CHECKBOX_TEXT.get(value.lower())
    return None


def _canonical(value: Any) -> Any:
    """One spelling per value: see the module doc."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not isinstance(value, str):
        return value
    if not value:
        return None
    if _DATETIME.match(value):
        try:
            return parse_datetime(value)
        except ValueError:
            return value
    if _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def same(want: Any, held: Any) -> bool:
    """Whether Salesforce holding ``held`` already shows ``want`` (wire form)."""
    if _number(want) and _number(held):
        return bool(abs(float(want) - float(held)) < _HALF_CENT)
    if isinstance(want, bool) or isinstance(held, bool):  # True == 1 in Python, not in a field
        return _checkbox(want) is not None and _checkbox(want) == _checkbox(held)
    return bool(_canonical(want) == _canonical(held))  # a date never equals a date-time
