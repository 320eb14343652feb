"""The External Client App `cmsync salesforce metadata --eca-contact-email` adds to the project.

Every generated document is checked against the Metadata API schema simple-salesforce ships
(``simple_salesforce/metadata.wsdl``, API 63.0): the element order of each type's sequence,
its required elements, and the values of booleans, ints and enumerations. The element values
that matter for the JWT bearer flow are pinned from the Metadata API Developer Guide pages
named in ``cmsync.admin.eca``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import trustme
import typer
from cryptography import x509
from typer.testing import CliRunner

from cmsync.admin.cli import register
from cmsync.admin.eca import EcaError, EcaOptions, read_certificate
from cmsync.admin.metadata import MetadataProject, build_project
from cmsync.config import ChartMogulSettings, SalesforceSettings, Settings
from tests.support.keys import RSA_PEM

NS = "{http://soap.sforce.com/2006/04/metadata}"
XSD = "{http://www.w3.org/2001/XMLSchema}"
SOURCE = "force-app/main/default"
ECA = f"{SOURCE}/externalClientApps/cmsync.eca-meta.xml"
OAUTH = f"{SOURCE}/extlClntAppOauthSettings/cmsync_oauth.ecaOauth-meta.xml"
GLOBAL = f"{SOURCE}/extlClntAppGlobalOauthSets/cmsync_glbloauth.ecaGlblOauth-meta.xml"
_CA = trustme.CA()
CERTIFICATE = _CA.cert_pem.bytes().decode()
PRIVATE_KEY = _CA.private_key_pem.bytes().decode()


def settings(api_version: str = "62.0") -> Settings:
    return Settings(
        chartmogul=ChartMogulSettings(api_key="k"),
        salesforce=SalesforceSettings(
            client_id="c", username="u@example.com", private_key=RSA_PEM, api_version=api_version
        ),
    )


def parse(content: bytes) -> ET.Element:
    return ET.fromstring(content)  # noqa: S314 (XML this project just generated, not untrusted)


# --- the schema -------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    name: str
    type: str  # xsd:boolean, tns:ExtlClntAppDistState...
    required: bool
    repeats: bool


class Schema:
    """The complex and simple types of the Metadata WSDL, enough to check a document."""

    def __init__(self) -> None:
        text = files("simple_salesforce").joinpath("metadata.wsdl").read_bytes()
        schema = parse(text).find(f"{{http://schemas.xmlsoap.org/wsdl/}}types/{XSD}schema")
        assert schema is not None
        self.complex = {t.get("name"): t for t in schema.findall(f"{XSD}complexType")}
        self.enums = {
            t.get("name"): {e.get("value") for e in t.iter(f"{XSD}enumeration")}
            for t in schema.findall(f"{XSD}simpleType")
        }

    def slots(self, type_name: str) -> list[Slot]:
        """The type's sequence, after its base's (``Metadata`` gives ``fullName``)."""
        node = self.complex[type_name]
        out: list[Slot] = []
        extension = node.find(f"{XSD}complexContent/{XSD}extension")
        if extension is not None:
            out += self.slots((extension.get("base") or "").removeprefix("tns:"))
            node = extension
        sequence = node.find(f"{XSD}sequence")
        for element in [] if sequence is None else sequence.findall(f"{XSD}element"):
            out.append(
                Slot(
                    element.get("name") or "",
                    element.get("type") or "",
                    element.get("minOccurs") != "0",
                    element.get("maxOccurs") == "unbounded",
                )
            )
        return out

    def violations(self, element: ET.Element, type_name: str) -> list[str]:
        slots = self.slots(type_name)
        index = {slot.name: i for i, slot in enumerate(slots)}
        problems: list[str] = []
        last, seen = -1, set()
        for child in element:
            tag = child.tag.removeprefix(NS)
            if tag not in index:
                problems.append(f"{type_name}: no element {tag}")
                continue
            slot = slots[index[tag]]
            if index[tag] < last or (tag in seen and not slot.repeats):
                problems.append(f"{type_name}: {tag} out of the sequence order")
            last = index[tag]
            seen.add(tag)
            problems += self._value(child, slot)
        problems += [
            f"{type_name}: {s.name} is required" for s in slots if s.required and s.name not in seen
        ]
        return problems

    def _value(self, child: ET.Element, slot: Slot) -> list[str]:
        kind, text = slot.type.split(":", 1)[1], child.text or ""
        if slot.type == "xsd:boolean" and text not in ("true", "false"):
            return [f"{slot.name}: {text!r} is not a boolean"]
        if slot.type == "xsd:int" and not text.lstrip("-").isdigit():
            return [f"{slot.name}: {text!r} is not an int"]
        if kind in self.enums and self.enums[kind] and text not in self.enums[kind]:
            return [f"{slot.name}: {text!r} is not one of {sorted(self.enums[kind])}"]
        if kind in self.complex:
            return self.violations(child, kind)
        return []


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema()


@pytest.fixture(scope="module")
def project() -> MetadataProject:
    options = EcaOptions("admin@yourco.com", read_certificate(CERTIFICATE))
    return build_project(settings(), eca=options)


def document(project: MetadataProject, path: str) -> ET.Element:
    content = project.file(path).content
    assert content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    return parse(content)


def values(root: ET.Element) -> dict[str, str]:
    return {child.tag.removeprefix(NS): child.text or "" for child in root}


# --- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (ECA, "ExternalClientApplication"),
        (OAUTH, "ExtlClntAppOauthSettings"),
        (GLOBAL, "ExtlClntAppGlobalOauthSettings"),
    ],
)
def test_each_component_follows_the_metadata_schema(
    project: MetadataProject, schema: Schema, path: str, kind: str
) -> None:
    root = document(project, path)
    assert root.tag == NS + kind
    assert root.find(NS + "fullName") is None  # source format: the file name names it
    assert schema.violations(root, kind) == []


def test_every_document_of_the_project_follows_the_metadata_schema(
    project: MetadataProject, schema: Schema
) -> None:
    checked = 0
    for item in project.files:
        if item.path.suffix == ".xml":
            root = parse(item.content)
            assert schema.violations(root, root.tag.removeprefix(NS)) == [], item.path
            checked += 1
    assert checked == len(project.files) - 1  # all but sfdx-project.json


def test_the_checker_catches_what_a_deploy_would_refuse(schema: Schema) -> None:
    wrong = parse(
        b'<ExternalClientApplication xmlns="http://soap.sforce.com/2006/04/metadata">'
        b"<label>x</label><contactEmail>a@b.co</contactEmail>"
        b"<distributionState>Shared</distributionState><isProtected>no</isProtected>"
        b"<consumerKey>k</consumerKey></ExternalClientApplication>"
    )
    assert schema.violations(wrong, "ExternalClientApplication") == [
        "ExternalClientApplication: contactEmail out of the sequence order",
        "distributionState: 'Shared' is not one of ['AutoInstalled', 'Local', 'Managed', "
        "'Packaged']",
        "isProtected: 'no' is not a boolean",
        "ExternalClientApplication: no element consumerKey",
    ]
    missing = parse(b'<ExtlClntAppOauthSettings xmlns="http://soap.sforce.com/2006/04/metadata"/>')
    assert schema.violations(missing, "ExtlClntAppOauthSettings") == [
        "ExtlClntAppOauthSettings: externalClientApplication is required"
    ]


def test_the_header_is_a_local_app_named_cmsync(project: MetadataProject) -> None:
    header = values(document(project, ECA))
    assert header["label"] == "cmsync"
    assert header["contactEmail"] == "admin@yourco.com"
    assert header["distributionState"] == "Local"
    assert header["isProtected"] == "false"
    assert "cmsync_Integration" in header["description"]
    assert "orgScopedExternalApp" not in header  # carries an org Id: Salesforce fills it in


def test_the_oauth_settings_ask_for_the_api_scope_only(project: MetadataProject) -> None:
    oauth = values(document(project, OAUTH))
    assert oauth == {
        "commaSeparatedOauthScopes": "Api",
        "externalClientApplication": "cmsync",
        "label": "cmsync_oauth",
    }  # no oauthLink: org Id and consumer Id, generated by Salesforce


def test_the_global_settings_carry_the_certificate_and_no_secret(
    project: MetadataProject,
) -> None:
    settings_ = values(document(project, GLOBAL))
    assert settings_["externalClientApplication"] == "cmsync"
    assert settings_["callbackUrl"] == "http://localhost:1717/OauthRedirect"
    # The certificate enables the JWT bearer flow; it must load as the certificate given.
    embedded = x509.load_pem_x509_certificate(settings_["certificate"].encode())
    assert embedded == x509.load_pem_x509_certificate(CERTIFICATE.encode())
    assert settings_["shouldRotateConsumerKey"] == "false"  # a redeploy keeps client_id valid
    assert settings_["shouldRotateConsumerSecret"] == "false"
    for item in project.files:
        assert b"consumerSecret" not in item.content and b"consumerKey>" not in item.content
        assert b"PRIVATE KEY" not in item.content


def test_package_xml_lists_the_three_components(project: MetadataProject) -> None:
    root = document(project, "manifest/package.xml")
    listed = {
        t.findtext(NS + "name"): [m.text for m in t.findall(NS + "members")]
        for t in root.findall(NS + "types")
    }
    assert listed["ExternalClientApplication"] == ["cmsync"]
    assert listed["ExtlClntAppOauthSettings"] == ["cmsync_oauth"]
    assert listed["ExtlClntAppGlobalOauthSettings"] == ["cmsync_glbloauth"]
    assert "ExtlClntAppOauthConfigurablePolicies" not in listed  # Ids: left to Setup
    assert "Settings" not in listed  # the org's consumer-secret setting is the admin's call
    assert root.findtext(NS + "version") == "62.0"
    names = [t.findtext(NS + "name") or "" for t in root.findall(NS + "types")]
    assert names == sorted(names)


def test_without_the_option_the_project_has_no_app() -> None:
    plain = build_project(settings())
    assert not any("xtl" in str(f.path) or "externalClientApps" in str(f.path) for f in plain.files)
    assert set(plain.members) == {"CustomField", "CustomObject", "PermissionSet"}


def test_without_a_certificate_the_app_is_generated_for_setup_to_complete() -> None:
    plain = build_project(settings("59.0"), eca=EcaOptions("admin@yourco.com"))
    root = document(plain, GLOBAL)
    assert root.find(NS + "certificate") is None
    assert root.findtext(NS + "callbackUrl") == "http://localhost:1717/OauthRedirect"


@pytest.mark.parametrize(
    ("version", "certificate", "message"),
    [
        ("58.0", False, "External Client App metadata needs API 59.0"),
        ("59.0", True, "an External Client App certificate needs API 60.0"),
    ],
)
def test_an_api_version_older_than_the_types_is_refused(
    version: str, certificate: bool, message: str
) -> None:
    options = EcaOptions("admin@yourco.com", CERTIFICATE if certificate else None)
    with pytest.raises(EcaError, match=message):
        build_project(settings(version), eca=options)


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (PRIVATE_KEY, "private key"),
        (CERTIFICATE + PRIVATE_KEY, "private key"),
        ("hello", "found 0"),
        (CERTIFICATE + CERTIFICATE, "found 2"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a valid X.509"),
    ],
    # Ids by name: the keys are made at import, and xdist workers must collect the same ids.
    ids=["key", "certificate-and-key", "no-pem", "two-certificates", "not-x509"],
)
def test_only_one_certificate_is_embedded(pem: str, message: str) -> None:
    with pytest.raises(EcaError, match=message):
        read_certificate(pem)


def test_a_contact_email_must_be_an_address() -> None:
    with pytest.raises(EcaError, match="not an email address"):
        build_project(settings(), eca=EcaOptions("admin"))


def _invoke(tmp_path: Path, *args: str) -> Any:
    key, api_key = tmp_path / "key", tmp_path / "api_key"
    key.write_text(RSA_PEM, encoding="utf-8")
    api_key.write_text("k", encoding="utf-8")
    config = tmp_path / "cmsync.toml"
    config.write_text(
        f'[chartmogul]\napi_key_file = "{api_key}"\n[salesforce]\nclient_id = "c"\n'
        f'username = "u@example.com"\nprivate_key_file = "{key}"\n',
        encoding="utf-8",
    )
    app = typer.Typer()
    register(app)
    return CliRunner().invoke(
        app,
        ["salesforce", "metadata", "--config", str(config), *args],
        env={"CMSYNC_CONFIG": None},
        catch_exceptions=False,
    )


def test_the_metadata_command_writes_the_app(tmp_path: Path) -> None:
    certificate = tmp_path / "cmsync.crt"
    certificate.write_text(CERTIFICATE, encoding="utf-8")
    out = tmp_path / "out"
    result = _invoke(
        tmp_path,
        *("--out", str(out), "--eca-contact-email", "admin@yourco.com"),
        *("--certificate", str(certificate)),
    )
    assert result.exit_code == 0, result.output
    for path in (ECA, OAUTH, GLOBAL):
        assert (out / path).is_file(), path
    assert "<certificate>-----BEGIN CERTIFICATE-----" in (out / GLOBAL).read_text()
    assert "Allow Access to OAuth Consumer Secrets via Metadata API" in result.stdout
    assert "upload cmsync.crt" not in result.stdout


def test_the_metadata_command_refuses_a_key_or_a_lone_certificate(tmp_path: Path) -> None:
    key = tmp_path / "key"  # written by _invoke
    out = tmp_path / "out"
    as_certificate = _invoke(
        tmp_path, "--out", str(out), "--eca-contact-email", "a@b.co", "--certificate", str(key)
    )
    assert as_certificate.exit_code == 2 and "private key" in as_certificate.stderr
    assert not out.exists()  # nothing written, so the key cannot end up in the project
    alone = _invoke(tmp_path, "--out", str(out), "--certificate", str(key))
    assert alone.exit_code == 2 and "--eca-contact-email" in alone.stderr
    unreadable = _invoke(
        tmp_path, "--out", str(out), "--eca-contact-email", "a@b.co",
        "--certificate", str(tmp_path / "missing.crt"),
    )  # fmt: skip
    assert unreadable.exit_code == 2 and "missing.crt" in unreadable.stderr
    old = _invoke(tmp_path, "--out", str(out), "--eca-contact-email", "a@b.co")
    assert old.exit_code == 0 and "upload cmsync.crt in Setup" in old.stdout
