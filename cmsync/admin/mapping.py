"""The catalogue as the configured field mapping names it.

The catalogue (``cmsync.salesforce.catalogue``) knows each field under its default API name;
``Settings.fields`` lets an org use its own names (``fields.account.mrr = "MRR__c"``). The
metadata and the ``doctor`` must both speak of the configured names, so both start from
``mapped_catalogue``: a copy of the catalogue where every mapped field carries its configured
name (keeping its type, length, flags and help text). A name without ``__c`` points at a
standard field: it stays in the checks but is not deployable metadata.

``MappedField`` records, for each renamed or mapped field, the setting that names it, so a
finding can say which setting to change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from pydantic import BaseModel

from cmsync.config import FieldSettings
from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE
from cmsync.salesforce.schema import Catalogue, FieldSpec, FieldType, SObjectSpec

__all__ = ["MappedField", "MappingError", "mapped_catalogue", "mapped_fields"]

SYNC_KEY_OBJECTS = ("Opportunity", "Task", "Case")
_PERSON_SECTIONS = (("account", "Account"), ("contact", "Contact"), ("lead", "Lead"))


class MappingError(ValueError):
    """The field mapping cannot be applied (two settings name the same field, say)."""


@dataclass(frozen=True)
class MappedField:
    """One field the mapping names: on which object, under which setting, default and name."""

    sobject: str
    setting: str  # e.g. "fields.account.mrr"
    default: str  # the catalogue's name
    name: str  # the configured name

    @property
    def renamed(self) -> bool:
        return self.default.casefold() != self.name.casefold()


def _defaults(model: BaseModel) -> Iterator[tuple[str, str, str]]:
    for key, info in type(model).model_fields.items():
        yield key, str(info.default), str(getattr(model, key))


def mapped_fields(fields: FieldSettings) -> tuple[MappedField, ...]:
    """Every field the mapping names, in setting order (``owner`` last, on Account)."""
    out: list[MappedField] = []
    for section, sobject in _PERSON_SECTIONS:
        for key, default, name in _defaults(getattr(fields, section)):
            out.append(MappedField(sobject, f"fields.{section}.{key}", default, name))
    sync_default = str(FieldSettings.model_fields["sync_key"].default)
    for sobject in SYNC_KEY_OBJECTS:
        out.append(MappedField(sobject, "fields.sync_key", sync_default, fields.sync_key))
    owner_default = str(FieldSettings.model_fields["owner"].default)
    out.append(MappedField("Account", "fields.owner", owner_default, fields.owner))
    return tuple(out)


def _user_lookup(name: str) -> FieldSpec:
    """A lookup to User the catalogue does not know (a custom owner field of the org's own)."""
    base = name.removesuffix("__c")
    return FieldSpec(
        name,
        FieldType.REFERENCE,
        base.replace("_", " "),
        length=18,
        reference_to=("User",),
        relationship_name=f"{base}__r" if name.endswith("__c") else base,
        custom=name.endswith("__c"),
        help_text="Who gets cmsync's churn-risk Tasks and Cases for this Account.",
        description="Read by cmsync: the setting fields.owner names this field.",
    )


def _renamed(sobject: SObjectSpec, mapped: list[MappedField]) -> SObjectSpec:
    """``sobject`` with fields renamed all at once (so two settings may swap names)."""
    folded = {m.default.casefold(): m for m in mapped}
    kept = {f.name.casefold(): f.name for f in sobject.fields if f.name.casefold() not in folded}
    claimed: dict[str, MappedField] = {}
    for m in mapped:
        other = claimed.setdefault(m.name.casefold(), m)
        if other is not m:
            raise MappingError(
                f"{other.setting} and {m.setting} both name {sobject.name}.{m.name}; "
                "each needs a field of its own"
            )
        if m.name.casefold() in kept:
            raise MappingError(
                f"{m.setting} = {m.name!r}: {sobject.name}.{kept[m.name.casefold()]} is "
                "already a field cmsync uses for something else; choose another name"
            )
    fields = []
    for spec in sobject.fields:
        hit = folded.get(spec.name.casefold())
        if hit is not None:
            new = hit.name
            relationship = spec.relationship_name
            if spec.type is FieldType.REFERENCE and new.endswith("__c"):
                relationship = new.removesuffix("__c") + "__r"
            spec = replace(
                spec, name=new, custom=new.endswith("__c"), relationship_name=relationship
            )
        fields.append(spec)
    return replace(sobject, fields=tuple(fields))


def mapped_catalogue(fields: FieldSettings, catalogue: Catalogue = DEFAULT_CATALOGUE) -> Catalogue:
    """``catalogue`` with every mapped field under its configured name."""
    by_object: dict[str, list[MappedField]] = {}
    for mapped in mapped_fields(fields):
        # The owner is not a rename: it points at an existing user lookup of the org's choice.
        if mapped.renamed and mapped.setting != "fields.owner":
            by_object.setdefault(mapped.sobject, []).append(mapped)
    for sobject, renames in by_object.items():
        catalogue = catalogue.replace_sobject(_renamed(catalogue[sobject], renames))
    account = catalogue["Account"]
    if account.field(fields.owner) is None:
        catalogue = catalogue.replace_sobject(account.with_field(_user_lookup(fields.owner)))
    return catalogue
