"""Compare a Salesforce describe with what cmsync needs of that object (pure; no I/O).

Describe shows only what the integration user can see, with ``createable``/``updateable``
saying what it may change: so one describe per object answers "is the field there", "is it
the right type", "is it an External ID" and "may cmsync write it". A missing field is either
not deployed or hidden by field-level security; the fix names both remedies.

Types are compared by compatibility, not equality: cmsync can write a currency amount into a
currency or a double field, a plan name into a text field or an unrestricted picklist.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from cmsync.admin.findings import Finding
from cmsync.admin.metadata import field_path, object_path
from cmsync.admin.metaxml import metadata_type
from cmsync.admin.needs import Access, FieldNeed, ObjectNeed
from cmsync.admin.permissions import ACTIVITIES, PERMISSION_SET
from cmsync.salesforce.schema import FieldType

__all__ = ["ACCESS", "AREA", "MISSING", "TYPE", "compare", "missing_object"]

AREA = "Salesforce"
# The checks whose failure makes every write of the field fail, whatever the value: the field
# is not there (or hidden), cannot hold what cmsync writes, or may not be written. ``cmsync
# run`` refuses to start on them (``org_gate``); the others cost single records at most.
MISSING, TYPE, ACCESS = "missing", "type", "access"
T = FieldType
_TEXT = frozenset({"string", "textarea"})
# Expected type -> describe types a value of it can be written to (or read from).
COMPATIBLE: Mapping[FieldType, frozenset[str]] = {
    T.ID: frozenset({"id"}),
    T.STRING: _TEXT | {"combobox"},
    T.TEXTAREA: _TEXT,
    T.EMAIL: frozenset({"email", "string"}),
    T.URL: _TEXT | {"url"},
    T.PHONE: frozenset({"phone", "string"}),
    T.PICKLIST: frozenset({"picklist", "combobox", "string"}),
    T.COMBOBOX: frozenset({"combobox", "picklist", "string"}),
    T.CURRENCY: frozenset({"currency", "double"}),
    T.DOUBLE: frozenset({"double", "currency", "int"}),
    T.PERCENT: frozenset({"percent", "double"}),
    T.INT: frozenset({"int", "double"}),
    T.BOOLEAN: frozenset({"boolean"}),
    T.DATE: frozenset({"date"}),
    T.DATETIME: frozenset({"datetime"}),
    T.REFERENCE: frozenset({"reference"}),
}
_SIZED = frozenset({T.STRING, T.TEXTAREA, T.EMAIL, T.URL, T.PHONE, T.COMBOBOX})
_GRANT = f"the permission set {PERMISSION_SET} (from `cmsync salesforce metadata`)"


def _deploy_fix(need: FieldNeed, sobject: str) -> str:
    fix = (
        f"deploy {field_path(sobject, need.name)} from `cmsync salesforce metadata` and assign "
        f"{PERMISSION_SET} to the integration user"
    )
    if need.setting:
        fix += f"; or set {need.setting} to the name of the org's own field"
    return fix


def _kind(need: FieldNeed) -> str:
    spec = need.spec
    try:
        kind = metadata_type(spec)
    except ValueError:
        return spec.type.value
    if kind in ("Currency", "Number", "Percent"):
        return f"{kind}({spec.precision}, {spec.scale})"
    if kind == "Text":
        return f"Text({spec.length})"
    if kind == "Lookup":
        return f"Lookup({', '.join(spec.reference_to)})"
    return kind


def _check_field(sobject: str, need: FieldNeed, actual: Mapping[str, Any]) -> Iterator[Finding]:
    spec, subject = need.spec, f"{sobject}.{need.name}"
    kind = str(actual.get("type", ""))
    verb = "reads" if need.access is Access.READ else "writes"
    if kind not in COMPATIBLE[spec.type]:
        change = f"change its type to {_kind(need)}" if spec.custom else "restore its type"
        also = f", or set {need.setting} to a {spec.type.value} field" if need.setting else ""
        yield Finding.error(
            AREA, subject, f"is {kind or 'untyped'}, but cmsync {verb} a {spec.type.value}",
            f"{change}{also}", check=TYPE,
        )  # fmt: skip
        return
    if spec.type is T.REFERENCE:
        missing = set(spec.reference_to) - set(actual.get("referenceTo") or ())
        if missing:
            yield Finding.error(
                AREA, subject, f"does not refer to {', '.join(sorted(missing))}",
                f"point it at {', '.join(spec.reference_to)}"
                + (f" or set {need.setting} to a lookup that does" if need.setting else ""),
                check=TYPE,
            )  # fmt: skip
    yield from _check_flags(sobject, need, actual)
    yield from _check_access(sobject, need, actual)
    yield from _check_values(sobject, need, actual)
    length = int(actual.get("length") or 0)
    if need.access is not Access.READ and spec.type in _SIZED and 0 < length < spec.length:
        yield Finding.warning(
            AREA, subject, f"holds {length} characters, cmsync may write up to {spec.length}",
            f"raise its length to {spec.length}; longer values are refused (STRING_TOO_LONG)",
        )  # fmt: skip


def _check_flags(sobject: str, need: FieldNeed, actual: Mapping[str, Any]) -> Iterator[Finding]:
    spec, subject = need.spec, f"{sobject}.{need.name}"
    edit = f"in Setup, edit {subject} and tick"
    if spec.external_id and not actual.get("externalId"):
        if need.key:
            yield Finding.error(
                AREA, subject, "is not an External ID: cmsync upserts on it, and every upsert "
                "would fail", f"{edit} External ID (and Unique)",
            )  # fmt: skip
        else:
            yield Finding.warning(
                AREA, subject, "is not an External ID: matching by it is slower and unindexed",
                f"{edit} External ID",
            )  # fmt: skip
    if spec.unique and not actual.get("unique"):
        message = "is not Unique: two records could carry the same value"
        if need.key:
            yield Finding.error(
                AREA, subject, message + ", and an upsert would then fail (300 Multiple "
                "Choices) instead of updating", f"{edit} Unique",
            )  # fmt: skip
        else:
            yield Finding.warning(AREA, subject, message, f"{edit} Unique")


def _check_access(sobject: str, need: FieldNeed, actual: Mapping[str, Any]) -> Iterator[Finding]:
    wanted = {Access.READ: (), Access.UPDATE: ("updateable",)}.get(
        need.access, ("createable", "updateable")
    )
    lacking = [flag for flag in wanted if not actual.get(flag)]
    if not lacking:
        return
    how = " or ".join("create" if flag == "createable" else "edit" for flag in lacking)
    yield Finding.error(
        AREA, f"{sobject}.{need.name}", f"the integration user may not {how} it",
        f"grant Edit on {sobject}.{need.name} (field-level security; {_GRANT} does)"
        if need.spec.custom else f"grant Edit on {sobject}.{need.name} (field-level security)",
        check=ACCESS,
    )  # fmt: skip


def _check_values(sobject: str, need: FieldNeed, actual: Mapping[str, Any]) -> Iterator[Finding]:
    if not need.values or actual.get("type") != "picklist":
        return
    if not (need.strict_values or actual.get("restrictedPicklist")):
        return  # an unrestricted picklist takes any value
    active = {p.get("value") for p in actual.get("picklistValues") or () if p.get("active", True)}
    missing = [v for v in need.values if v not in active]
    if missing:
        fix = f"add {', '.join(repr(v) for v in missing)} to the {sobject}.{need.name} picklist"
        if need.setting:
            fix += f", or set {need.setting} to one of its values"
        yield Finding.error(
            AREA, f"{sobject}.{need.name}",
            f"has no active value {', '.join(repr(v) for v in missing)}, which cmsync writes", fix,
        )  # fmt: skip


def missing_object(need: ObjectNeed) -> Finding:
    """The finding for an object describe says does not exist (or the user cannot see)."""
    if need.custom:
        fix = (
            f"deploy {object_path(need.name)} and its fields from `cmsync salesforce metadata`, "
            f"and assign {PERMISSION_SET}"
        )
    else:
        fix = f"grant Read on {need.name} to the integration user ({_GRANT} does)"
    return Finding.error(AREA, need.name, "object is missing or not visible to the user", fix)


def _object_access(need: ObjectNeed, describe: Mapping[str, Any]) -> Iterator[Finding]:
    wanted = {"queryable": "read"}
    if need.access is not Access.READ:
        wanted["updateable"] = "edit"
    if need.access is Access.UPSERT:
        wanted["createable"] = "create"
    lacking = [verb for flag, verb in wanted.items() if not describe.get(flag, False)]
    if not lacking:
        return
    if need.name in ACTIVITIES:
        fix = f"grant the user permission Edit Tasks (EditTask; {_GRANT} does)"
    else:
        rights = "/".join(v.capitalize() for v in lacking)
        fix = f"grant {rights} on {need.name} (object permissions; {_GRANT} does)"
    yield Finding.error(
        AREA, need.name, f"the integration user may not {' or '.join(lacking)} {need.name}", fix
    )


def compare(need: ObjectNeed, describe: Mapping[str, Any]) -> list[Finding]:
    """Every finding for one object's describe body; one ok finding when all is well."""
    by_name = {str(f.get("name", "")).casefold(): f for f in describe.get("fields") or ()}
    findings = list(_object_access(need, describe))
    for field in need.fields:
        actual = by_name.get(field.name.casefold())
        subject = f"{need.name}.{field.name}"
        if actual is None:
            fix = (
                _deploy_fix(field, need.name)
                if field.spec.custom
                else f"grant Read on {subject} to the integration user (field-level security)"
            )
            findings.append(
                Finding.error(
                    AREA, subject, "is missing, or hidden from the integration user", fix,
                    check=MISSING,
                )
            )  # fmt: skip
            continue
        findings.extend(_check_field(need.name, field, actual))
    if not findings:
        written = sum(1 for f in need.fields if f.access is not Access.READ)
        findings.append(
            Finding.ok(
                AREA, need.name, f"{len(need.fields)} fields as cmsync needs them "
                f"({written} written)",
            )
        )  # fmt: skip
    return findings
