"""Metadata API XML for one custom field or custom object, built with ``xml.etree``.

Element names and values are the Metadata API's (``CustomField``: ``fullName``, ``label``,
``type``, ``length``, ``precision``, ``scale``, ``externalId``, ``unique``, ``required``,
``description``, ``inlineHelpText``, ``referenceTo``/``relationshipName``/
``relationshipLabel``/``deleteConstraint`` for lookups, ``valueSet`` for picklists). The
Metadata WSDL declares each type's elements as a sequence in alphabetical order (after the
inherited ``fullName``), which is also how Salesforce writes retrieved source, so the children
are emitted sorted by tag. In source format a field's ``fullName`` is its bare API name and a
custom object's file carries no ``fullName`` at all (the directory names it).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from cmsync.salesforce.schema import FieldSpec, FieldType, SObjectSpec

__all__ = [
    "METADATA_NS",
    "child_relationship",
    "custom_field",
    "custom_object",
    "metadata_type",
    "root",
    "serialise",
    "sub",
]

METADATA_NS = "http://soap.sforce.com/2006/04/metadata"

Value = str | int | bool | ET.Element

# Describe types to Metadata API field types; text areas depend on their length.
_TYPES = {
    FieldType.STRING: "Text",
    FieldType.EMAIL: "Email",
    FieldType.URL: "Url",
    FieldType.PHONE: "Phone",
    FieldType.PICKLIST: "Picklist",
    FieldType.CURRENCY: "Currency",
    FieldType.DOUBLE: "Number",
    FieldType.INT: "Number",
    FieldType.PERCENT: "Percent",
    FieldType.BOOLEAN: "Checkbox",
    FieldType.DATE: "Date",
    FieldType.DATETIME: "DateTime",
    FieldType.REFERENCE: "Lookup",
}
_NUMERIC = frozenset({"Currency", "Number", "Percent"})
# Types that may be an External ID or Unique; the others refuse the flags on deploy.
_KEYABLE = frozenset({"Text", "Number", "Email"})
_SHORT_TEXT_AREA = 255  # a TextArea holds 255 characters; longer is a LongTextArea
_VISIBLE_LINES = 3


def metadata_type(spec: FieldSpec) -> str:
    """The Metadata API ``type`` of a custom field like ``spec``."""
    if spec.type is FieldType.TEXTAREA:
        return "LongTextArea" if spec.length > _SHORT_TEXT_AREA else "TextArea"
    try:
        return _TYPES[spec.type]
    except KeyError:
        raise ValueError(f"{spec.name}: a custom field cannot be of type {spec.type}") from None


def root(tag: str) -> ET.Element:
    """A document element in the Metadata API namespace."""
    return ET.Element(tag, {"xmlns": METADATA_NS})


def _text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def sub(parent: ET.Element, tag: str, value: Value) -> ET.Element:
    """Append ``<tag>value</tag>`` (or the element ``value`` renamed to ``tag``)."""
    if isinstance(value, ET.Element):
        value.tag = tag
        parent.append(value)
        return value
    child = ET.SubElement(parent, tag)
    child.text = _text(value)
    return child


def _sorted_children(parent: ET.Element, children: Mapping[str, Value | None]) -> ET.Element:
    for tag in sorted(children):
        value = children[tag]
        if value is not None:
            sub(parent, tag, value)
    return parent


def serialise(element: ET.Element) -> bytes:
    """UTF-8 XML with the declaration Salesforce writes, indented by four spaces."""
    ET.indent(element, space="    ")
    body = ET.tostring(element, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'.encode()


def child_relationship(sobject: SObjectSpec, spec: FieldSpec) -> tuple[str, str]:
    """(relationshipName, relationshipLabel) of a lookup: the related list on the parent.

    The name must be unique among the parent's child relationships, so it combines the
    field and the child object (``CM_Success_Manager_Accounts``).
    """
    base = spec.name.removesuffix("__c")
    plural = sobject.label_plural.replace(" ", "_")
    return f"{base}_{plural}", f"{sobject.label_plural} ({spec.label})"


def _value_set(spec: FieldSpec) -> ET.Element:
    value_set = ET.Element("valueSet")
    sub(value_set, "restricted", spec.restricted_picklist)
    definition = ET.SubElement(value_set, "valueSetDefinition")
    sub(definition, "sorted", False)
    for pick in spec.picklist_values:
        value = ET.SubElement(definition, "value")
        sub(value, "fullName", pick.value)
        sub(value, "default", pick.default)
        sub(value, "label", pick.label)
    return value_set


def custom_field(sobject: SObjectSpec, spec: FieldSpec) -> ET.Element:
    """The ``CustomField`` document of one custom field of ``sobject``."""
    kind = metadata_type(spec)
    children: dict[str, Value | None] = {
        "label": spec.label,
        "type": kind,
        "description": spec.description,
        "inlineHelpText": spec.help_text,
        "required": None if kind == "Checkbox" else spec.required,
    }
    if kind in ("Text", "LongTextArea"):
        children["length"] = spec.length
    if kind == "LongTextArea":
        children["visibleLines"] = _VISIBLE_LINES
    if kind in _NUMERIC:
        children["precision"] = spec.precision
        children["scale"] = spec.scale
    if kind in _KEYABLE:
        children["externalId"] = spec.external_id
        children["unique"] = spec.unique
        if kind == "Text" and spec.unique:
            children["caseSensitive"] = spec.case_sensitive
    elif spec.external_id or spec.unique:
        raise ValueError(f"{spec.name}: a {kind} field cannot be an External ID or Unique")
    if kind == "Checkbox":
        children["defaultValue"] = spec.default_value is True
    if kind == "Picklist":
        children["valueSet"] = _value_set(spec)
    if kind == "Lookup":
        if len(spec.reference_to) != 1:
            raise ValueError(f"{spec.name}: a custom lookup refers to exactly one object")
        name, label = child_relationship(sobject, spec)
        children.update(
            referenceTo=spec.reference_to[0],
            relationshipName=name,
            relationshipLabel=label,
            deleteConstraint="SetNull",  # deleting the parent clears the link, never blocks
        )
    element = root("CustomField")
    sub(element, "fullName", spec.name)
    return _sorted_children(element, children)


def custom_object(sobject: SObjectSpec) -> ET.Element:
    """The ``CustomObject`` document of a custom object (its fields go in their own files)."""
    name_field = sobject.name_field
    if name_field is None:
        raise ValueError(f"{sobject.name} has no name field")
    name = ET.Element("nameField")
    sub(name, "label", name_field.label)
    sub(name, "type", "Text")
    children: dict[str, Value | None] = {
        "deploymentStatus": "Deployed",
        "description": sobject.description,
        "enableActivities": False,
        # Bulk API, sharing and Streaming API are enabled or disabled together.
        "enableBulkApi": True,
        "enableSharing": True,
        "enableStreamingApi": True,
        "enableFeeds": False,
        "enableHistory": False,
        "enableReports": True,
        "enableSearch": False,
        "label": sobject.label,
        "nameField": name,
        "pluralLabel": sobject.label_plural,
        "sharingModel": "ReadWrite",
        "visibility": "Public",
    }
    return _sorted_children(root("CustomObject"), children)
