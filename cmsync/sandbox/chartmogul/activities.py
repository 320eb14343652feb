"""``GET /v1/activities``: the account-wide activity feed, with both pagination styles.

Current style: ``per_page`` + ``cursor``. Documented style (dev.chartmogul.com, "List
Activities"; the official Go client, chartmogul-go, pages this way): ``start-after=<uuid of the
last entry read>``. Both resume strictly after a *position* (see ``feed``), so they survive a
rebuild of the activity they name.

The cursor is modelled on the official Ruby client's recorded traffic (chartmogul-ruby,
``spec/fixtures/vcr_cassettes/ChartMogul_Metrics_Activity/*``): the ``cursor`` returned with a
page that has more names the *next, unseen* entry (the uuid of the first entry of the next
page), and sending it back returns the entries *after* it, so a client that trusts the cursor
skips one entry per page (the Ruby spec asserts that order). Here it is the encoding of that
next entry's position, which is also that entry's uuid. On the last page (``has_more`` false)
the cursor names the last entry returned (chosen: no source shows it), so sending it back
returns nothing new.

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
    named = entries[-1] if entries else None
    if has_more and named is not None:  # the next, unseen entry (see the module docstring)
        following, _ = registry.feed.page(
            kind=kind,
            start=_bound(query, "start-date", end_of_day=False),
            end=_bound(query, "end-date", end_of_day=True),
            after=named.position,
            descending=order == "-date",
            limit=1,
        )
        named = following[0] if following else named
    return {
        "entries": [
            activity_json(a, registry.codec, registry.rates.account_currency) for a in entries
        ],
        "has_more": has_more,
        "per_page": limit,
        "cursor": registry.codec.encode(named.position) if named is not None else None,
    }
