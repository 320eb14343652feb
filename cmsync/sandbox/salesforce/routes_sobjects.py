"""``/sobjects``: describe, and one record at a time by Id or by External ID.

URLs are accepted with or without a trailing slash, as simple-salesforce sends both
(``sobjects/Account/`` to create, ``sobjects/Account/describe`` to describe). A path segment
that is not an Id is read as an External ID field name, which is why a bad Id answers
"Provided external ID field does not exist or is not accessible". Upsert answers 201 with a
body when it creates, and 200 with ``created: false`` when it updates (API 46.0 and later;
earlier versions answer 204 with no body).
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from cmsync.salesforce.schema import SObjectSpec
from cmsync.sandbox.salesforce.describe import global_describe, sobject_basic, sobject_describe
from cmsync.sandbox.salesforce.errors import ApiError, RecordError, json_response
from cmsync.sandbox.salesforce.org import (
    Org,
    field_list,
    json_type_error,
    object_body,
    read_json,
    record_body,
)
from cmsync.sandbox.salesforce.records import Record
from cmsync.sandbox.salesforce.store import MultipleMatchError
from cmsync.sandbox.salesforce.values import JsonTypeError, format_datetime, parse_datetime

__all__ = ["SObjectRoutes"]

CREATED_FLAG_SINCE = 46  # API version that added "created" and 200 to upsert answers


def _ext_field_missing(name: str) -> ApiError:
    return ApiError.of(
        404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}"
    )


class SObjectRoutes:
    def __init__(self, org: Org) -> None:
        self.org = org

    def register(self, app: web.Application) -> None:
        base = "/services/data/v{version}/sobjects"
        slash = "{slash:/?}"
        router = app.router
        router.add_get(base + slash, self.describe_global)
        router.add_get(base + "/{sobject}" + slash, self.basic_info)
        router.add_post(base + "/{sobject}" + slash, self.create)
        router.add_get(base + "/{sobject}/describe" + slash, self.describe)
        router.add_get(base + "/{sobject}/updated" + slash, self.updated)
        router.add_get(base + "/{sobject}/deleted" + slash, self.deleted)
        one = base + "/{sobject}/{record_id}" + slash
        router.add_get(one, self.retrieve)
        router.add_patch(one, self.update)
        router.add_delete(one, self.delete)
        by_ext = base + "/{sobject}/{field}/{value:.+}"
        router.add_get(by_ext, self.retrieve_by_external_id)
        router.add_patch(by_ext, self.upsert)
        router.add_delete(by_ext, self.delete_by_external_id)

    def _spec(self, request: web.Request) -> SObjectSpec:
        return self.org.sobject(request.match_info["sobject"])

    # --- describe ----------------------------------------------------------------------

    async def describe_global(self, _: web.Request) -> web.Response:
        return json_response(global_describe(self.org.catalogue, self.org.version))

    async def basic_info(self, request: web.Request) -> web.Response:
        spec = self._spec(request)
        with self.org.store.lock:
            recent = [r for r in self.org.store.tables[spec.name] if not r.deleted][-5:]
        name = spec.name_field
        items = [
            {**record_body(r, spec, self.org.version, ["Id"]),
             **({name.name: r.values.get(name.name)} if name else {})}
            for r in reversed(recent)
        ]  # fmt: skip
        return json_response(
            {"objectDescribe": sobject_basic(spec, self.org.version), "recentItems": items}
        )

    async def describe(self, request: web.Request) -> web.Response:
        spec = self._spec(request)
        return json_response(sobject_describe(spec, self.org.catalogue, self.org.version))

    # --- one record by Id --------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        spec = self._spec(request)
        value, text = await read_json(request)
        body = object_body(value, spec.name, text)
        try:
            record_id = self.org.store.insert(spec.name, body, api=True)
        except JsonTypeError as exc:
            raise json_type_error(exc, text) from None
        return json_response({"id": record_id, "success": True, "errors": []}, 201)

    async def retrieve(self, request: web.Request) -> web.Response:
        spec = self._spec(request)
        fields = field_list(spec, request.query.get("fields"))
        record = self.org.store.get(spec.name, request.match_info["record_id"])
        return json_response(record_body(record, spec, self.org.version, fields))

    async def update(self, request: web.Request) -> web.Response:
        spec = self._spec(request)
        value, text = await read_json(request)
        body = object_body(value, spec.name, text)
        try:
            self.org.store.update(spec.name, request.match_info["record_id"], body, api=True)
        except JsonTypeError as exc:
            raise json_type_error(exc, text) from None
        return web.Response(status=204)

    async def delete(self, request: web.Request) -> web.Response:
        spec = self._spec(request)
        self.org.store.delete(spec.name, request.match_info["record_id"])
        return web.Response(status=204)

    # --- one record by External ID -----------------------------------------------------

    def _ext_matches(self, request: web.Request) -> tuple[SObjectSpec, str, list[Record]]:
        spec = self._spec(request)
        name = request.match_info["field"]
        field = spec.field(name)
        if field is None or not (field.external_id or field.name == "Id"):
            raise _ext_field_missing(name)
        value = request.match_info["value"]
        return spec, field.name, self.org.store.external_match(spec.name, field.name, value)

    def _several(self, spec: SObjectSpec, records: list[Record]) -> ApiError:
        urls = [f"{self.org.base}/sobjects/{spec.name}/{r.id}" for r in records]
        return ApiError(300, body=urls)

    async def retrieve_by_external_id(self, request: web.Request) -> web.Response:
        spec, _, matches = self._ext_matches(request)
        if len(matches) > 1:
            raise self._several(spec, matches)
        if not matches:
            raise RecordError("NOT_FOUND", "The requested resource does not exist", status=404)
        fields = field_list(spec, request.query.get("fields"))
        return json_response(record_body(matches[0], spec, self.org.version, fields))

    async def delete_by_external_id(self, request: web.Request) -> web.Response:
        spec, _, matches = self._ext_matches(request)
        if len(matches) > 1:
            raise self._several(spec, matches)
        if not matches:
            raise RecordError("NOT_FOUND", "The requested resource does not exist", status=404)
        self.org.store.delete(spec.name, matches[0].id)
        return web.Response(status=204)

    async def upsert(self, request: web.Request) -> web.Response:
        spec, field, matches = self._ext_matches(request)
        value, text = await read_json(request)
        body = object_body(value, spec.name, text)
        if not matches and request.query.get("updateOnly", "").lower() == "true":
            raise RecordError("NOT_FOUND", "The requested resource does not exist", status=404)
        try:
            outcome = self.org.store.upsert(
                spec.name, field, request.match_info["value"], body, api=True
            )
        except JsonTypeError as exc:
            raise json_type_error(exc, text) from None
        except MultipleMatchError as exc:
            raise self._several(spec, exc.records) from None
        answer: dict[str, object] = {"id": outcome.id, "success": True, "errors": []}
        if self.org.config.major_version < CREATED_FLAG_SINCE:
            return json_response(answer, 201) if outcome.created else web.Response(status=204)
        answer["created"] = outcome.created
        return json_response(answer, 201 if outcome.created else 200)

    # --- changes in a window -----------------------------------------------------------

    def _window(self, request: web.Request) -> tuple[datetime, datetime]:
        start = parse_datetime(request.query.get("start", ""))
        end = parse_datetime(request.query.get("end", ""))
        if start is None or end is None or end < start:
            raise ApiError.of(
                400, "INVALID_REPLICATION_DATE", "start and end must be date-times, start first"
            )
        return start, min(end, self.org.store.now())

    async def updated(self, request: web.Request) -> web.Response:
        spec = self._spec(request)
        start, end = self._window(request)
        with self.org.store.lock:
            ids = [
                r.id
                for r in self.org.store.tables[spec.name]
                if not r.deleted and start <= _modstamp(r) <= end
            ]
        return json_response({"ids": ids, "latestDateCovered": format_datetime(end)})

    async def deleted(self, request: web.Request) -> web.Response:
        spec = self._spec(request)
        start, end = self._window(request)
        with self.org.store.lock:
            gone = [
                {"deletedDate": format_datetime(_modstamp(r)), "id": r.id}
                for r in self.org.store.tables[spec.name]
                if r.deleted and start <= _modstamp(r) <= end
            ]
        return json_response(
            {
                "deletedRecords": gone,
                "earliestDateAvailable": format_datetime(start),
                "latestDateCovered": format_datetime(end),
            }
        )


def _modstamp(record: Record) -> datetime:
    stamp = record.values.get("SystemModstamp")
    assert isinstance(stamp, datetime)
    return stamp
