"""The ``cmsync_Integration`` permission set: what the integration user may see and change.

Field permissions cover exactly the custom fields the metadata deploys: readable all, editable
where cmsync writes them (a user lookup it only reads stays read-only). Object permissions
follow ``needs``: read on what cmsync queries, edit on what it updates, create as well on what
it upserts. "View All" on the objects cmsync matches against, because matching must see every
Account, Contact, Lead and Opportunity whatever the org's sharing model; "Modify All" is not
granted (it implies delete), so records cmsync updates must be editable through sharing.

Two Salesforce rules shape the Task entries. Tasks (and Events) have no object permissions:
creating and editing them is the user permission ``EditTask``. And their custom fields are
defined on ``Activity`` but permissioned per child object, so the field permission is
``Task.CM_Sync_Key__c`` (an ``Activity.*`` field permission is the classic mistake).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from cmsync.admin.metaxml import root, sub
from cmsync.admin.needs import Access, ObjectNeed

__all__ = [
    "ACTIVITIES",
    "PERMISSION_SET",
    "FieldGrant",
    "ObjectGrant",
    "field_grants",
    "object_grants",
    "permission_set",
]

PERMISSION_SET = "cmsync_Integration"
PERMISSION_SET_LABEL = "cmsync Integration"
# ViewSetup ("View Setup and Configuration"): the REST /limits resource needs it (REST API
# Developer Guide, "Limits"). cmsync runs without it, reading its budget from the
# Sforce-Limit-Info header of every answer, but /limits tells the doctor and the first
# refresh the whole day's allocation before any other call.
USER_PERMISSIONS = ("ApiEnabled", "EditTask", "ViewSetup")
ACTIVITIES = frozenset({"Task", "Event"})
_VIEW_ALL = frozenset({"Account", "Contact", "Lead", "Opportunity"})


@dataclass(frozen=True)
class FieldGrant:
    field: str  # Object.Field, as a field permission names it
    editable: bool


@dataclass(frozen=True)
class ObjectGrant:
    sobject: str
    create: bool
    edit: bool
    view_all: bool


def object_grants(needs: Iterable[ObjectNeed]) -> tuple[ObjectGrant, ...]:
    """Object permissions for every object cmsync touches (none for Task: see the module)."""
    return tuple(
        ObjectGrant(
            need.name,
            create=need.access is Access.UPSERT,
            edit=need.access in (Access.UPDATE, Access.UPSERT),
            view_all=need.name in _VIEW_ALL,
        )
        for need in needs
        if need.name not in ACTIVITIES
    )


def field_grants(needs: Iterable[ObjectNeed], deployed: Iterable[str]) -> tuple[FieldGrant, ...]:
    """Read on every deployed custom field (``Object.Field``), edit where cmsync writes it."""
    written = {
        f"{need.name}.{f.name}".casefold()
        for need in needs
        for f in need.fields
        if f.access is not Access.READ
    }
    return tuple(FieldGrant(name, name.casefold() in written) for name in deployed)


def permission_set(objects: Iterable[ObjectGrant], fields: Iterable[FieldGrant]) -> ET.Element:
    """The ``PermissionSet`` document (children in the WSDL's alphabetical order)."""
    element = root("PermissionSet")
    sub(
        element,
        "description",
        "Grants cmsync's integration user the access its ChartMogul sync needs: the CM_ "
        "fields, the CM Metric Snapshot object, and Tasks, Cases and Opportunities it creates.",
    )
    for grant in sorted(fields, key=lambda g: g.field):
        permission = ET.SubElement(element, "fieldPermissions")
        sub(permission, "editable", grant.editable)
        sub(permission, "field", grant.field)
        sub(permission, "readable", True)
    sub(element, "hasActivationRequired", False)
    sub(element, "label", PERMISSION_SET_LABEL)
    for obj in sorted(objects, key=lambda g: g.sobject):
        permission = ET.SubElement(element, "objectPermissions")
        sub(permission, "allowCreate", obj.create)
        sub(permission, "allowDelete", False)
        sub(permission, "allowEdit", obj.edit)
        sub(permission, "allowRead", True)
        sub(permission, "modifyAllRecords", False)
        sub(permission, "object", obj.sobject)
        sub(permission, "viewAllRecords", obj.view_all)
    for name in USER_PERMISSIONS:
        permission = ET.SubElement(element, "userPermissions")
        sub(permission, "enabled", True)
        sub(permission, "name", name)
    return element
