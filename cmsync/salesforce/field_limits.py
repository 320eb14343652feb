"""The limits of the fields cmsync writes: from the org's describe, else from the catalogue.

The catalogue (``cmsync.salesforce.catalogue``) is what cmsync deploys; the org may differ (an
admin shortened a field, restricted a picklist, or the config maps a setting onto a field of
the org's own). Describe says what the org really holds (REST API Developer Guide, "sObject
Describe": each field's ``type``, ``length``, ``precision``, ``scale``, ``picklistValues``
and ``restrictedPicklist``), so the dispatcher fits writes to describe's limits once it has
read them, and to the catalogue's until then.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from cmsync.errors import AuthError, PermanentError, RetriableError
from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE, Catalogue, FieldSpec
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import identifier
from state.fieldfit import FieldLimits, LimitsBook

__all__ = ["WRITTEN_OBJECTS", "catalogue_limits", "describe_limits", "limits_of", "read_limits"]

log = logging.getLogger("cmsync.salesforce")

# The objects the outbox writes to.
WRITTEN_OBJECTS = ("Account", "Contact", "Lead", "Opportunity", "Task", "Case",
                   "CM_Metric_Snapshot__c")  # fmt: skip


def limits_of(spec: FieldSpec) -> FieldLimits:
    return FieldLimits(
        type=spec.type.value,
        length=spec.length,
        precision=spec.precision,
        scale=spec.scale,
        picklist=frozenset(p.value for p in spec.picklist_values if p.active),
        restricted=spec.restricted_picklist,
    )


def catalogue_limits(catalogue: Catalogue = DEFAULT_CATALOGUE) -> LimitsBook:
    """Every field of the catalogue's objects."""
    return LimitsBook(
        {
            (sobject.name.casefold(), spec.name.casefold()): limits_of(spec)
            for sobject in catalogue
            for spec in sobject.fields
        }
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def describe_limits(sobject: str, describe: Mapping[str, Any]) -> LimitsBook:
    """The limits of every field in one object's describe body."""
    out: dict[tuple[str, str], FieldLimits] = {}
    for field in describe.get("fields") or ():
        name = field.get("name")
        if not isinstance(name, str):
            continue
        values = field.get("picklistValues") or ()
        out[(sobject.casefold(), name.casefold())] = FieldLimits(
            type=str(field.get("type") or ""),
            length=_int(field.get("length")),
            precision=_int(field.get("precision")),
            scale=_int(field.get("scale")),
            picklist=frozenset(
                str(p["value"]) for p in values if p.get("active", True) and "value" in p
            ),
            restricted=bool(field.get("restrictedPicklist")),
        )
    return LimitsBook(out)


async def read_limits(
    gateway: SalesforceGateway, objects: Iterable[str] = WRITTEN_OBJECTS
) -> LimitsBook:
    """The catalogue's limits overlaid with each object's describe (one call per object,
    or none for one the gateway has described already: the start's mapping gate did).

    An object whose describe fails keeps the catalogue's limits (logged): knowing less only
    means Salesforce refuses what does not fit, as it did before. An auth failure propagates
    (nothing else would work either).
    """
    book = catalogue_limits()
    for sobject in objects:
        try:
            described = await gateway.describe(identifier(sobject))
        except AuthError:
            raise
        except (RetriableError, PermanentError) as exc:
            log.warning("describe %s failed, fitting its writes to the catalogue: %s", sobject, exc)
            continue
        book = book.merged(describe_limits(sobject, described))
    return book
