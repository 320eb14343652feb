"""The SFDX project `cmsync salesforce metadata` writes, parsed back and held to the catalogue.

The parser here is written independently of the generator: it maps Metadata API types back to
describe types, so a field that parses back to the catalogue's spec was written with the right
element names, types, lengths and flags.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cmsync.admin.cli import register
from cmsync.admin.mapping import MappingError, mapped_catalogue
from cmsync.admin.metadata import METADATA_OBJECTS, MetadataProject, build_project
from cmsync.config import (
    AccountFieldMap,
    ChartMogulSettings,
    FieldSettings,
    PersonFieldMap,
    SalesforceSettings,
    Settings,
)
from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE
from cmsync.salesforce.schema import FieldSpec, FieldType
from tests.support.keys import RSA_PEM

NS = "{http://soap.sforce.com/2006/04/metadata}"
SOURCE = "force-app/main/default"
# Metadata API type -> describe type, as Salesforce's describe reports each.
DESCRIBE_TYPE = {
    "Text": FieldType.STRING, "Email": FieldType.EMAIL, "Url": FieldType.URL,
    "Phone": FieldType.PHONE, "LongTextArea": FieldType.TEXTAREA, "Picklist": FieldType.PICKLIST,
    "Currency": FieldType.CURRENCY, "Number": FieldType.DOUBLE, "Percent": FieldType.PERCENT,
    "Checkbox": FieldType.BOOLEAN, "Date": FieldType.DATE, "DateTime": FieldType.DATETIME,
    "Lookup": FieldType.REFERENCE,
}  # fmt: skip


def settings(**fields: Any) -> Settings:
    return Settings(
        chartmogul=ChartMogulSettings(api_key="k"),
        salesforce=SalesforceSettings(
            client_id="c", username="u@example.com", private_key=RSA_PEM, api_version="61.0"
        ),
        fields=FieldSettings(**fields),
    )


@pytest.fixture(scope="module")
def project() -> MetadataProject:
    return build_project(settings())


def parse(content: bytes) -> ET.Element:
    return ET.fromstring(content)  # noqa: S314 (XML this project just generated, not untrusted)


def xml(project: MetadataProject, path: str) -> ET.Element:
    content = project.file(path).content
    assert content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    return parse(content)


def text(element: ET.Element, tag: str) -> str | None:
    child = element.find(NS + tag)
    return None if child is None else child.text


def flag(element: ET.Element, tag: str) -> bool:
    return text(element, tag) == "true"


@dataclass(frozen=True)
class ParsedField:
    """The properties a FieldSpec and a field file have in common."""

    name: str
    type: FieldType
    label: str
    length: int
    precision: int
    scale: int
    external_id: bool
    unique: bool
    required: bool
    help_text: str | None
    description: str | None
    reference_to: tuple[str, ...]
    picklist: tuple[tuple[str, str, bool], ...]
    restricted: bool

    @classmethod
    def of_spec(cls, spec: FieldSpec) -> ParsedField:
        numeric = spec.type.is_number
        return cls(
            spec.name, spec.type, spec.label,
            spec.length if spec.type in (FieldType.STRING, FieldType.TEXTAREA) else 0,
            spec.precision if numeric else 0, spec.scale if numeric else 0,
            spec.external_id, spec.unique, spec.required, spec.help_text, spec.description,
            spec.reference_to,
            tuple((p.value, p.label, p.default) for p in spec.picklist_values),
            spec.restricted_picklist,
        )  # fmt: skip

    @classmethod
    def of_xml(cls, root: ET.Element) -> ParsedField:
        assert root.tag == NS + "CustomField"
        kind = DESCRIBE_TYPE[text(root, "type") or ""]
        if text(root, "type") == "Number" and text(root, "scale") == "0":
            kind = FieldType.DOUBLE  # the catalogue's counts are doubles with no decimals
        values = root.findall(f"{NS}valueSet/{NS}valueSetDefinition/{NS}value")
        value_set = root.find(NS + "valueSet")
        return cls(
            text(root, "fullName") or "", kind, text(root, "label") or "",
            int(text(root, "length") or 0), int(text(root, "precision") or 0),
            int(text(root, "scale") or 0), flag(root, "externalId"), flag(root, "unique"),
            flag(root, "required"), text(root, "inlineHelpText"), text(root, "description"),
            tuple(e.text or "" for e in root.findall(NS + "referenceTo")),
            tuple((text(v, "fullName") or "", text(v, "label") or "", flag(v, "default"))
                  for v in values),
            value_set is not None and flag(value_set, "restricted"),
        )  # fmt: skip


def field_files(project: MetadataProject) -> dict[str, ET.Element]:
    """``Object.Field`` (the metadata object, so Activity for Task) -> parsed file."""
    out = {}
    for item in project.files:
        match = re.fullmatch(
            rf"{SOURCE}/objects/(\w+)/fields/(\w+)\.field-meta\.xml", str(item.path)
        )
        if match:
            out[f"{match[1]}.{match[2]}"] = parse(item.content)
    return out


def test_every_custom_field_parses_back_to_its_catalogue_spec(project: MetadataProject) -> None:
    files = field_files(project)
    expected = {}
    for name in METADATA_OBJECTS:
        for spec in DEFAULT_CATALOGUE[name].fields:
            if spec.custom:
                owner = "Activity" if name == "Task" else name
                expected[f"{owner}.{spec.name}"] = ParsedField.of_spec(spec)
    assert set(files) == set(expected)
    for member, root in files.items():
        assert ParsedField.of_xml(root) == expected[member], member


def test_field_files_follow_the_metadata_schema(project: MetadataProject) -> None:
    for member, root in field_files(project).items():
        tags = [child.tag.removeprefix(NS) for child in root]
        assert tags[0] == "fullName" and tags[1:] == sorted(tags[1:]), member  # WSDL sequence
        assert len(text(root, "label") or "") <= 40, member
        assert len(text(root, "inlineHelpText") or "") <= 510, member
        assert len(text(root, "description") or "") <= 1000, member
        kind = text(root, "type")
        if kind == "Lookup":
            assert text(root, "deleteConstraint") == "SetNull"
            relationship = text(root, "relationshipName") or ""
            assert re.fullmatch(r"[A-Za-z]\w{0,39}", relationship) and "__" not in relationship
            assert text(root, "relationshipLabel")
        if kind == "Text" and flag(root, "unique"):
            assert text(root, "caseSensitive") == "false"
        if kind not in ("Text", "Number", "Email"):  # the only types that may be keys
            assert root.find(NS + "externalId") is None and root.find(NS + "unique") is None


def test_the_task_sync_key_is_an_activity_field(project: MetadataProject) -> None:
    paths = {str(f.path) for f in project.files}
    assert f"{SOURCE}/objects/Activity/fields/CM_Sync_Key__c.field-meta.xml" in paths
    assert not any(p.startswith(f"{SOURCE}/objects/Task/") for p in paths)
    assert "Activity.CM_Sync_Key__c" in project.members["CustomField"]


def test_the_snapshot_object(project: MetadataProject) -> None:
    path = f"{SOURCE}/objects/CM_Metric_Snapshot__c/CM_Metric_Snapshot__c.object-meta.xml"
    root = xml(project, path)
    assert root.tag == NS + "CustomObject" and root.find(NS + "fullName") is None
    assert text(root, "label") == "CM Metric Snapshot"
    assert text(root, "pluralLabel") == "CM Metric Snapshots"
    assert text(root, "deploymentStatus") == "Deployed"
    name_field = root.find(NS + "nameField")
    assert name_field is not None and text(name_field, "type") == "Text"
    assert project.members["CustomObject"] == ("CM_Metric_Snapshot__c",)


def _permission_set(project: MetadataProject) -> ET.Element:
    return xml(project, f"{SOURCE}/permissionsets/cmsync_Integration.permissionset-meta.xml")


def test_the_permission_set_grants_exactly_the_deployed_fields(project: MetadataProject) -> None:
    root = _permission_set(project)
    grants = {
        text(p, "field"): (flag(p, "readable"), flag(p, "editable"))
        for p in root.findall(NS + "fieldPermissions")
    }
    deployed = {
        f"{name}.{spec.name}"
        for name in METADATA_OBJECTS
        for spec in DEFAULT_CATALOGUE[name].fields
        if spec.custom
    }
    assert set(grants) == deployed  # Task.CM_Sync_Key__c, never Activity.*
    assert all(readable for readable, _ in grants.values())
    # Everything cmsync writes is editable; the user lookup it only reads is not.
    assert {f for f, (_, editable) in grants.items() if not editable} == {
        "Account.CM_Success_Manager__c"
    }


def test_the_permission_set_object_and_user_permissions(project: MetadataProject) -> None:
    root = _permission_set(project)
    objects = {
        text(p, "object"): {
            tag for tag in ("allowRead", "allowCreate", "allowEdit", "allowDelete",
                            "modifyAllRecords") if flag(p, tag)
        }
        for p in root.findall(NS + "objectPermissions")
    }  # fmt: skip
    writes = {"allowRead", "allowCreate", "allowEdit"}
    assert objects == {
        "Account": {"allowRead", "allowEdit"},
        "Contact": {"allowRead", "allowEdit"},
        "Lead": {"allowRead", "allowEdit"},
        "Opportunity": writes,
        "Case": writes,
        "CM_Metric_Snapshot__c": writes,
    }  # Tasks have no object permissions: the user permission EditTask covers them
    users = {text(p, "name") for p in root.findall(NS + "userPermissions") if flag(p, "enabled")}
    assert users == {"ApiEnabled", "EditTask", "ViewSetup"}  # ViewSetup: for /limits
    assert text(root, "label") == "cmsync Integration"


def test_package_xml_lists_every_member_and_the_api_version(project: MetadataProject) -> None:
    root = xml(project, "manifest/package.xml")
    listed = {
        text(t, "name"): [m.text for m in t.findall(NS + "members")]
        for t in root.findall(NS + "types")
    }
    assert text(root, "version") == "61.0"
    assert listed["CustomField"] == sorted(set(listed["CustomField"]))
    assert set(listed["CustomField"]) == set(field_files(project))
    assert listed["CustomObject"] == ["CM_Metric_Snapshot__c"]
    assert listed["PermissionSet"] == ["cmsync_Integration"]
    sfdx = json.loads(project.file("sfdx-project.json").content)
    assert sfdx["sourceApiVersion"] == "61.0"
    assert sfdx["packageDirectories"] == [{"path": "force-app", "default": True}]


def test_a_renamed_field_appears_under_its_configured_name() -> None:
    project = build_project(
        settings(
            account=AccountFieldMap(mrr="Monthly_Revenue__c"),
            contact=PersonFieldMap(status="LeadSource"),  # a standard field: nothing to deploy
            sync_key="Sync_Id__c",
        )
    )
    files = field_files(project)
    mrr = ParsedField.of_xml(files["Account.Monthly_Revenue__c"])
    assert mrr.type is FieldType.CURRENCY and (mrr.precision, mrr.scale) == (16, 2)
    assert "Account.CM_MRR__c" not in files and "Contact.CM_MRR__c" in files
    assert "Contact.CM_Status__c" not in files and "Contact.LeadSource" not in files
    assert {"Activity.Sync_Id__c", "Case.Sync_Id__c", "Opportunity.Sync_Id__c"} <= set(files)
    assert not any(m.endswith("CM_Sync_Key__c") for m in project.members["CustomField"])
    assert ParsedField.of_xml(files["Case.Sync_Id__c"]).external_id
    granted = {text(p, "field") for p in _permission_set(project).findall(NS + "fieldPermissions")}
    assert {"Account.Monthly_Revenue__c", "Task.Sync_Id__c"} <= granted
    assert "Account.CM_MRR__c" not in granted


def test_a_mapping_that_names_one_field_twice_is_refused() -> None:
    with pytest.raises(MappingError, match=r"fields.account.mrr and fields.account.arr"):
        mapped_catalogue(FieldSettings(account=AccountFieldMap(mrr="X__c", arr="X__c")))
    with pytest.raises(MappingError, match=r"fields.account.plan = 'CM_MRR__c'"):
        mapped_catalogue(FieldSettings(account=AccountFieldMap(plan="CM_MRR__c")))
    swapped = mapped_catalogue(
        FieldSettings(account=AccountFieldMap(mrr="CM_ARR__c", arr="CM_MRR__c"))
    )
    mrr = swapped["Account"].field("CM_ARR__c")
    assert mrr is not None and mrr.label == "CM MRR"  # two settings may swap names


def test_a_custom_owner_lookup_is_deployed() -> None:
    files = field_files(build_project(settings(owner="Renewal_Owner__c")))
    owner = ParsedField.of_xml(files["Account.Renewal_Owner__c"])
    assert owner.type is FieldType.REFERENCE and owner.reference_to == ("User",)


def test_the_metadata_command_writes_the_project(tmp_path: Path) -> None:
    key, pem = tmp_path / "key", tmp_path / "key.pem"
    key.write_text("secret\n", encoding="utf-8")
    pem.write_text(RSA_PEM, encoding="utf-8")
    config = tmp_path / "cmsync.toml"
    config.write_text(
        f'[chartmogul]\napi_key_file = "{key}"\n[salesforce]\nclient_id = "c"\n'
        f'username = "u@example.com"\nprivate_key_file = "{pem}"\n'
        '[fields.account]\nmrr = "Revenue__c"\n',
        encoding="utf-8",
    )
    app = typer.Typer()
    register(app)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["salesforce", "metadata", "--out", str(out), "--config", str(config)],
        env={"CMSYNC_CONFIG": None}, catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / SOURCE / "objects/Account/fields/Revenue__c.field-meta.xml").is_file()
    assert (out / "manifest/package.xml").is_file() and (out / "sfdx-project.json").is_file()
    assert "sf project deploy start" in result.stdout
    bad = CliRunner().invoke(app, ["salesforce", "metadata", "--out", str(out), "-c", "nope"])
    assert bad.exit_code == 2 and "error:" in bad.stderr
