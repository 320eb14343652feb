"""The Salesforce emulator's own admin calls (loopback only, never counted, never faulted).

``POST /__sandbox/merge`` with ``{"object": "Account", "winner": ID, "losers": [ID, ...]}``
does what an administrator's merge does (Salesforce Help, "Merge Duplicate Accounts"; SOAP API
Developer Guide, "merge()"; REST has no merge resource, so the sandbox offers it here):

- up to three records are merged, the winner and at most two losers (MAX_LOSERS);
- the losers' Contacts, Opportunities, Cases and Tasks move to the winner (``AccountId``,
  ``WhatId``);
- each loser is deleted, with ``MasterRecordId`` = the winner: ``queryAll`` still sees it
  (``IsDeleted = true``), ``query`` does not, and a write to it fails with
  ``ENTITY_IS_DELETED``.

Bad input is refused in Salesforce's error shape: 400 for a malformed body, more than two
losers, the winner among the losers or a loser twice; 404 NOT_FOUND for an Id the org does not
hold; 400 ENTITY_IS_DELETED for a record already deleted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cmsync.sandbox.base import ADMIN_PREFIX
from cmsync.sandbox.salesforce.errors import ApiError, RecordError, json_response
from cmsync.sandbox.salesforce.ids import InvalidIdError, normalize
from cmsync.sandbox.salesforce.org import Org, read_json
from cmsync.sandbox.salesforce.store import MERGE_CHILDREN

__all__ = ["MAX_LOSERS", "AdminRoutes"]

MAX_LOSERS = 2  # "You can merge up to three records at a time": a winner and two losers


def _bad(message: str, code: str = "INVALID_OPERATION") -> ApiError:
    return ApiError.of(400, code, message)


class AdminRoutes:
    def __init__(self, org: Org) -> None:
        self.org = org

    def register(self, app: web.Application) -> None:
        app.router.add_post(ADMIN_PREFIX + "merge", self.merge)

    def _ids(self, body: dict[str, Any]) -> tuple[str, list[str]]:
        winner, losers = body.get("winner"), body.get("losers")
        if not isinstance(winner, str) or not isinstance(losers, list) or not losers:
            raise _bad(
                'expected {"object": "Account", "winner": ID, "losers": [ID, ...]}',
                "JSON_PARSER_ERROR",
            )
        if len(losers) > MAX_LOSERS:
            raise _bad(
                f"A merge takes at most {MAX_LOSERS} records besides the master record "
                f"(up to three in all); got {len(losers)}"
            )
        if not all(isinstance(loser, str) for loser in losers):
            raise _bad("losers must be record Ids", "JSON_PARSER_ERROR")
        try:
            canonical = [normalize(i) for i in (winner, *losers)]
        except InvalidIdError as exc:
            raise ApiError.of(400, "MALFORMED_ID", f"malformed id: {exc}") from None
        if canonical[0] in canonical[1:]:
            raise _bad(f"The master record {winner} cannot also be merged into itself")
        if len(set(canonical[1:])) != len(canonical) - 1:
            raise _bad("A record to merge is named twice")
        return canonical[0], canonical[1:]

    async def merge(self, request: web.Request) -> web.Response:
        # The admin path bypasses the gate that turns errors into answers: do it here.
        try:
            return await self._merge(request)
        except ApiError as exc:
            return exc.response()

    async def _merge(self, request: web.Request) -> web.Response:
        value, _ = await read_json(request)
        if not isinstance(value, dict):
            raise _bad("body must be a JSON object", "JSON_PARSER_ERROR")
        name = value.get("object", "Account")
        spec = self.org.catalogue.get(str(name))
        if spec is None or spec.name not in MERGE_CHILDREN:
            raise _bad(f"merge is not supported for {name!r} here (only Account)")
        winner, losers = self._ids(value)
        store = self.org.store
        with store.lock:
            for record_id in (winner, *losers):
                try:
                    store.get(spec.name, record_id)
                except RecordError as exc:
                    status = 400 if exc.item.code == "ENTITY_IS_DELETED" else exc.status
                    raise ApiError(status, exc.item) from None
            moved = store.merge(spec.name, winner, losers)
        return json_response({"id": winner, "mergedRecordIds": losers, "updatedRelatedIds": moved})
