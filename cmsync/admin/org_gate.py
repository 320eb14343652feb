"""``cmsync run`` refuses to start on a field mapping the org cannot take.

A field the org lacks (or hides from the integration user), of a type that cannot hold what
cmsync writes, or that the integration user may not write fails every write of it: a daemon
started anyway dead-letters every Account update on every sweep. So the first refresh runs
the doctor's own describe checks (``sf_checks.check_object`` over ``needs``, one definition)
on the objects the enabled jobs use, and stops with each failing setting named and its fix.
A refusal is not transient: the org or the config must change first, so it is never retried.

Only the checks whose failure is certain for every record refuse (``sf_schema.MISSING``,
``TYPE``, ``ACCESS``); a shorter text field or a missing picklist value costs single records,
which the dispatcher contains, and ``cmsync doctor`` reports them all.
"""

from __future__ import annotations

import asyncio

from cmsync.admin.findings import Finding
from cmsync.admin.mapping import MappingError
from cmsync.admin.needs import SNAPSHOT, ObjectNeed, needs
from cmsync.admin.sf_checks import check_object
from cmsync.admin.sf_schema import ACCESS, MISSING, TYPE
from cmsync.config import Settings
from cmsync.errors import FatalError
from cmsync.salesforce.gateway import SalesforceGateway

__all__ = ["REFUSING", "MappingRefusedError", "mapping_refusal"]

REFUSING = frozenset({MISSING, TYPE, ACCESS})


class MappingRefusedError(FatalError):
    """The org cannot take the field mapping; the message names each setting and its fix."""


def _in_use(need: ObjectNeed, settings: Settings) -> bool:
    """Whether an enabled job writes or reads the object (a disabled one needs nothing)."""
    if need.name in ("Contact", "Lead"):
        return settings.enrichment.enabled
    if need.name == "Case":
        return bool(settings.sync.cases_for)
    if need.name == SNAPSHOT:
        return settings.reports.enabled
    return True


def _sentence(need: ObjectNeed, finding: Finding) -> str:
    settings = {f"{need.name}.{f.name}".casefold(): f.setting for f in need.fields}
    setting = settings.get(finding.subject.casefold())
    where = f"{setting} ({finding.subject})" if setting else finding.subject
    return f"{where}: {finding.message}" + (f"; fix: {finding.fix}" if finding.fix else "")


def _refused(problems: list[str]) -> MappingRefusedError:
    return MappingRefusedError(
        "the org cannot take the field mapping, and every write of "
        + ("this field" if len(problems) == 1 else "these fields")
        + " would fail: "
        + " | ".join(problems)
        + " (`cmsync doctor` shows every check)"
    )


async def mapping_refusal(
    settings: Settings, gateway: SalesforceGateway
) -> MappingRefusedError | None:
    """Why the daemon must not start on this mapping, or None; login and transport errors
    propagate (the first refresh decides whether to try again)."""
    try:
        objects = needs(settings)
    except MappingError as exc:  # two settings naming one field: no describe needed
        return _refused([f"{exc}; fix the [fields] section"])
    used = [need for need in objects if _in_use(need, settings)]
    # Side by side, as the doctor runs them: the start waits for one round trip, not seven.
    # Kept by the gateway: the field limits read at the first refresh use the same ones.
    checked = await asyncio.gather(*(check_object(gateway, need, kept=True) for need in used))
    problems = [
        _sentence(need, finding)
        for need, findings in zip(used, checked, strict=True)
        for finding in findings
        if finding.check in REFUSING
    ]
    return _refused(problems) if problems else None
