"""Reconciliation's core: what a record should hold, and how it differs from what it holds (pure).

Theory of operation. Values are compared in the form the dispatcher would send them (the wire
form: ``Translator.account_fields`` and ``wire``) against what a SOQL query answers. The two
sides spell some values differently; a field drifts only when Salesforce would show another
value, by the rule the dry run's preview uses too (``state.samevalue``: numbers within half a
cent, an empty text is null, date-times as instants, a checkbox only as a boolean).

What a record should hold comes from the ChartMogul customer record alone, so the comparison
costs no call per customer: for an Account, the customer sweep's ``figures``; for an enriched
Contact or Lead, the fields the customer record gives cheaply (MRR, status, UUID). Plan, LTV
and subscription start need more calls, and stay with the enrichment job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cmsync.chartmogul.records import Customer
from cmsync.config import PersonFieldMap
from cmsync.pipeline.streams.customers import figures
from cmsync.pipeline.translate import Translator, wire
from state.effects import AccountField, FieldValue, Money
from state.samevalue import same

__all__ = [
    "FIGURE_FIELDS",
    "FieldDrift",
    "RecordDrift",
    "account_wanted",
    "diff_fields",
    "person_wanted",
    "same",
]

# The Account fields ``figures`` can set: the columns reconciliation reads.
FIGURE_FIELDS = (
    AccountField.CUSTOMER_UUID,
    AccountField.MRR,
    AccountField.ARR,
    AccountField.STATUS,
    AccountField.CUSTOMER_SINCE,
    AccountField.URL,
)

_STATUS_LIMIT = 40  # the people's status field is a Text(40)


@dataclass(frozen=True)
class FieldDrift:
    """One field whose value in Salesforce is not what it should be."""

    field: str  # API name
    want: Any  # as it will be sent
    held: Any  # as Salesforce answered


@dataclass(frozen=True)
class RecordDrift:
    """A record with drifting fields: what an admin reads, and the update that repairs it."""

    sobject: str
    record_id: str
    customer_uuid: str
    fields: tuple[FieldDrift, ...]
    name: str | None = None

    @property
    def payload(self) -> dict[str, Any]:
        """The update that repairs it: only the drifting fields, as sent."""
        return {f.field: f.want for f in self.fields}

    def describe(self) -> str:
        changes = ", ".join(f"{f.field}: {f.held!r} -> {f.want!r}" for f in self.fields)
        label = f" ({self.name})" if self.name else ""
        return f"{self.sobject} {self.record_id}{label}: {changes}"


def diff_fields(want: Mapping[str, Any], held: Mapping[str, Any]) -> tuple[FieldDrift, ...]:
    """The fields of ``want`` that ``held`` does not show (a field not in ``held`` is null)."""
    return tuple(
        FieldDrift(name, value, held.get(name))
        for name, value in want.items()
        if not same(value, held.get(name))
    )


def account_wanted(
    customer: Customer, translator: Translator
) -> dict[str, tuple[AccountField, FieldValue, Any]]:
    """API name -> (logical field, value, wire value) of what the customer's Account holds."""
    out: dict[str, tuple[AccountField, FieldValue, Any]] = {}
    for name, value in figures(customer).items():
        ((api, sent),) = translator.account_fields({name: value}).items()
        out[api] = (name, value, sent)
    return out


def person_wanted(customer: Customer, names: PersonFieldMap) -> dict[str, Any]:
    """What an enriched Contact or Lead of ``customer`` holds, of what the record gives.

    As enrichment writes it (``enrich_figures.person_payload``): an unknown status is left
    as it is rather than blanked, and a long one is cut to the field's 40 characters.
    """
    wanted: dict[str, Any] = {
        names.customer_uuid: customer.uuid,
        names.mrr: wire(Money(customer.mrr)),
    }
    if customer.status:
        wanted[names.status] = customer.status[:_STATUS_LIMIT]
    return wanted
