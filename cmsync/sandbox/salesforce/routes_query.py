"""``query`` and ``queryAll``: SOQL over the store, paged through ``nextRecordsUrl``.

The first page runs the query and, when rows remain, opens a cursor holding them; each
``nextRecordsUrl`` (``/services/data/vNN.N/query/01g...-2000``) names the cursor and the
position of the next page. Page size is 2,000 unless ``Sforce-Query-Options: batchSize=N``
asks for another (Salesforce honours 200 to 2,000).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from cmsync.sandbox.salesforce.cursors import Cursor
from cmsync.sandbox.salesforce.errors import ApiError, ErrorItem, json_response
from cmsync.sandbox.salesforce.org import Org
from cmsync.sandbox.salesforce.records import Record
from cmsync.sandbox.salesforce.soql import SoqlError, parse
from cmsync.sandbox.salesforce.soql.binder import Plan, bind
from cmsync.sandbox.salesforce.soql.evaluate import project, run

__all__ = ["QueryRoutes"]

DEFAULT_BATCH = 2000
MIN_BATCH = 200
_BATCH_SIZE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_LOCATOR = re.compile(r"(01g[A-Za-z0-9]{15})-(\d+)")


def batch_size(request: web.Request, default: int = DEFAULT_BATCH) -> int:
    match = _BATCH_SIZE.search(request.headers.get("Sforce-Query-Options", ""))
    if not match:
        return default
    return max(MIN_BATCH, min(DEFAULT_BATCH, int(match.group(1))))


def _invalid_locator() -> ApiError:
    return ApiError.of(400, "INVALID_QUERY_LOCATOR", "invalid query locator")


class QueryRoutes:
    def __init__(self, org: Org) -> None:
        self.org = org

    def register(self, app: web.Application) -> None:
        for endpoint in ("query", "queryAll"):
            base = f"/services/data/v{{version}}/{endpoint}"
            app.router.add_get(base + "{slash:/?}", self.first_page)
            app.router.add_get(base + "/{locator}", self.next_page)

    def _page(
        self, plan: Plan, rows: list[Record], start: int, size: int, cursor: Cursor | None
    ) -> dict[str, Any]:
        org = self.org
        end = start + size
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
        if cursor is not None and end < len(rows):
            body["nextRecordsUrl"] = f"{org.base}/{cursor.endpoint}/{cursor.locator}-{end}"
        with org.store.lock:
            body["records"] = [project(plan, r, org.store, org.version) for r in rows[start:end]]
        if cursor is not None and end >= len(rows):
            org.cursors.close(cursor.locator)
        return body

    async def first_page(self, request: web.Request) -> web.Response:
        org = self.org
        endpoint = "queryAll" if "/queryAll" in request.path else "query"
        text = request.query.get("q")
        if text is None:
            raise ApiError.of(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            plan = bind(parse(text), org.catalogue, org.store.find, org.store.now())
        except SoqlError as exc:
            raise ApiError(400, ErrorItem(exc.code, exc.message(text))) from None
        rows = run(plan, org.store, include_deleted=endpoint == "queryAll")
        if plan.select is None:  # COUNT()
            return json_response({"totalSize": len(rows), "done": True, "records": []})
        size = batch_size(request)
        cursor = org.cursors.open(plan, rows, endpoint, size) if len(rows) > size else None
        return json_response(self._page(plan, rows, 0, size, cursor))

    async def next_page(self, request: web.Request) -> web.Response:
        match = _LOCATOR.fullmatch(request.match_info["locator"])
        if match is None:
            raise _invalid_locator()
        cursor = self.org.cursors.get(match.group(1))
        if cursor is None:
            raise _invalid_locator()
        start = int(match.group(2))
        if start >= len(cursor.rows):
            raise _invalid_locator()
        size = batch_size(request, cursor.batch_size)
        return json_response(self._page(cursor.plan, cursor.rows, start, size, cursor))
