"""A Closed-Won deal's ChartMogul writes as one outbox effect (``import_deal``).

The Closed-Won poll decides (which customer, which plan, refused or not) and enqueues this
effect in the transaction that advances its cursor; the dispatcher's ChartMogul executor
(``dispatch.closed_won_send``) sends it. The effect names what the poll found and what is still
to be made: the customer (its uuid, or ``None`` for one to create, external id = the Account
Id) and the plan (its external id, created from ``closed_won.create_plans`` when missing);
the invoice's external id is the Opportunity Id. Each of those external ids is unique in
ChartMogul, so a send repeated after a crash finds what the lost attempt made instead of
doubling it.

An operator's void of an unwound deal (``void_deal``) is an effect too: the command enqueues
it, the same executor deletes the invoice and settles the deal's problem.

The payload is plain JSON (the outbox column), written and read here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cmsync.pipeline.closed_won.deal import Deal
from cmsync.pipeline.closed_won.steps import Holder
from state import MatchMethod, OutboxItem, System

__all__ = ["IMPORT_DEAL", "VOID_DEAL", "DealImport", "VoidDeal", "import_row", "void_row"]

IMPORT_DEAL = "import_deal"  # the outbox kind: customer if new, plan if missing, invoice


@dataclass(frozen=True)
class DealImport:
    """What the poll decided for one won deal; the executor's input."""

    deal: Deal
    plan_key: str
    chosen_by: str  # what chose the plan (for a refusal's reason)
    holder: Holder | None  # None: a new customer, created in ``data_source_uuid``
    data_source_uuid: str
    email: str | None  # a new customer's email (the Account's first Contact's)
    stale: str | None  # a gone customer the Account's link names (a new one replaces it)

    def payload(self) -> dict[str, Any]:
        d = self.deal
        return {
            "deal": {
                "opportunity_id": d.opportunity_id,
                "name": d.name,
                "account_id": d.account_id,
                "amount": None if d.amount is None else str(d.amount),
                "close_date": None if d.close_date is None else d.close_date.isoformat(),
                "type": d.type,
                "plan_value": d.plan_value,
                "account_name": d.account_name,
                "country": d.country,
                "account_created": (
                    None if d.account_created is None else d.account_created.isoformat()
                ),
                "website": d.website,
                "uuid_field": d.uuid_field,
            },
            "plan": {"key": self.plan_key, "chosen_by": self.chosen_by},
            "holder": None if self.holder is None else _holder_payload(self.holder),
            "data_source_uuid": self.data_source_uuid,
            "email": self.email,
            "stale": self.stale,
        }

    @classmethod
    def of(cls, payload: dict[str, Any]) -> DealImport:
        raw = payload["deal"]
        amount, close, created = raw["amount"], raw["close_date"], raw["account_created"]
        deal = Deal(
            opportunity_id=raw["opportunity_id"],
            name=raw["name"],
            account_id=raw["account_id"],
            amount=None if amount is None else Decimal(amount),
            close_date=None if close is None else date.fromisoformat(close),
            type=raw["type"],
            plan_value=raw["plan_value"],
            account_name=raw["account_name"],
            country=raw["country"],
            account_created=None if created is None else datetime.fromisoformat(created),
            website=raw["website"],
            uuid_field=raw["uuid_field"],
        )
        holder = payload["holder"]
        return cls(
            deal=deal,
            plan_key=payload["plan"]["key"],
            chosen_by=payload["plan"]["chosen_by"],
            holder=None if holder is None else _holder_of(holder),
            data_source_uuid=payload["data_source_uuid"],
            email=payload["email"],
            stale=payload["stale"],
        )


def _holder_payload(holder: Holder) -> dict[str, Any]:
    return {
        "uuid": holder.uuid,
        "label": holder.label,
        "data_source_uuid": holder.data_source_uuid,
        "external_id": holder.external_id,
        "url": holder.url,
        "pays": holder.pays,
        "link_by": None if holder.link_by is None else holder.link_by.value,
        "stale": holder.stale,
        "survives": holder.survives,
        "external_ids": list(holder.external_ids),
    }


def _holder_of(raw: dict[str, Any]) -> Holder:
    link_by = raw["link_by"]
    return Holder(
        uuid=raw["uuid"],
        label=raw["label"],
        data_source_uuid=raw["data_source_uuid"],
        external_id=raw["external_id"],
        url=raw["url"],
        pays=raw["pays"],
        link_by=None if link_by is None else MatchMethod(link_by),
        stale=raw["stale"],
        survives=raw["survives"],
        external_ids=tuple(raw["external_ids"]),
    )


def import_row(decided: DealImport, version: str) -> OutboxItem:
    """The outbox row of a decided deal. ``version`` (the Opportunity's SystemModstamp) is in
    the key: a replayed page adds nothing, while a deal edited after its import was refused
    (fixed at the source, then read again) gets a row of its own."""
    opportunity = decided.deal.opportunity_id
    return OutboxItem(
        idempotency_key=f"closed_won_import|{opportunity}|{version}",
        kind=IMPORT_DEAL,
        target_system=System.CHARTMOGUL,
        target_object="Invoice",
        target_key=opportunity,
        key_field="external_id",
        payload=decided.payload(),
        reason=f"Closed-Won Opportunity {decided.deal.name} ({opportunity}) to import",
    )


VOID_DEAL = "void_deal"  # the outbox kind: an operator's void of an unwound deal's invoice


@dataclass(frozen=True)
class VoidDeal:
    """An operator's void: delete the invoice ChartMogul still counts for an unwound deal,
    then close its problem (the quarantine entry) and mark the deal voided."""

    opportunity_id: str
    invoice_uuid: str
    entry_id: int  # the ``deal_unwound`` quarantine entry the void settles
    command_id: int  # the operator's command that asked for it

    def payload(self) -> dict[str, Any]:
        return {
            "opportunity_id": self.opportunity_id,
            "invoice_uuid": self.invoice_uuid,
            "entry_id": self.entry_id,
            "command_id": self.command_id,
        }

    @classmethod
    def of(cls, payload: dict[str, Any]) -> VoidDeal:
        return cls(
            opportunity_id=str(payload["opportunity_id"]),
            invoice_uuid=str(payload["invoice_uuid"]),
            entry_id=int(payload["entry_id"]),
            command_id=int(payload["command_id"]),
        )


def void_row(void: VoidDeal) -> OutboxItem:
    """The outbox row of an operator's void. Keyed by the deal, its invoice and the command:
    the command's transaction enqueues it once; a void asked again after this one was skipped
    as a dead letter gets a row of its own. The delete itself is idempotent (a second one
    answers 404, counted as done)."""
    return OutboxItem(
        idempotency_key=f"void_deal|{void.opportunity_id}|{void.invoice_uuid}|{void.command_id}",
        kind=VOID_DEAL,
        target_system=System.CHARTMOGUL,
        target_object="Invoice",
        target_key=void.invoice_uuid,
        key_field="uuid",
        payload=void.payload(),
        reason=f"void of unwound Opportunity {void.opportunity_id} (command {void.command_id})",
    )
