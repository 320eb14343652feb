"""Turning a create or an update into the record to store, checked as Salesforce checks it.

The order of checks follows the platform's: unknown fields (INVALID_FIELD), fields the caller
may not write (INVALID_FIELD_FOR_INSERT_UPDATE, REST path only: seeding is a system path that
may set read-only fields such as a converted Lead's), a converted Lead (REST path, unless the
user may edit converted Leads: CANNOT_UPDATE_CONVERTED_LEAD), value types and rules (values.py),
required fields, references to other records, and last unique values (DUPLICATE_VALUE).
Derived fields are then filled in: system fields from the emulated clock, the owner, picklist
and checkbox defaults, a person's Name, and an Opportunity's IsWon/IsClosed/Probability.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cmsync.salesforce.catalogue import OPPORTUNITY_STAGES
from cmsync.salesforce.schema import Catalogue, FieldSpec, FieldType, SObjectSpec
from cmsync.sandbox.salesforce.errors import RecordError
from cmsync.sandbox.salesforce.records import Record
from cmsync.sandbox.salesforce.values import Value, from_json

__all__ = ["StoreView", "WriteContext", "build_insert", "build_update"]

_STAGES = {s.name: s for s in OPPORTUNITY_STAGES}
_SYSTEM = frozenset(
    {"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
     "SystemModstamp"}
)  # fmt: skip


class StoreView(Protocol):
    """What validation needs to know about other records."""

    @property
    def catalogue(self) -> Catalogue: ...
    def find(self, record_id: str) -> Record | None: ...
    def external_match(self, sobject: str, field: str, value: object) -> list[Record]: ...
    def sobject_of(self, record_id: str) -> SObjectSpec | None: ...


@dataclass(frozen=True)
class WriteContext:
    store: StoreView
    now: datetime
    user_id: str | None  # None while the first (integration) user is being created
    api: bool  # True: the REST path, which enforces createable/updateable
    new_id: Callable[[SObjectSpec], str]
    next_seq: Callable[[], int]
    next_number: Callable[[SObjectSpec], int]  # auto-number fields
    # The user's "View and Edit Converted Leads" permission (REST path only: seeding and the
    # demo's convertLead stand-in are system writes).
    edit_converted_leads: bool = False


def _resolve(
    spec: SObjectSpec, fields: Mapping[str, object], ctx: WriteContext
) -> list[tuple[FieldSpec, object]]:
    """Field specs for the keys of a write; relationship keys resolve an External ID to an Id."""
    out: list[tuple[FieldSpec, object]] = []
    for key, raw in fields.items():
        if key == "attributes":
            continue
        field = spec.field(key)
        if field is None:
            relationship = spec.relationship(key)
            if relationship is not None and isinstance(raw, dict) and len(raw) >= 1:
                out.append((relationship, _by_external_id(relationship, raw, ctx)))
                continue
            raise RecordError(
                "INVALID_FIELD", f"No such column '{key}' on sobject of type {spec.name}"
            )
        out.append((field, raw))
    return out


def _by_external_id(field: FieldSpec, raw: dict[str, object], ctx: WriteContext) -> str:
    """``"Account": {"CM_Customer_UUID__c": "cus_1"}``: the Id of the one matching record."""
    attributes = raw.get("attributes")
    named = attributes.get("type") if isinstance(attributes, dict) else None
    target = ctx.store.catalogue.get(str(named or field.reference_to[0]))
    body = {k: v for k, v in raw.items() if k != "attributes"}
    if target is None or target.name not in field.reference_to or len(body) != 1:
        raise RecordError(
            "INVALID_FIELD",
            f"Foreign key external ID must name one External ID field of a record the "
            f"{field.relationship_name} relationship can point at",
        )
    ((key, value),) = body.items()
    key_field = target.field(key)
    if key_field is None or not (key_field.external_id or key_field.name == "Id"):
        raise RecordError(
            "INVALID_FIELD", f"Field {key} is not an External ID field of {target.name}"
        )
    matches = ctx.store.external_match(target.name, key_field.name, value)
    if not matches:
        raise RecordError(
            "INVALID_FIELD",
            f"Foreign key external ID: {value} not found for field {key_field.name} in entity "
            f"{target.name}",
        )
    if len(matches) > 1:
        raise RecordError(
            "INVALID_FIELD",
            f"Foreign key external ID: {value} matches more than one record for field "
            f"{key_field.name} in entity {target.name}",
        )
    return matches[0].id


def _check_access(fields: list[tuple[FieldSpec, object]], creating: bool) -> None:
    refused = [f.name for f, _ in fields if not (f.createable if creating else f.updateable)]
    if refused:
        names = ", ".join(refused)
        raise RecordError(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {names}. Please check the security settings of "
            "this field and verify that it is read/write for your profile or permission set.",
            refused,
        )


def _convert(fields: list[tuple[FieldSpec, object]]) -> dict[str, Value]:
    values: dict[str, Value] = {}
    for spec, raw in fields:
        value = from_json(spec, raw)
        if value is None and spec.type is FieldType.BOOLEAN:
            raise RecordError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                f"{spec.label}: value not of required type: ",
                [spec.name],
            )
        values[spec.name] = value
    return values


def _check_references(spec: SObjectSpec, values: Mapping[str, Value], ctx: WriteContext) -> None:
    for name, value in values.items():
        field = spec.field(name)
        if field is None or field.type is not FieldType.REFERENCE or not isinstance(value, str):
            continue
        target = ctx.store.sobject_of(value)
        if target is None or target.name not in field.reference_to:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"{field.label}: id value of incorrect type: {value}",
                [name],
            )
        found = ctx.store.find(value)
        if found is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name])
        if found.deleted:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])


# Objects whose owner must be an active user (SOAP API Developer Guide, "StatusCode":
# INACTIVE_OWNER_OR_USER, "operation performed with inactive user [Id] as owner of task").
_ACTIVE_OWNER = frozenset({"Task", "Case"})


def _check_owner(spec: SObjectSpec, values: Mapping[str, Value], ctx: WriteContext) -> None:
    """A Task or Case given to a deactivated user (``IsActive`` false) is refused."""
    owner = values.get("OwnerId")
    if spec.name not in _ACTIVE_OWNER or not isinstance(owner, str):
        return
    user = ctx.store.find(owner)
    if user is not None and user.sobject == "User" and user.get("IsActive") is False:
        raise RecordError(
            "INACTIVE_OWNER_OR_USER",
            f"operation performed with inactive user [{owner}] as owner of {spec.name.lower()}",
            [],
        )


def _check_required(spec: SObjectSpec, values: Mapping[str, Value], creating: bool) -> None:
    missing = [
        f.name
        for f in spec.fields
        if not f.nillable
        and f.name not in _SYSTEM
        and values.get(f.name) is None
        and (f.required if creating else f.name in values)
    ]
    if missing:
        raise RecordError(
            "REQUIRED_FIELD_MISSING",
            f"Required fields are missing: [{', '.join(missing)}]",
            missing,
        )


def _check_unique(
    spec: SObjectSpec, values: Mapping[str, Value], record_id: str, ctx: WriteContext
) -> None:
    for field in spec.fields:
        value = values.get(field.name)
        if not field.unique or value is None or field.name == "Id":
            continue
        others = [
            r for r in ctx.store.external_match(spec.name, field.name, value) if r.id != record_id
        ]
        if others:
            raise RecordError(
                "DUPLICATE_VALUE",
                f"duplicate value found: {field.name} duplicates value on record with id: "
                f"{others[0].id}",
                [],
            )


def _derive(spec: SObjectSpec, values: dict[str, Value], changed: Mapping[str, Value]) -> None:
    """Fields the platform computes from others."""
    name = spec.field("Name")
    if name is not None and not name.createable and spec.field("LastName") is not None:
        parts = (values.get("FirstName"), values.get("LastName"))
        values["Name"] = " ".join(str(p) for p in parts if p) or None
    if spec.name == "Opportunity":
        stage = _STAGES.get(str(values.get("StageName")))
        values["IsClosed"] = bool(stage and stage.closed)
        values["IsWon"] = bool(stage and stage.won)
        if "StageName" in changed and "Probability" not in changed and stage is not None:
            values["Probability"] = float(stage.probability)


def _defaults(
    spec: SObjectSpec, values: dict[str, Value], ctx: WriteContext, record_id: str
) -> None:
    for field in spec.fields:
        if values.get(field.name) is not None or field.name in _SYSTEM:
            continue
        if field.name == "OwnerId":
            values["OwnerId"] = ctx.user_id or record_id
        elif field.auto_number:
            values[field.name] = f"{ctx.next_number(spec):08d}"
        elif field.type is FieldType.BOOLEAN:
            values[field.name] = field.default_value is True
        elif field.default_picklist_value is not None and field.defaulted_on_create:
            values[field.name] = field.default_picklist_value
        elif field.name_field and field.defaulted_on_create and field.createable:
            values[field.name] = record_id  # a custom object's Name defaults to its Id


def _stamp(values: dict[str, Value], ctx: WriteContext, record_id: str, creating: bool) -> None:
    user = ctx.user_id or record_id
    if creating:
        values.setdefault("CreatedDate", ctx.now)
        values.setdefault("CreatedById", user)
        values["IsDeleted"] = False
    values["LastModifiedDate"] = ctx.now
    values["LastModifiedById"] = user
    values["SystemModstamp"] = ctx.now


def build_insert(spec: SObjectSpec, fields: Mapping[str, object], ctx: WriteContext) -> Record:
    """The record a create of ``fields`` stores; RecordError (or JsonTypeError) if refused."""
    resolved = _resolve(spec, fields, ctx)
    if any(f.name == "Id" for f, _ in resolved):
        raise RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
    if ctx.api:
        _check_access(resolved, creating=True)
    given = _convert(resolved)
    record_id = ctx.new_id(spec)
    values = dict(given)
    values["Id"] = record_id
    _defaults(spec, values, ctx, record_id)
    _derive(spec, values, given)
    _check_required(spec, values, creating=True)
    _check_references(spec, given, ctx)
    _check_owner(spec, values, ctx)
    _check_unique(spec, values, record_id, ctx)
    _stamp(values, ctx, record_id, creating=True)
    return Record(spec.name, record_id, ctx.next_seq(), _compact(values))


def _check_converted_lead(spec: SObjectSpec, existing: Record, ctx: WriteContext) -> None:
    """A converted Lead is read-only to the API unless the user may edit converted Leads.

    Salesforce Help, "Cannot update converted lead" (article 000384333): any update of a Lead
    with IsConverted = true fails with CANNOT_UPDATE_CONVERTED_LEAD, "cannot reference
    converted lead", unless the user has the "View and Edit Converted Leads" permission (the
    code is in the REST/SOAP API Developer Guide's StatusCode list). It is checked before the
    fields themselves, so even an empty or valid update is refused.
    """
    if (
        ctx.api
        and spec.name == "Lead"
        and existing.get("IsConverted") is True
        and not ctx.edit_converted_leads
    ):
        raise RecordError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])


def build_update(
    spec: SObjectSpec, existing: Record, fields: Mapping[str, object], ctx: WriteContext
) -> Record:
    """The record an update of ``existing`` with ``fields`` stores; RecordError if refused."""
    _check_converted_lead(spec, existing, ctx)
    resolved = _resolve(spec, fields, ctx)
    if any(f.name == "Id" for f, _ in resolved):
        raise RecordError(
            "INVALID_FIELD", "The Id field should not be specified in the sobject data."
        )
    if ctx.api:
        _check_access(resolved, creating=False)
    given = _convert(resolved)
    _check_required(spec, given, creating=False)
    _check_references(spec, given, ctx)
    _check_owner(spec, given, ctx)
    values = dict(existing.values)
    values.update(given)
    _derive(spec, values, given)
    _check_unique(spec, values, existing.id, ctx)
    _stamp(values, ctx, existing.id, creating=False)
    return Record(spec.name, existing.id, existing.seq, _compact(values))


def _compact(values: Mapping[str, Value]) -> dict[str, Value]:
    return {k: v for k, v in values.items() if v is not None}
