"""Resolving field paths (``Name``, ``Account.Owner.Email``) against the catalogue.

Each hop of a path is a parent relationship (the relationship name of a reference field, e.g.
``Account`` for ``AccountId``, ``CM_Success_Manager__r`` for ``CM_Success_Manager__c``). A
polymorphic relationship (a Task's ``What``, ``Who``) leads to the ``Name`` pseudo-object,
which has only ``Id``, ``Name`` and ``Type``, answered from whatever record the Id points at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cmsync.salesforce.schema import Catalogue, FieldSpec, FieldType, SObjectSpec
from cmsync.sandbox.salesforce.records import Record
from cmsync.sandbox.salesforce.soql.errors import SoqlError
from cmsync.sandbox.salesforce.soql.nodes import FieldPath
from cmsync.sandbox.salesforce.values import Value

__all__ = ["BoundPath", "Finder", "bind_path", "getter", "name_object_value", "parent_record"]

Finder = Callable[[str], Record | None]

_NAME_OBJECT_FIELDS = {
    "id": FieldSpec("Id", FieldType.ID, "Id", length=18),
    "name": FieldSpec("Name", FieldType.STRING, "Name", length=255),
    "type": FieldSpec("Type", FieldType.STRING, "Type", length=255),
}
_CUSTOM_FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
    "field name. Please reference your WSDL or the describe call for the appropriate names."
)
_RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the "
    "custom relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)


@dataclass(frozen=True)
class BoundPath:
    """A resolved path: the reference fields followed, then the field read."""

    hops: tuple[FieldSpec, ...]
    field: FieldSpec
    polymorphic: bool  # the last hop is polymorphic: ``field`` is on the Name pseudo-object

    @property
    def names(self) -> tuple[str, ...]:
        """Output keys, outermost first: relationship names, then the field."""
        return (*(str(h.relationship_name) for h in self.hops), self.field.name)


def bind_path(path: FieldPath, root: SObjectSpec, catalogue: Catalogue) -> BoundPath:
    """Resolve ``path`` from ``root``; INVALID_FIELD (positioned) if a name does not exist."""
    parts = path.parts
    names_root = len(parts) > 1 and parts[0].casefold() == root.name.casefold()
    if names_root and root.relationship(parts[0]) is None:  # "Account.Name FROM Account"
        parts = parts[1:]
    hops: list[FieldSpec] = []
    entity: SObjectSpec | None = root
    for part in parts[:-1]:
        reference = entity.relationship(part) if entity is not None else None
        if reference is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"Didn't understand relationship '{part}' in field path. {_RELATIONSHIP_HINT}",
                path.pos,
            )
        hops.append(reference)
        entity = None if reference.polymorphic else catalogue.get(reference.reference_to[0])
    last = parts[-1]
    if entity is None:
        field = _NAME_OBJECT_FIELDS.get(last.casefold())
        entity_name = "Name"
    else:
        field = entity.field(last)
        entity_name = entity.name
    if field is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"No such column '{last}' on entity '{entity_name}'. {_CUSTOM_FIELD_HINT}",
            path.pos,
        )
    return BoundPath(tuple(hops), field, polymorphic=entity is None and bool(hops))


def parent_record(record: Record, hops: tuple[FieldSpec, ...], find: Finder) -> Record | None:
    """The record at the end of ``hops`` from ``record`` (None where a reference is empty)."""
    current: Record | None = record
    for hop in hops:
        if current is None:
            return None
        ref = current.values.get(hop.name)
        current = find(ref) if isinstance(ref, str) else None
    return current


def name_object_value(record: Record, field: str, catalogue: Catalogue) -> Value:
    """``Id``, ``Name`` or ``Type`` of a record reached through a polymorphic relationship."""
    if field == "Id":
        return record.id
    if field == "Type":
        return record.sobject
    spec = catalogue.get(record.sobject)
    name_field = spec.name_field if spec else None
    return record.values.get(name_field.name) if name_field else None


def getter(path: BoundPath, find: Finder, catalogue: Catalogue) -> Callable[[Record], Value]:
    """A function reading ``path``'s value from a root record."""
    name = path.field.name
    if not path.hops:
        return lambda record: record.values.get(name)
    hops = path.hops

    def read(record: Record) -> Value:
        parent = parent_record(record, hops, find)
        if parent is None:
            return None
        if path.polymorphic:
            return name_object_value(parent, name, catalogue)
        return parent.values.get(name)

    return read
