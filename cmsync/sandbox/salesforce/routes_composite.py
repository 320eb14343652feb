"""sObject Collections: up to 200 records per call, with one result per record, in order.

``POST /composite/sobjects`` creates, ``PATCH`` updates (each record carries its ``id``),
``PATCH /composite/sobjects/{Type}/{ExtField}`` upserts, ``DELETE ?ids=`` deletes, and
``GET /composite/sobjects/{Type}?ids=&fields=`` reads. Each call runs in one store
transaction: with ``allOrNone`` true, one failed record rolls every write back and the records
that had succeeded report ALL_OR_NONE_OPERATION_ROLLED_BACK; with it false (the default) each
record stands alone. A value of the wrong JSON type fails the whole call (JSON_PARSER_ERROR),
as Salesforce's reader fails before any record is saved.

An upsert call first looks for External ID values given twice in it: every record of such a
value fails with DUPLICATE_VALUE "Duplicate external id specified: <value>" (``created``
false, no id), values compared as the field compares them (case-insensitively unless it is
case-sensitive), and the call's other records are written as usual (REST API Developer Guide,
"Upsert Multiple Records with Fewer Round-Trips", API 46.0 and later).

Fault injection: before each record is written, ``faults.lock_row`` draws for a key naming
that record (``Type|Id``, ``Type|Field=value`` or a digest of a new record's fields), and a hit
fails just that record with UNABLE_TO_LOCK_ROW, as a row lock held elsewhere would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from cmsync.salesforce.schema import FieldSpec, SObjectSpec
from cmsync.sandbox.salesforce.errors import ApiError, ErrorItem, RecordError, json_response
from cmsync.sandbox.salesforce.ids import InvalidIdError, normalize
from cmsync.sandbox.salesforce.org import (
    Org,
    field_list,
    json_type_error,
    parser_error,
    read_json,
    record_body,
)
from cmsync.sandbox.salesforce.records import index_key
from cmsync.sandbox.salesforce.store import MultipleMatchError
from cmsync.sandbox.salesforce.values import JsonTypeError

__all__ = ["CollectionRoutes"]

MAX_RECORDS = 200
ROLLED_BACK = ErrorItem(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone "
    "header",
    (),
)


@dataclass(frozen=True)
class Outcome:
    """One record's result."""

    error: ErrorItem | None = None
    id: str | None = None
    created: bool = False

    def body(self, upsert: bool) -> dict[str, Any]:
        answer: dict[str, Any]
        if self.error is None:
            answer = {"id": self.id, "success": True, "errors": []}
        else:
            answer = {"success": False, "errors": [self.error.record_body()]}
        if upsert:
            answer["created"] = self.created and self.error is None
        return answer


def _failed(code: str, message: str, fields: tuple[str, ...] = ()) -> Outcome:
    return Outcome(ErrorItem(code, message, fields))


def _too_many() -> ApiError:
    return ApiError.of(
        400,
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
    )


def _key_of(record: dict[str, Any], name: str) -> Any:
    return next((v for k, v in record.items() if k.casefold() == name.casefold()), None)


def _key_text(raw: Any) -> str | None:
    """An upsert record's External ID value as text (None: missing, refused on its own)."""
    if raw is None or raw == "" or isinstance(raw, dict | list):
        return None
    return str(raw).lower() if isinstance(raw, bool) else str(raw)


def _duplicated(records: list[Any], field: FieldSpec) -> set[int]:
    """Indexes of the records whose External ID value another record of the call repeats."""
    seen: dict[object, list[int]] = {}
    for index, record in enumerate(records):
        value = _key_text(_key_of(record, field.name))
        if value is not None:
            seen.setdefault(index_key(field, value), []).append(index)
    return {i for indexes in seen.values() if len(indexes) > 1 for i in indexes}


class CollectionRoutes:
    def __init__(self, org: Org) -> None:
        self.org = org

    def register(self, app: web.Application) -> None:
        base = "/services/data/v{version}/composite/sobjects"
        slash = "{slash:/?}"
        app.router.add_post(base + slash, self.create)
        app.router.add_patch(base + slash, self.update)
        app.router.add_delete(base + slash, self.delete)
        app.router.add_get(base + "/{sobject}" + slash, self.retrieve)
        app.router.add_post(base + "/{sobject}" + slash, self.retrieve)
        app.router.add_patch(base + "/{sobject}/{field}" + slash, self.upsert)

    # --- the common frame --------------------------------------------------------------

    async def _records(self, request: web.Request) -> tuple[list[Any], bool, str]:
        value, text = await read_json(request)
        if not isinstance(value, dict) or not isinstance(value.get("records"), list):
            raise parser_error("Cannot deserialize instance of records, expected a list")
        all_or_none = value.get("allOrNone", False)
        if not isinstance(all_or_none, bool):
            raise parser_error(f"Cannot deserialize instance of boolean from {all_or_none!r}")
        records: list[Any] = value["records"]
        if len(records) > MAX_RECORDS:
            raise _too_many()
        if not all(isinstance(r, dict) for r in records):
            raise parser_error("Cannot deserialize instance of SObject: a record is not an object")
        return records, all_or_none, text

    def _run(
        self,
        items: list[Any],
        all_or_none: bool,
        text: str,
        one: Callable[[Any], Outcome],
        upsert: bool = False,
    ) -> web.Response:
        try:
            with self.org.store.transaction() as transaction:
                outcomes = [one(item) for item in items]
                if all_or_none and any(o.error is not None for o in outcomes):
                    transaction.rollback()
                    outcomes = [Outcome(o.error or ROLLED_BACK) for o in outcomes]
        except JsonTypeError as exc:  # the transaction has rolled back
            raise json_type_error(exc, text) from None
        return json_response([o.body(upsert) for o in outcomes])

    def _locked(self, key: str, record_id: str | None) -> Outcome | None:
        if not self.org.ctx.faults.lock_row(key):
            return None
        message = "unable to obtain exclusive access to this record"
        if record_id is not None:
            message += f" or 1 records: {record_id}"
        return _failed("UNABLE_TO_LOCK_ROW", message)

    def _type(self, record: dict[str, Any], record_id: str | None) -> SObjectSpec | Outcome:
        attributes = record.get("attributes")
        name = attributes.get("type") if isinstance(attributes, dict) else None
        if name is None and record_id is not None:
            spec = self.org.store.sobject_of(record_id)
            if spec is not None:
                return spec
        if not isinstance(name, str):
            return _failed("INVALID_TYPE", "Must send a concrete entity type.")
        spec = self.org.catalogue.get(name)
        if spec is None:
            return _failed("INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return spec

    # --- writes ------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        records, all_or_none, text = await self._records(request)
        return self._run(records, all_or_none, text, self._create_one)

    def _create_one(self, record: dict[str, Any]) -> Outcome:
        spec = self._type(record, None)
        if isinstance(spec, Outcome):
            return spec
        digest = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode())
        locked = self._locked(f"{spec.name}|new|{digest.hexdigest()[:16]}", None)
        if locked is not None:
            return locked
        try:
            return Outcome(id=self.org.store.insert(spec.name, record, api=True))
        except RecordError as exc:
            return Outcome(exc.item)

    async def update(self, request: web.Request) -> web.Response:
        records, all_or_none, text = await self._records(request)
        return self._run(records, all_or_none, text, self._update_one)

    def _update_one(self, record: dict[str, Any]) -> Outcome:
        raw_id = _key_of(record, "Id")
        if not isinstance(raw_id, str) or not raw_id:
            return _failed("MISSING_ARGUMENT", "Id not specified in an update call")
        spec = self._type(record, raw_id)
        if isinstance(spec, Outcome):
            return spec
        try:
            record_id = normalize(raw_id)
        except InvalidIdError:
            record_id = ""
        if record_id[:3] != spec.key_prefix:
            return _failed(
                "MALFORMED_ID", f"{spec.label} ID: id value of incorrect type: {raw_id}", ("Id",)
            )
        locked = self._locked(f"{spec.name}|{record_id}", record_id)
        if locked is not None:
            return locked
        fields = {k: v for k, v in record.items() if k.casefold() != "id"}
        try:
            self.org.store.update(spec.name, record_id, fields, api=True)
        except RecordError as exc:
            if exc.item.code == "NOT_FOUND":
                return _failed("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            return Outcome(exc.item)
        return Outcome(id=record_id)

    async def upsert(self, request: web.Request) -> web.Response:
        spec = self.org.sobject(request.match_info["sobject"])
        name = request.match_info["field"]
        field = spec.field(name)
        if field is None or not (field.external_id or field.name == "Id"):
            raise ApiError.of(
                400,
                "INVALID_FIELD",
                f"Field name provided, {name} is not an External ID or indexed field for "
                f"{spec.name}",
            )
        records, all_or_none, text = await self._records(request)
        # Decided before anything is written: each record of a repeated value fails, however
        # many of them there are, and none of them is written.
        twice = _duplicated(records, field)

        def one(item: tuple[int, dict[str, Any]]) -> Outcome:
            index, record = item
            if index in twice:
                value = _key_text(_key_of(record, field.name))
                return _failed("DUPLICATE_VALUE", f"Duplicate external id specified: {value}")
            return self._upsert_one(spec, field.name, record)

        return self._run(list(enumerate(records)), all_or_none, text, one, True)

    def _upsert_one(self, spec: SObjectSpec, field: str, record: dict[str, Any]) -> Outcome:
        value = _key_text(_key_of(record, field))
        if value is None:
            return _failed("MISSING_ARGUMENT", f"{field} not specified")
        locked = self._locked(f"{spec.name}|{field}={value}", None)
        if locked is not None:
            return locked
        try:
            outcome = self.org.store.upsert(spec.name, field, value, record, api=True)
        except MultipleMatchError as exc:
            ids = ", ".join(r.id for r in exc.records)
            return _failed(
                "DUPLICATE_EXTERNAL_ID",
                f"{field}: more than one record found for external id field: [{ids}]",
            )
        except RecordError as exc:
            return Outcome(exc.item)
        return Outcome(id=outcome.id, created=outcome.created)

    async def delete(self, request: web.Request) -> web.Response:
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if not ids:
            raise ApiError.of(400, "MISSING_ARGUMENT", "ids parameter is required")
        if len(ids) > MAX_RECORDS:
            raise _too_many()
        all_or_none = request.query.get("allOrNone", "false").lower() == "true"
        return self._run(ids, all_or_none, "", self._delete_one)

    def _delete_one(self, raw_id: str) -> Outcome:
        try:
            record_id = normalize(raw_id)
        except InvalidIdError:
            return _failed("MALFORMED_ID", f"malformed id {raw_id}")
        spec = self.org.store.sobject_of(record_id)
        if spec is None:
            return _failed("MALFORMED_ID", f"malformed id {raw_id}")
        locked = self._locked(f"{spec.name}|{record_id}", record_id)
        if locked is not None:
            return locked
        try:
            self.org.store.delete(spec.name, record_id)
        except RecordError as exc:
            if exc.item.code in ("NOT_FOUND", "ENTITY_IS_DELETED"):
                return _failed("ENTITY_IS_DELETED", "entity is deleted")
            return Outcome(exc.item)
        return Outcome(id=record_id)

    # --- reads -------------------------------------------------------------------------

    async def retrieve(self, request: web.Request) -> web.Response:
        spec = self.org.sobject(request.match_info["sobject"])
        if request.method == "POST":
            value, _ = await read_json(request)
            body = value if isinstance(value, dict) else {}
            ids = [str(i) for i in body.get("ids", [])]
            raw_fields = body.get("fields")
            fields_text = ",".join(raw_fields) if isinstance(raw_fields, list) else None
        else:
            ids = [i for i in request.query.get("ids", "").split(",") if i]
            fields_text = request.query.get("fields")
        if len(ids) > 2000:
            raise _too_many()
        fields = field_list(spec, fields_text)
        answer = []
        with self.org.store.lock:
            for raw_id in ids:
                record = self.org.store.find(raw_id)
                live = record is not None and record.sobject == spec.name and not record.deleted
                answer.append(
                    record_body(record, spec, self.org.version, fields) if record and live else None
                )
        return json_response(answer)
