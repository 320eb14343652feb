"""Salesforce date-times, read and written: the one parser and the one wire form (pure).

The REST API answers date-time fields as ``2026-11-24T10:00:00.000+0000`` (milliseconds, a
zone offset without a colon), and takes ``yyyy-MM-ddTHH:mm:ss.SSS+/-HH:mm`` or ``...SSSZ``
in requests (REST API Developer Guide, "Valid Date and DateTime Formats",
developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/intro_valid_date_formats.htm),
where cmsync sends ``2026-11-24T10:00:00.000Z``. Both read
here, along with ``+00:00`` offsets, whole seconds, any number of fraction digits and a
bare date (midnight UTC): Python 3.11's ``datetime.fromisoformat`` reads every one of them,
at C speed (the incremental reads parse a ``SystemModstamp`` per record). A value without a
zone is UTC, as Salesforce stores date-times. The result is always aware and in UTC, so two
spellings of one instant compare equal.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_datetime", "parse_datetime"]


def parse_datetime(text: str) -> datetime:
    """A Salesforce date-time (or date) as an aware UTC datetime; ValueError if it is not one."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    """How cmsync sends a date-time: UTC, milliseconds, ``Z`` (``...T10:00:00.000Z``)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
