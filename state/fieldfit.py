"""Fitting a value to the Salesforce field it is written to (pure): sent, cut, or left out.

Salesforce refuses a whole record for one field it cannot hold (REST API Developer Guide,
"Status Codes and Error Responses"; SOAP API Developer Guide, "StatusCode": STRING_TOO_LONG,
NUMBER_OUTSIDE_VALID_RANGE, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST), so one over-long plan
name would keep an Account from ever getting its MRR. The rule here is applied once, when a
write is planned, against the field's limits (describe's, else the catalogue's):

- text longer than the field is cut to its length, the last character an ellipsis ("…"),
  and the write says so (``Fitted.notes``) for the audit;
- a number the field's precision cannot hold, or a value a restricted picklist lacks, is
  left out of the write (the record's other fields still go) and becomes an ``Unfit``: a
  problem with the field, the cause and the fix;
- an email longer than its field is left out too: cut, it would be another address
  (INVALID_EMAIL_ADDRESS at best, someone else's at worst).

Ids and lookups, dates, booleans and values of a type the field does not take pass as they
are: cutting an Id would aim the write elsewhere, and a wrong type is a bug Salesforce's
answer names better than a guess here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

__all__ = [
    "ELLIPSIS",
    "Cause",
    "FieldLimits",
    "Fitted",
    "LimitsBook",
    "Unfit",
    "fit_fields",
    "fit_value",
]

ELLIPSIS = "…"  # one character: Salesforce counts a field's length in characters

_CUT_TYPES = frozenset({"string", "textarea", "url", "phone", "combobox", "picklist"})
_NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})
_SHOWN = 60  # characters of a refused value quoted in a problem


class Cause(StrEnum):
    """Why a value was left out of a write; part of the problem's key."""

    OUT_OF_RANGE = "out_of_range"  # NUMBER_OUTSIDE_VALID_RANGE
    NOT_IN_PICKLIST = "not_in_picklist"  # INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST
    TOO_LONG = "too_long"  # STRING_TOO_LONG, where cutting would change what the value is


@dataclass(frozen=True)
class FieldLimits:
    """What a field can hold, as describe says (``type``, ``length``, ``precision``...)."""

    type: str  # the describe type name: string, url, currency, picklist...
    length: int = 0  # text: characters (0: no limit known)
    precision: int = 0  # numbers: total digits (0: no limit known)
    scale: int = 0  # numbers: digits after the point
    picklist: frozenset[str] = frozenset()  # active values
    restricted: bool = False  # a restricted picklist refuses any other value


# Limits by (object, field), both casefolded: ``LimitsBook.get`` folds the names.
@dataclass(frozen=True)
class LimitsBook:
    """The limits of the fields cmsync writes; a field it does not know is sent as it is."""

    fields: Mapping[tuple[str, str], FieldLimits]

    def get(self, sobject: str, name: str) -> FieldLimits | None:
        return self.fields.get((sobject.casefold(), name.casefold()))

    def merged(self, other: LimitsBook) -> LimitsBook:
        """These limits, with ``other``'s replacing them field by field (describe over the
        catalogue)."""
        return LimitsBook({**self.fields, **other.fields})


@dataclass(frozen=True)
class Unfit:
    """A value left out of a write: which field, why, and what an operator can do."""

    sobject: str
    field: str
    cause: Cause
    value: str  # the refused value, shortened for showing
    reason: str
    fix: str

    @property
    def problem_key(self) -> str:
        """One problem per object, field and cause, whatever the records or passes."""
        return f"{self.sobject}.{self.field}:{self.cause.value}"


@dataclass(frozen=True)
class Fitted:
    """A record's fields as they can be sent, with what was cut and what was left out."""

    fields: Mapping[str, Any]
    # For the audit, by field: "CM_Plan__c cut from 10000 to 255 characters".
    notes: Mapping[str, str] = field(default_factory=dict)
    unfit: tuple[Unfit, ...] = ()


_Kept = tuple[Any, str | None]  # the value to send and a note, or an Unfit


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + ELLIPSIS


def _fit_text(sobject: str, name: str, limits: FieldLimits, text: str) -> _Kept | Unfit:
    if limits.restricted and text not in limits.picklist:
        where = f"{sobject}.{name}"
        return Unfit(
            sobject, name, Cause.NOT_IN_PICKLIST, _shown(text),
            f"{where} is a restricted picklist without the value {_shown(text)!r}; "
            "Salesforce would refuse the whole record (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST)",
            f"add {_shown(text)!r} to the {where} picklist values in Setup (or make the "
            "picklist unrestricted); the next write of the record sends it",
        )  # fmt: skip
    if not limits.length or len(text) <= limits.length:
        return text, None
    if limits.type not in _CUT_TYPES:
        return Unfit(
            sobject, name, Cause.TOO_LONG, _shown(text),
            f"{sobject}.{name} holds {limits.length} characters, the value has {len(text)}; "
            "cut, it would be another value (STRING_TOO_LONG otherwise)",
            f"raise the length of {sobject}.{name} in Setup to hold it",
        )  # fmt: skip
    cut = text[: limits.length - 1] + ELLIPSIS
    return cut, f"{name} cut from {len(text)} to {limits.length} characters"


def _fit_number(sobject: str, name: str, limits: FieldLimits, value: int | float) -> _Kept | Unfit:
    try:
        number = Decimal(str(value))
    except InvalidOperation:  # pragma: no cover - str() of an int or float always parses
        return value, None
    if not number.is_finite() or not limits.precision:
        return value, None
    # Salesforce rounds to the field's scale (half up), then checks the digits before the
    # point: precision - scale of them.
    rounded = number.quantize(Decimal(1).scaleb(-limits.scale), rounding=ROUND_HALF_UP)
    digits = limits.precision - limits.scale
    if abs(rounded) < Decimal(10) ** digits:
        return value, None
    where = f"{sobject}.{name}"
    return Unfit(
        sobject, name, Cause.OUT_OF_RANGE, _shown(value),
        f"{where} holds {digits} digits before the point ({limits.type}({limits.precision}, "
        f"{limits.scale})), the value {_shown(value)} has more; Salesforce would refuse the "
        "whole record (NUMBER_OUTSIDE_VALID_RANGE)",
        f"check the figure at its source; if it is true, raise the length of {where} in Setup",
    )  # fmt: skip


def fit_value(sobject: str, name: str, limits: FieldLimits, value: Any) -> _Kept | Unfit:
    """``value`` as it can be written to the field: (value to send, note or None), or why it
    is left out."""
    if value is None:
        return value, None  # clears the field; always fits
    if isinstance(value, str) and (limits.type in _CUT_TYPES or limits.type == "email"):
        return _fit_text(sobject, name, limits, value)
    if (
        limits.type in _NUMBER_TYPES
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return _fit_number(sobject, name, limits, value)
    return value, None


def fit_fields(sobject: str, fields: Mapping[str, Any], book: LimitsBook) -> Fitted:
    """Every field of one record's write fitted to its limits (see the module doc)."""
    out: dict[str, Any] = {}
    notes: dict[str, str] = {}
    unfit: list[Unfit] = []
    for name, value in fields.items():
        limits = book.get(sobject, name)
        if limits is None:
            out[name] = value
            continue
        fitted = fit_value(sobject, name, limits, value)
        if isinstance(fitted, Unfit):
            unfit.append(fitted)
            continue
        out[name] = fitted[0]
        if fitted[1] is not None:
            notes[name] = fitted[1]
    return Fitted(out, notes, tuple(unfit))
