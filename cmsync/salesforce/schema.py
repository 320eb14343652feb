"""The shape of a Salesforce schema as plain frozen data: field types, fields, objects.

``cmsync.salesforce.catalogue`` fills it with the objects cmsync touches. Every lookup is
case-insensitive because Salesforce names are; ``Catalogue.without_field`` and friends derive
modified copies (a field an admin forgot to deploy) for tests and the ``doctor`` check.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

__all__ = [
    "Catalogue",
    "FieldSpec",
    "FieldType",
    "OpportunityStage",
    "PicklistValue",
    "SObjectSpec",
]


class FieldType(StrEnum):
    """Salesforce describe field types (the ``type`` key of a field's describe)."""

    ID = "id"
    STRING = "string"
    EMAIL = "email"
    URL = "url"
    PHONE = "phone"
    TEXTAREA = "textarea"
    PICKLIST = "picklist"
    COMBOBOX = "combobox"
    CURRENCY = "currency"
    DOUBLE = "double"
    PERCENT = "percent"
    INT = "int"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    REFERENCE = "reference"

    @property
    def is_text(self) -> bool:
        """Stored and compared as text (including Ids and picklists)."""
        return self in _TEXT_TYPES

    @property
    def is_number(self) -> bool:
        return self in (FieldType.CURRENCY, FieldType.DOUBLE, FieldType.PERCENT, FieldType.INT)

    @property
    def soap_type(self) -> str:
        """The ``soapType`` describe key."""
        return _SOAP_TYPES.get(self, "xsd:string")


_TEXT_TYPES = frozenset(
    {
        FieldType.ID,
        FieldType.STRING,
        FieldType.EMAIL,
        FieldType.URL,
        FieldType.PHONE,
        FieldType.TEXTAREA,
        FieldType.PICKLIST,
        FieldType.COMBOBOX,
        FieldType.REFERENCE,
    }
)
_SOAP_TYPES = {
    FieldType.ID: "tns:ID",
    FieldType.REFERENCE: "tns:ID",
    FieldType.BOOLEAN: "xsd:boolean",
    FieldType.CURRENCY: "xsd:double",
    FieldType.DOUBLE: "xsd:double",
    FieldType.PERCENT: "xsd:double",
    FieldType.INT: "xsd:int",
    FieldType.DATE: "xsd:date",
    FieldType.DATETIME: "xsd:dateTime",
}


@dataclass(frozen=True)
class PicklistValue:
    value: str
    label: str
    default: bool = False
    active: bool = True


@dataclass(frozen=True)
class FieldSpec:
    """One field, with the describe properties the sandbox and the admin kit need."""

    name: str
    type: FieldType
    label: str
    length: int = 0  # text types only
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    custom: bool = False
    calculated: bool = False
    name_field: bool = False
    auto_number: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist_values: tuple[PicklistValue, ...] = ()
    restricted_picklist: bool = False
    precision: int = 0  # number types: total digits
    scale: int = 0  # number types: digits after the point
    filterable: bool = True
    sortable: bool = True
    default_value: bool | str | None = None  # a checkbox's default, or a text default
    help_text: str | None = None  # shown to users beside the field (inlineHelpText)
    description: str | None = None  # for admins, in Setup and the field's metadata

    @property
    def required(self) -> bool:
        """A create without a value fails with REQUIRED_FIELD_MISSING."""
        return not self.nillable and self.createable and not self.defaulted_on_create

    @property
    def polymorphic(self) -> bool:
        return len(self.reference_to) > 1

    @functools.cached_property
    def default_picklist_value(self) -> str | None:
        return next((p.value for p in self.picklist_values if p.default), None)


def _folded(items: tuple[FieldSpec, ...], key: str) -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}
    for spec in items:
        name = spec.name if key == "name" else spec.relationship_name
        if name:
            out[name.casefold()] = spec
    return out


@dataclass(frozen=True)
class SObjectSpec:
    """One object (standard or custom) and its fields, in describe order."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[FieldSpec, ...]
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    queryable: bool = True
    description: str | None = None  # for admins: a custom object's metadata description
    _by_name: Mapping[str, FieldSpec] = field(init=False, repr=False, compare=False)
    _by_relationship: Mapping[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", _folded(self.fields, "name"))
        object.__setattr__(self, "_by_relationship", _folded(self.fields, "relationship"))
        if len(self._by_name) != len(self.fields):
            raise ValueError(f"{self.name}: two fields share a name")

    def field(self, name: str) -> FieldSpec | None:
        """The field called ``name`` (any case), or None."""
        return self._by_name.get(name.casefold())

    def relationship(self, name: str) -> FieldSpec | None:
        """The reference field whose relationship is called ``name`` (any case), or None."""
        return self._by_relationship.get(name.casefold())

    @property
    def name_field(self) -> FieldSpec | None:
        return next((f for f in self.fields if f.name_field), None)

    @property
    def external_id_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.external_id)

    def without_field(self, name: str) -> SObjectSpec:
        if self.field(name) is None:
            raise KeyError(f"{self.name} has no field {name!r}")
        kept = tuple(f for f in self.fields if f.name.casefold() != name.casefold())
        return replace(self, fields=kept)

    def with_field(self, spec: FieldSpec) -> SObjectSpec:
        """A copy with ``spec`` added, or replacing the field of the same name."""
        if self.field(spec.name) is None:
            return replace(self, fields=(*self.fields, spec))
        folded = spec.name.casefold()
        return replace(
            self, fields=tuple(spec if f.name.casefold() == folded else f for f in self.fields)
        )


@dataclass(frozen=True)
class Catalogue:
    """All objects, looked up by name (any case) or by Id key prefix."""

    sobjects: tuple[SObjectSpec, ...]
    _by_name: Mapping[str, SObjectSpec] = field(init=False, repr=False, compare=False)
    _by_prefix: Mapping[str, SObjectSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {s.name.casefold(): s for s in self.sobjects})
        object.__setattr__(self, "_by_prefix", {s.key_prefix: s for s in self.sobjects})
        if len(self._by_name) != len(self.sobjects) or len(self._by_prefix) != len(self.sobjects):
            raise ValueError("two objects share a name or a key prefix")

    def __iter__(self) -> Iterator[SObjectSpec]:
        return iter(self.sobjects)

    def get(self, name: str) -> SObjectSpec | None:
        return self._by_name.get(name.casefold())

    def __getitem__(self, name: str) -> SObjectSpec:
        spec = self.get(name)
        if spec is None:
            raise KeyError(name)
        return spec

    def by_key_prefix(self, prefix: str) -> SObjectSpec | None:
        return self._by_prefix.get(prefix)

    def custom_fields(self) -> Iterator[tuple[SObjectSpec, FieldSpec]]:
        """Every custom field, with its object: what an admin must deploy."""
        for sobject in self.sobjects:
            for spec in sobject.fields:
                if spec.custom:
                    yield sobject, spec

    def replace_sobject(self, spec: SObjectSpec) -> Catalogue:
        """A copy with ``spec`` replacing the object of the same name (or added)."""
        if self.get(spec.name) is None:
            return Catalogue((*self.sobjects, spec))
        folded = spec.name.casefold()
        return Catalogue(tuple(spec if s.name.casefold() == folded else s for s in self.sobjects))

    def without_field(self, sobject: str, name: str) -> Catalogue:
        return self.replace_sobject(self[sobject].without_field(name))

    def without_sobject(self, name: str) -> Catalogue:
        if self.get(name) is None:
            raise KeyError(name)
        return Catalogue(tuple(s for s in self.sobjects if s.name.casefold() != name.casefold()))


@dataclass(frozen=True)
class OpportunityStage:
    """An Opportunity stage as the org defines it: what IsClosed, IsWon, Probability follow."""

    name: str
    probability: int
    closed: bool
    won: bool
