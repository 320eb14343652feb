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

``POST /__sandbox/reject`` with ``{"ids": [ID, ...], "errorCode": CODE, "message": TEXT}``
makes every update of those records (through ``PATCH``, a collection, or an upsert that matches
them) fail with that error, as an org's validation rule refuses a write with
``FIELD_CUSTOM_VALIDATION_EXCEPTION`` and the rule's own message (Salesforce Help, "Validation
Rules"; SOAP API Developer Guide, "StatusCode"): a single-record ``PATCH`` answers 400 with
the error list, a collection's record carries it as its ``statusCode``. ``GET`` lists the
rejections, ``DELETE`` lifts them all.
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
        app.router.add_post(ADMIN_PREFIX + "reject", self.reject)
        app.router.add_get(ADMIN_PREFIX + "reject", self.rejections)
        app.router.add_delete(ADMIN_PREFIX + "reject", self.unreject)

    # --- rejected writes ------------------------------------------------------------------

    async def reject(self, request: web.Request) -> web.Response:
        """Every update of the named records fails with the given error until ``DELETE``."""
        try:
            value, _ = await read_json(request)
            ids, code, message = value.get("ids"), value.get("errorCode"), value.get("message")
            if (
                not isinstance(ids, list)
                or not all(isinstance(i, str) for i in ids)
                or not isinstance(code, str)
                or not code
                or not isinstance(message, str)
            ):
                raise _bad(
                    'expected {"ids": [ID, ...], "errorCode": CODE, "message": TEXT}',
                    "JSON_PARSER_ERROR",
                )
            try:
                canonical = [normalize(i) for i in ids]
            except InvalidIdError as exc:
                raise ApiError.of(400, "MALFORMED_ID", f"malformed id: {exc}") from None
        except ApiError as exc:
            return exc.response()
        except AttributeError:
            return _bad("body must be a JSON object", "JSON_PARSER_ERROR").response()
        with self.org.store.lock:
            self.org.store.rejections.update(dict.fromkeys(canonical, (code, message)))
        return await self.rejections(request)

    async def rejections(self, _: web.Request) -> web.Response:
        with self.org.store.lock:
            held = dict(self.org.store.rejections)
        return json_response(
            {"rejected": {i: {"errorCode": c, "message": m} for i, (c, m) in held.items()}}
        )

    async def unreject(self, request: web.Request) -> web.Response:
        with self.org.store.lock:
            self.org.store.rejections.clear()
        return await self.rejections(request)

    # --- merge ----------------------------------------------------------------------------

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
