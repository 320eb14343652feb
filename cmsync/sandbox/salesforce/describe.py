"""Describe bodies (global, per object, per field) generated from the catalogue.

The keys are the real describe keys, in the order Salesforce writes them; values the catalogue
does not model (layouts, list views, compact layouts) take the defaults of a plain org.
"""

from __future__ import annotations

from typing import Any

from cmsync.salesforce.schema import Catalogue, FieldSpec, FieldType, PicklistValue, SObjectSpec

__all__ = ["field_describe", "global_describe", "sobject_basic", "sobject_describe"]

MASTER_RECORD_TYPE = "012000000000000AAA"
_MERGEABLE = frozenset({"Account", "Contact", "Lead"})
_NOT_GROUPABLE = frozenset(
    {FieldType.CURRENCY, FieldType.DOUBLE, FieldType.PERCENT, FieldType.DATETIME,
     FieldType.TEXTAREA}
)  # fmt: skip


def _urls(spec: SObjectSpec, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{spec.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def sobject_basic(spec: SObjectSpec, version: str) -> dict[str, Any]:
    """An object as the global describe lists it."""
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": spec.createable,
        "custom": spec.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": spec.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": not spec.custom,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": spec.key_prefix,
        "label": spec.label,
        "labelPlural": spec.label_plural,
        "layoutable": True,
        "mergeable": spec.name in _MERGEABLE,
        "mruEnabled": True,
        "name": spec.name,
        "queryable": spec.queryable,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": spec.deletable,
        "updateable": spec.updateable,
        "urls": _urls(spec, version),
    }


def global_describe(catalogue: Catalogue, version: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [sobject_basic(spec, version) for spec in catalogue],
    }


def _byte_length(spec: FieldSpec) -> int:
    if spec.type in (FieldType.ID, FieldType.REFERENCE):
        return 18
    return spec.length * 3 if spec.type.is_text else 0


def _default_value(spec: FieldSpec) -> object:
    if spec.type is FieldType.BOOLEAN:
        return spec.default_value is True
    return spec.default_value


def _picklist_value(value: PicklistValue) -> dict[str, Any]:
    return {
        "active": value.active,
        "defaultValue": value.default,
        "label": value.label,
        "validFor": None,
        "value": value.value,
    }


def field_describe(spec: FieldSpec) -> dict[str, Any]:
    """One field of an object's describe."""
    text = spec.type.is_text
    return {
        "aggregatable": spec.filterable and spec.type is not FieldType.BOOLEAN,
        "aiPredictionField": False,
        "autoNumber": spec.auto_number,
        "byteLength": _byte_length(spec),
        "calculated": spec.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": spec.case_sensitive,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": spec.createable,
        "custom": spec.custom,
        "defaultValue": _default_value(spec),
        "defaultValueFormula": None,
        "defaultedOnCreate": spec.defaulted_on_create,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 9 if spec.type is FieldType.INT else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": spec.external_id,
        "extraTypeInfo": "plaintextarea" if spec.type is FieldType.TEXTAREA else None,
        "filterable": spec.filterable,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": spec.filterable and spec.type not in _NOT_GROUPABLE,
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": spec.type is FieldType.ID or spec.external_id or spec.name == "Username",
        "inlineHelpText": spec.help_text,
        "label": spec.label,
        "length": spec.length if text else 0,
        "mask": None,
        "maskType": None,
        "name": spec.name,
        "nameField": spec.name_field,
        "namePointing": spec.polymorphic,
        "nillable": spec.nillable,
        "permissionable": spec.custom and spec.nillable,
        "picklistValues": [_picklist_value(p) for p in spec.picklist_values],
        "polymorphicForeignKey": spec.polymorphic,
        "precision": spec.precision if spec.type.is_number else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(spec.reference_to),
        "relationshipName": spec.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": spec.restricted_picklist,
        "scale": spec.scale if spec.type.is_number else 0,
        "searchPrefilterable": spec.type is FieldType.REFERENCE,
        "soapType": spec.type.soap_type,
        "sortable": spec.sortable,
        "type": spec.type.value,
        "unique": spec.unique,
        "updateable": spec.updateable,
        "writeRequiresMasterRead": False,
    }


def _child_relationships(spec: SObjectSpec, catalogue: Catalogue) -> list[dict[str, Any]]:
    children = []
    for child in catalogue:
        for field in child.fields:
            if spec.name not in field.reference_to or field.name in (
                "CreatedById",
                "LastModifiedById",
            ):
                continue
            standard = not field.custom and field.relationship_name == spec.name
            children.append(
                {
                    "cascadeDelete": False,
                    "childSObject": child.name,
                    "deprecatedAndHidden": False,
                    "field": field.name,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                    "relationshipName": child.label_plural.replace(" ", "") if standard else None,
                    "restrictedDelete": False,
                }
            )
    return children


def _master_record_type(spec: SObjectSpec, version: str) -> dict[str, Any]:
    layout = f"/services/data/v{version}/sobjects/{spec.name}/describe/layouts/"
    return {
        "active": True,
        "available": True,
        "defaultRecordTypeMapping": True,
        "developerName": "Master",
        "master": True,
        "name": "Master",
        "recordTypeId": MASTER_RECORD_TYPE,
        "urls": {"layout": layout + MASTER_RECORD_TYPE},
    }


def sobject_describe(spec: SObjectSpec, catalogue: Catalogue, version: str) -> dict[str, Any]:
    """``GET /sobjects/{Type}/describe``."""
    basic = sobject_basic(spec, version)
    body: dict[str, Any] = {
        "actionOverrides": [],
        "childRelationships": _child_relationships(spec, catalogue),
        "compactLayoutable": True,
        "defaultImplementation": None,
        "extendedBy": None,
        "extendsInterfaces": None,
        "fields": [field_describe(f) for f in spec.fields],
        "implementedBy": None,
        "implementsInterfaces": None,
        "listviewable": None,
        "lookupLayoutable": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": [_master_record_type(spec, version)],
        "searchLayoutable": True,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [
            {"label": "All " + spec.label_plural.lower(), "name": "everything"},
            {"label": "My " + spec.label_plural.lower(), "name": "mine"},
        ],
    }
    body.update(basic)
    return dict(sorted(body.items()))
