"""The two actions on an unwound Closed-Won deal: void its invoice, or keep it.

A ``deal_unwound`` quarantine entry (``cmsync.pipeline.closed_won.unwound``) names the invoice
ChartMogul still counts. ``void`` deletes it (``DELETE /v1/invoices/{uuid}``; ChartMogul
recalculates the customer's metrics), ``keep`` leaves it; either closes the entry and settles
the deal (voided or kept), so it is never raised again.

The delete is a ChartMogul write and cannot happen inside the store transaction that finishes
the command, so ``void_invoices`` does it first, for every new void command, and hands its
answers to ``carry_out`` (``cmsync.daemon.commands``), which finishes each command in one
transaction. A command whose delete got no answer (ChartMogul down) is left new and tried on
the next tick; a crash between the delete and the commit leaves it new too, and the repeated
delete answers 404, which counts as done: voiding is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.errors import ChartMogulClientError, ChartMogulError
from cmsync.storeio import in_store
from state import (
    Command,
    CommandKind,
    DealStatus,
    QuarantineEntry,
    QuarantineKind,
    QuarantineStatus,
    Store,
    Transaction,
)

__all__ = ["VoidAnswer", "deal_command", "void_invoices"]

log = logging.getLogger("cmsync.daemon")

DEAL_COMMANDS = (CommandKind.VOID, CommandKind.KEEP)


@dataclass(frozen=True)
class VoidAnswer:
    """What ChartMogul answered to the delete of one void command's invoice."""

    ok: bool
    detail: str


def _entry_of(tx: Transaction, command: Command) -> QuarantineEntry | None:
    kind, _, raw = command.target.partition(":")
    if kind != "quarantine" or not raw.isdigit():
        return None
    entry = tx.quarantine.get(int(raw))
    if entry is None or entry.status is not QuarantineStatus.OPEN:
        return None
    return entry if entry.kind is QuarantineKind.DEAL_UNWOUND else None


async def void_invoices(store: Store, chartmogul: ChartMogulClient) -> dict[int, VoidAnswer]:
    """Delete the invoice of every new void command's unwound deal; answers by command id.

    Commands that name no open unwound deal get no answer here: ``carry_out`` fails them
    with the reason. Those ChartMogul did not answer are left out: they stay new.
    """

    def wanted(tx: Transaction) -> list[tuple[int, str]]:
        found: list[tuple[int, str]] = []
        for command in tx.commands.new(limit=50):
            entry = _entry_of(tx, command) if command.kind is CommandKind.VOID else None
            invoice = entry.payload.get("invoice_uuid") if entry is not None else None
            if isinstance(invoice, str) and invoice:
                found.append((command.id, invoice))
        return found

    answers: dict[int, VoidAnswer] = {}
    for command_id, invoice in await in_store(store, wanted):
        try:
            deleted = await chartmogul.delete_invoice(invoice)
        except ChartMogulClientError as exc:  # refused as sent: the operator reads why
            answers[command_id] = VoidAnswer(False, f"ChartMogul refused the delete: {exc}")
        except ChartMogulError as exc:
            log.warning("void of invoice %s not done yet (%s); trying again", invoice, exc)
        else:
            detail = "deleted" if deleted else "already gone"
            answers[command_id] = VoidAnswer(True, f"invoice {invoice} {detail} in ChartMogul")
    return answers


def deal_command(
    tx: Transaction, command: Command, entry: QuarantineEntry, voids: Mapping[int, VoidAnswer]
) -> tuple[bool, str]:
    """Finish a void or keep on an open quarantine entry: (ok, what the operator reads)."""
    if entry.kind is not QuarantineKind.DEAL_UNWOUND:
        return False, "only an unwound Closed-Won deal can be voided or kept"
    opportunity = entry.record_key
    invoice = entry.payload.get("invoice_uuid")
    if command.kind is CommandKind.KEEP:
        tx.deals.mark(opportunity, DealStatus.KEPT, was=DealStatus.UNWOUND)
        tx.quarantine.resolve(entry.id, f"kept by an operator: invoice {invoice} stays")
        return True, f"invoice {invoice} kept; Opportunity {opportunity} is not raised again"
    answer = voids.get(command.id)
    if answer is None:
        return False, f"invoice {invoice} was not deleted: ChartMogul was not asked"
    if not answer.ok:
        return False, answer.detail
    tx.deals.mark(opportunity, DealStatus.VOIDED, was=DealStatus.UNWOUND)
    tx.quarantine.resolve(entry.id, f"voided by an operator: {answer.detail}")
    return True, answer.detail
