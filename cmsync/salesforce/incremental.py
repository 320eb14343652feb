"""Reading records changed since a watermark, with an overlap window and no repeats.

The query is ``... WHERE <filter> AND SystemModstamp >= <start> AND SystemModstamp <= <end>
ORDER BY SystemModstamp, Id``: the window and the dedupe come from ``state.incremental``
(the one place cursor semantics live), the Id tie-break keeps the order total when many records
share a stamp. Pages are yielded with the watermark as it stands after each page, so the
caller can commit both together; after the last page, a page of no records with the watermark
that knows the whole window was read, which keeps no key of what had settled when the read
began (``state.incremental``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import distinct_fields, identifier, soql
from state.incremental import Stamped, Watermark
from state.sftime import parse_datetime

__all__ = ["build_query", "changed_records"]


def build_query(
    sobject: str, fields: Sequence[str], where: str | None, start: datetime | None, end: datetime
) -> str:
    """The SOQL for one window; ``where`` is a constant filter, never built from data."""
    names = distinct_fields(["Id", "SystemModstamp", *fields])
    clauses = [f"({where})"] if where else []
    if start is not None:
        clauses.append(soql("SystemModstamp >= {start}", start=start))
    # Literals have whole seconds; round the cap up so the last second is not cut in half.
    clauses.append(soql("SystemModstamp <= {end}", end=end + timedelta(seconds=1)))
    # Every name passed identifier() and every value went through soql(): nothing raw here.
    return (
        f"SELECT {', '.join(names)} FROM {identifier(sobject)} "  # noqa: S608
        f"WHERE {' AND '.join(clauses)} ORDER BY SystemModstamp ASC, Id ASC"
    )


async def changed_records(
    gateway: SalesforceGateway,
    sobject: str,
    fields: Sequence[str],
    *,
    where: str | None,
    watermark: Watermark,
    lookback: timedelta,
    now: datetime,
    include_deleted: bool = False,
) -> AsyncIterator[tuple[list[dict[str, Any]], Watermark]]:
    """(new records of a page, watermark after it) for every page of the window;
    ``include_deleted`` reads through ``queryAll`` (deleted records too, ``IsDeleted``)."""
    window = watermark.window(lookback, now)
    query = build_query(sobject, fields, where, window.start, window.end)
    settled = window.settled  # shown by the time the read began: no key kept for them
    # Each page is handed on as it comes, its watermark bounded by its own newest stamp (a
    # later page may hold that second); once the read has ended, the watermark that knows it
    # follows with no records, when it differs, so it keeps no key of what had settled.
    async for page in gateway.query_pages(query, include_deleted=include_deleted):
        watermark, fresh = _advance(watermark, page, lookback, settled, last=False)
        yield [page[i] for i in fresh], watermark
    ended, _ = _advance(watermark, [], lookback, settled, last=True)
    if ended != watermark:
        yield [], ended


def _advance(
    watermark: Watermark,
    page: list[dict[str, Any]],
    lookback: timedelta,
    settled: datetime | None,
    *,
    last: bool,
) -> tuple[Watermark, list[int]]:
    stamped = [Stamped(str(r["Id"]), parse_datetime(r["SystemModstamp"])) for r in page]
    return watermark.advance(stamped, lookback, settled, last=last)
