"""What cmsync needs of a Salesforce org: the objects and fields it reads and writes.

One list, built from the settings (field mapping, Opportunity stage) and the mapped catalogue
(the expected type, length and flags of each field), serves the metadata (which custom fields
and object permissions to grant) and the ``doctor`` (what to check in each describe). The
standard fields and picklist values written here mirror what ``cmsync.pipeline.translate``
puts in its outbox rows; the read fields are what the matchers and pollers select.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from cmsync.admin.mapping import mapped_catalogue, mapped_fields
from cmsync.config import Settings
from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE
from cmsync.salesforce.schema import Catalogue, FieldSpec, SObjectSpec

__all__ = ["SNAPSHOT", "SNAPSHOT_KEY", "Access", "FieldNeed", "ObjectNeed", "needs"]

SNAPSHOT = "CM_Metric_Snapshot__c"
SNAPSHOT_KEY = "CM_Period_Key__c"


class Access(StrEnum):
    READ = "read"  # selected by a query
    UPDATE = "update"  # written on records that exist (by Id)
    UPSERT = "upsert"  # created or updated by an upsert on an External ID


@dataclass(frozen=True)
class FieldNeed:
    spec: FieldSpec  # what cmsync expects: name, type, length, flags
    access: Access
    setting: str | None = None  # the setting that names the field, when one does
    key: bool = False  # the External ID cmsync upserts on
    values: tuple[str, ...] = ()  # picklist values cmsync writes
    strict_values: bool = False  # a value missing from the org fails even if unrestricted

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class ObjectNeed:
    name: str
    access: Access
    fields: tuple[FieldNeed, ...]
    custom: bool = False

    @property
    def custom_fields(self) -> tuple[FieldNeed, ...]:
        return tuple(f for f in self.fields if f.spec.custom)


def _spec(sobject: SObjectSpec, name: str) -> FieldSpec:
    spec = sobject.field(name)
    if spec is None:  # pragma: no cover - the lists below name catalogue fields only
        raise KeyError(f"{sobject.name}.{name} is not in the catalogue")
    return spec


def _fields(
    sobject: SObjectSpec,
    access: Access,
    names: Iterable[str],
    settings: dict[str, str],
    values: dict[str, tuple[str, ...]] | None = None,
) -> list[FieldNeed]:
    out = []
    for name in names:
        spec = _spec(sobject, name)
        picks = (values or {}).get(name)
        if picks is None and spec.custom and spec.restricted_picklist:
            picks = tuple(p.value for p in spec.picklist_values)
        out.append(FieldNeed(spec, access, settings.get(name.casefold()), values=picks or ()))
    return out


def _names(section: BaseModel) -> list[str]:
    """The configured field names of one mapping section."""
    return [str(getattr(section, key)) for key in type(section).model_fields]


def _keyed(sobject: SObjectSpec, key: str, settings: dict[str, str]) -> FieldNeed:
    return FieldNeed(_spec(sobject, key), Access.UPSERT, settings.get(key.casefold()), key=True)


def needs(settings: Settings, catalogue: Catalogue = DEFAULT_CATALOGUE) -> tuple[ObjectNeed, ...]:
    """Every object cmsync touches, with the fields it reads and writes, mapping applied."""
    cat = mapped_catalogue(settings.fields, catalogue)
    named: dict[str, dict[str, str]] = {}
    for m in mapped_fields(settings.fields):
        named.setdefault(m.sobject, {})[m.name.casefold()] = m.setting
    f = settings.fields
    account, contact, lead = cat["Account"], cat["Contact"], cat["Lead"]
    opportunity, task, case, snapshot = cat["Opportunity"], cat["Task"], cat["Case"], cat[SNAPSHOT]

    account_reads = dict.fromkeys(["Name", "Website", "OwnerId", f.owner])
    return (
        ObjectNeed("Account", Access.UPDATE, (
            *_fields(account, Access.READ, account_reads, named["Account"]),
            *_fields(account, Access.UPDATE, _names(f.account), named["Account"]),
        )),
        ObjectNeed("Contact", Access.UPDATE, (
            *_fields(contact, Access.READ, ["Email", "AccountId"], {}),
            *_fields(contact, Access.UPDATE, _names(f.contact), named["Contact"]),
        )),
        ObjectNeed("Lead", Access.UPDATE, (
            *_fields(lead, Access.READ, ["Email", "Company", "IsConverted", "ConvertedDate",
                                         "ConvertedAccountId", "ConvertedContactId"], {}),
            *_fields(lead, Access.UPDATE, _names(f.lead), named["Lead"]),
        )),
        ObjectNeed("Opportunity", Access.UPSERT, (
            *_fields(opportunity, Access.READ, ["IsWon", "IsClosed"], {}),
            *_fields(opportunity, Access.UPSERT, ["Name", "CloseDate", "Amount", "AccountId",
                                                  "OwnerId", "Description"], {}),
            *_fields(opportunity, Access.UPSERT, ["Type"], {},
                     {"Type": ("Existing Customer - Upgrade",)}),
            # An unknown stage fails the write whatever the picklist's restriction says.
            FieldNeed(_spec(opportunity, "StageName"), Access.UPSERT,
                      "sync.opportunity_stage", values=(settings.sync.opportunity_stage,),
                      strict_values=True),
            _keyed(opportunity, f.sync_key, named["Opportunity"]),
        )),
        ObjectNeed("Task", Access.UPSERT, (
            *_fields(task, Access.UPSERT, ["Subject", "Description", "ActivityDate", "WhatId",
                                           "OwnerId", "Status", "Priority"], {},
                     {"Status": ("Not Started",), "Priority": ("High", "Normal", "Low")}),
            _keyed(task, f.sync_key, named["Task"]),
        )),
        ObjectNeed("Case", Access.UPSERT, (
            *_fields(case, Access.UPSERT, ["Subject", "Description", "AccountId", "OwnerId",
                                           "Status", "Origin", "Priority"], {},
                     {"Status": ("New",), "Origin": ("Web",),
                      "Priority": ("High", "Medium", "Low")}),
            _keyed(case, f.sync_key, named["Case"]),
        )),
        ObjectNeed(SNAPSHOT, Access.UPSERT, (
            *_fields(snapshot, Access.UPSERT, ["Name"], {}),
            *_fields(snapshot, Access.UPSERT,
                     [s.name for s in snapshot.fields if s.custom and s.name != SNAPSHOT_KEY],
                     {}),
            _keyed(snapshot, SNAPSHOT_KEY, {}),
        ), custom=True),
    )  # fmt: skip
