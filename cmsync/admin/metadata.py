"""The SFDX project an admin deploys so cmsync has every field and permission it needs.

``build_project(settings)`` returns the files (paths and bytes, nothing written yet);
``write_project`` puts them under a directory::

    sfdx-project.json
    manifest/package.xml                       the same components, for a manifest deploy
    force-app/main/default/objects/<Object>/fields/<Field>.field-meta.xml
    force-app/main/default/objects/CM_Metric_Snapshot__c/CM_Metric_Snapshot__c.object-meta.xml
    force-app/main/default/permissionsets/cmsync_Integration.permissionset-meta.xml
    force-app/main/default/externalClientApps/cmsync.eca-meta.xml
    force-app/main/default/extlClntAppOauthSettings/cmsync_oauth.ecaOauth-meta.xml
    force-app/main/default/extlClntAppGlobalOauthSets/cmsync_glbloauth.ecaGlblOauth-meta.xml

(the last three, the External Client App, only when ``eca`` options are given: see
``cmsync.admin.eca``).

The fields are the mapped catalogue's custom fields (renamed ones under their configured
names; a mapping onto a standard field deploys nothing) on Account, Contact, Lead,
Opportunity, Task, Case and the snapshot object. Task and Event custom fields are defined on
``Activity`` in metadata: the file lives under ``objects/Activity/fields/`` and the manifest
member is ``Activity.CM_Sync_Key__c``, while the permission set names ``Task.CM_Sync_Key__c``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cmsync.admin.eca import EcaOptions, check_api_version, eca_components
from cmsync.admin.mapping import mapped_catalogue
from cmsync.admin.metaxml import custom_field, custom_object, root, serialise, sub
from cmsync.admin.needs import SNAPSHOT, needs
from cmsync.admin.permissions import (
    ACTIVITIES,
    PERMISSION_SET,
    field_grants,
    object_grants,
    permission_set,
)
from cmsync.config import Settings
from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE
from cmsync.salesforce.schema import Catalogue

__all__ = [
    "METADATA_OBJECTS",
    "MetadataFile",
    "MetadataProject",
    "build_project",
    "eca_path",
    "field_path",
    "metadata_object",
    "object_path",
    "package_xml",
    "permission_set_path",
    "write_project",
]

METADATA_OBJECTS = ("Account", "Contact", "Lead", "Opportunity", "Task", "Case", SNAPSHOT)
SOURCE_ROOT = PurePosixPath("force-app/main/default")
PACKAGE_XML = PurePosixPath("manifest/package.xml")
PROJECT_NAME = "cmsync-salesforce"


def metadata_object(sobject: str) -> str:
    """The object a custom field is defined on in metadata (``Activity`` for Task/Event)."""
    return "Activity" if sobject in ACTIVITIES else sobject


def field_path(sobject: str, field: str) -> PurePosixPath:
    """Where the source file of ``sobject.field`` lives in the project."""
    obj = metadata_object(sobject)
    return SOURCE_ROOT / "objects" / obj / "fields" / f"{field}.field-meta.xml"


def object_path(sobject: str) -> PurePosixPath:
    return SOURCE_ROOT / "objects" / sobject / f"{sobject}.object-meta.xml"


def permission_set_path() -> PurePosixPath:
    return SOURCE_ROOT / "permissionsets" / f"{PERMISSION_SET}.permissionset-meta.xml"


def eca_path(directory: str, member: str, suffix: str) -> PurePosixPath:
    """Where an External Client App component lives (source format appends ``-meta.xml``)."""
    return SOURCE_ROOT / directory / f"{member}.{suffix}-meta.xml"


@dataclass(frozen=True)
class MetadataFile:
    path: PurePosixPath  # relative to the project directory
    content: bytes


@dataclass(frozen=True)
class MetadataProject:
    files: tuple[MetadataFile, ...]
    members: Mapping[str, tuple[str, ...]]  # package.xml: metadata type -> member names
    api_version: str

    def file(self, path: str | PurePosixPath) -> MetadataFile:
        wanted = PurePosixPath(path)
        for item in self.files:
            if item.path == wanted:
                return item
        raise KeyError(str(path))


def package_xml(members: Mapping[str, tuple[str, ...]], api_version: str) -> ET.Element:
    """``manifest/package.xml``: types by name, members sorted, then the API version."""
    package = root("Package")
    for name in sorted(members):
        types = ET.SubElement(package, "types")
        for member in sorted(members[name]):
            sub(types, "members", member)
        sub(types, "name", name)
    sub(package, "version", api_version)
    return package


def _sfdx_project(settings: Settings) -> bytes:
    project = {
        "packageDirectories": [{"path": "force-app", "default": True}],
        "name": PROJECT_NAME,
        "namespace": "",
        "sfdcLoginUrl": str(settings.salesforce.login_url).rstrip("/"),
        "sourceApiVersion": settings.salesforce.api_version,
    }
    return (json.dumps(project, indent=2) + "\n").encode()


def build_project(
    settings: Settings,
    catalogue: Catalogue = DEFAULT_CATALOGUE,
    eca: EcaOptions | None = None,
) -> MetadataProject:
    """Every file of the project for ``settings`` (field mapping, API version), and the
    External Client App when ``eca`` is given (``EcaError`` if the API version is too old)."""
    version = settings.salesforce.api_version
    if eca is not None:
        check_api_version(version, eca)
    mapped = mapped_catalogue(settings.fields, catalogue)
    files: list[MetadataFile] = []
    field_members: dict[str, None] = {}  # ordered set: Activity fields are shared
    granted: list[str] = []
    for name in METADATA_OBJECTS:
        sobject = mapped[name]
        if sobject.custom:
            files.append(MetadataFile(object_path(name), serialise(custom_object(sobject))))
        for spec in sobject.fields:
            if not spec.custom:
                continue
            member = f"{metadata_object(name)}.{spec.name}"
            if member not in field_members:
                field_members[member] = None
                xml = serialise(custom_field(sobject, spec))
                files.append(MetadataFile(field_path(name, spec.name), xml))
            granted.append(f"{name}.{spec.name}")
    objects_needed = needs(settings, catalogue)
    pset = permission_set(object_grants(objects_needed), field_grants(objects_needed, granted))
    files.append(MetadataFile(permission_set_path(), serialise(pset)))
    members = {
        "CustomField": tuple(field_members),
        "CustomObject": tuple(n for n in METADATA_OBJECTS if mapped[n].custom),
        "PermissionSet": (PERMISSION_SET,),
    }
    for component in eca_components(eca) if eca is not None else ():
        path = eca_path(component.directory, component.member, component.suffix)
        files.append(MetadataFile(path, serialise(component.element)))
        members[component.metadata_type] = (component.member,)
    files.append(MetadataFile(PACKAGE_XML, serialise(package_xml(members, version))))
    files.append(MetadataFile(PurePosixPath("sfdx-project.json"), _sfdx_project(settings)))
    return MetadataProject(tuple(files), members, version)


def write_project(project: MetadataProject, out: Path) -> list[Path]:
    """Write every file under ``out`` (created if needed; existing files are replaced)."""
    written = []
    for item in project.files:
        path = out.joinpath(*item.path.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(item.content)
        written.append(path)
    return written
