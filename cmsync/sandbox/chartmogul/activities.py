"""``GET /v1/activities``: the account-wide activity feed, with both pagination styles.

Current style: ``per_page`` + ``cursor``. Legacy style: ``per-page`` + ``start-after=<uuid of
the last entry received>``. Both resume strictly after a *position* (see ``feed``): the cursor
this emulator issues is the uuid-shaped encoding of the last entry's position, which is also
that entry's uuid, so cursor and ``start-after`` are interchangeable and survive rebuilds. (A
real recording shows the real cursor being the uuid of the next, unseen entry, which made one
entry get skipped; the emulator does not reproduce that bug.)

``start-date``/``end-date`` accept a date (whole days, inclusive) or a timestamp; ``type``
filters by movement type; ``order`` is ``date`` (the default, oldest first) or ``-date``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cmsync.sandbox.chartmogul.engine import Kind
from cmsync.sandbox.chartmogul.errors import bad_parameter
from cmsync.sandbox.chartmogul.fields import per_page, reject_page
from cmsync.sandbox.chartmogul.registry import Registry
from cmsync.sandbox.chartmogul.timefmt import DAY, parse_time
from cmsync.sandbox.chartmogul.views import activity_json

__all__ = ["list_activities"]


def _bound(query: Mapping[str, str], name: str, end_of_day: bool) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    ts = parse_time(raw)
    if ts is None:
        raise bad_parameter(name)
    date_only = "T" not in raw and " " not in raw.strip()
    return ts + DAY - 1 if end_of_day and date_only else ts


def list_activities(registry: Registry, query: Mapping[str, str]) -> dict[str, Any]:
    reject_page(query)
    limit = per_page(query, "per_page", "per-page")
    kind = None
    if "type" in query:
        try:
            kind = Kind(query["type"])
        except ValueError:
            raise bad_parameter("type") from None
    order = query.get("order", "date")
    if order not in ("date", "-date"):
        raise bad_parameter("order")
    after = None
    for name in ("cursor", "start-after"):
        if query.get(name):
            after = registry.codec.decode(query[name])
            if after is None:
                raise bad_parameter(name)
            break
    entries, has_more = registry.feed.page(
        kind=kind,
        start=_bound(query, "start-date", end_of_day=False),
        end=_bound(query, "end-date", end_of_day=True),
        after=after,
        descending=order == "-date",
        limit=limit,
    )
    return {
        "entries": [
            activity_json(a, registry.codec, registry.rates.account_currency) for a in entries
        ],
        "has_more": has_more,
        "per_page": limit,
        "cursor": registry.codec.encode(entries[-1].position) if entries else None,
    }
