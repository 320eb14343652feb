"""Field values: from request JSON into stored Python values, checked; and back out to JSON.

Stored values are ``str`` (text, Ids, picklists), ``bool``, ``float`` (currency, double,
percent, rounded to the field's scale), ``int``, ``date`` and ``datetime`` (UTC, milliseconds),
or None. Two kinds of failure, as in Salesforce: a JSON token the field's type cannot be read
from (``JsonTypeError``, which fails the whole request with JSON_PARSER_ERROR), and a value of
the right type that breaks a rule of the field (a ``RecordError``: too long, not an email, not
in a restricted picklist, outside the numeric range, a malformed Id).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from cmsync.salesforce.schema import FieldSpec, FieldType
from cmsync.sandbox.salesforce.errors import RecordError
from cmsync.sandbox.salesforce.ids import InvalidIdError, normalize

__all__ = [
    "JsonTypeError",
    "Value",
    "format_datetime",
    "from_json",
    "parse_datetime",
    "to_json",
]

Value = str | bool | int | float | date | datetime | None

_EMAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?"
)


class JsonTypeError(ValueError):
    """A JSON value the field's type cannot be deserialized from (JSON_PARSER_ERROR)."""

    def __init__(self, spec: FieldSpec, raw: object) -> None:
        self.field = spec.name
        super().__init__(
            f"Cannot deserialize instance of {spec.type.value} from {_token(raw)} or request "
            "may be missing a required field"
        )


def _token(raw: object) -> str:
    """How Salesforce's JSON reader names a value in its errors."""
    match raw:
        case bool():
            return f"VALUE_{str(raw).upper()} value {str(raw).lower()}"
        case int():
            return f"VALUE_NUMBER_INT value {raw}"
        case float():
            return f"VALUE_NUMBER_FLOAT value {raw}"
        case str():
            return f"VALUE_STRING value {raw}"
        case dict():
            return "START_OBJECT value {"
        case list():
            return "START_ARRAY value ["
    return f"VALUE_EMBEDDED_OBJECT value {raw}"


def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 date-time (zone optional, UTC assumed), or None if it is not one."""
    match = _DATETIME.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")), tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def format_datetime(moment: datetime) -> str:
    """The way the REST API writes date-times: ``2026-11-24T10:00:00.000+0000``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _number(spec: FieldSpec, raw: object) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise JsonTypeError(spec, raw)
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        raise JsonTypeError(spec, raw) from None
    if not number.is_finite():
        raise JsonTypeError(spec, raw)
    return number


def _checked_number(spec: FieldSpec, raw: object) -> int | float:
    number = _number(spec, raw)
    if spec.type is FieldType.INT:
        if number != number.to_integral_value():
            raise JsonTypeError(spec, raw)
        return int(number)
    rounded = number.quantize(Decimal(1).scaleb(-spec.scale), rounding=ROUND_HALF_UP)
    if spec.precision and abs(rounded) >= Decimal(10) ** (spec.precision - spec.scale):
        raise RecordError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{spec.label}: value outside of valid range on numeric field: {raw}",
            [spec.name],
        )
    return float(rounded)


def _text(spec: FieldSpec, raw: object) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    if not isinstance(raw, str):
        raise JsonTypeError(spec, raw)
    return raw


def _checked_text(spec: FieldSpec, raw: object) -> str:
    text = _text(spec, raw)
    if spec.type in (FieldType.ID, FieldType.REFERENCE):
        try:
            return normalize(text)
        except InvalidIdError:
            raise RecordError(
                "MALFORMED_ID", f"{spec.label}: id value of incorrect type: {text}", [spec.name]
            ) from None
    if spec.length and len(text) > spec.length:
        raise RecordError(
            "STRING_TOO_LONG",
            f"{spec.label}: data value too large: {text} (max length={spec.length})",
            [spec.name],
        )
    if spec.type is FieldType.EMAIL and text and not _EMAIL.fullmatch(text):
        raise RecordError(
            "INVALID_EMAIL_ADDRESS", f"{spec.label}: invalid email address: {text}", [spec.name]
        )
    if spec.restricted_picklist and text not in {p.value for p in spec.picklist_values}:
        raise RecordError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{spec.label}: bad value for restricted picklist field: {text}",
            [spec.name],
        )
    return text


def from_json(spec: FieldSpec, raw: object) -> Value:
    """The stored value for JSON ``raw`` written to ``spec``; JsonTypeError or RecordError."""
    if raw is None:
        return None
    kind = spec.type
    if kind.is_text:
        text = _checked_text(spec, raw)
        # An empty string clears a text field, as in Salesforce.
        return text if text != "" else None
    if kind.is_number:
        return _checked_number(spec, raw)
    if kind is FieldType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise JsonTypeError(spec, raw)
    if isinstance(raw, datetime) and kind is FieldType.DATETIME:  # seeding passes objects
        moment = (raw if raw.tzinfo else raw.replace(tzinfo=UTC)).astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if isinstance(raw, date) and not isinstance(raw, datetime) and kind is FieldType.DATE:
        return raw
    if not isinstance(raw, str):
        raise JsonTypeError(spec, raw)
    if kind is FieldType.DATE:
        try:
            if _DATE.fullmatch(raw):
                return date.fromisoformat(raw)
        except ValueError:
            pass
        raise JsonTypeError(spec, raw)
    parsed = parse_datetime(raw)
    if parsed is None:
        raise JsonTypeError(spec, raw)
    return parsed


def to_json(value: Value) -> object:
    """``value`` as the REST API writes it."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
