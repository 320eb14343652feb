"""The two actions on an unwound Closed-Won deal: void its invoice, or keep it.

A ``deal_unwound`` quarantine entry (``cmsync.pipeline.closed_won.unwound``) names the invoice
ChartMogul still counts. ``keep`` leaves it: the entry closes and the deal is settled as kept,
so it is never raised again. ``void`` deletes it (``DELETE /v1/invoices/{uuid}``; ChartMogul
recalculates the customer's metrics), and like every write it is an outbox effect
(``void_deal``, ``closed_won.effect``): the command enqueues it in its own transaction and
reports the void queued; the dispatcher's ChartMogul executor (``dispatch.closed_won_send``) deletes
the invoice, a 404 counting as done, then marks the deal voided, closes the entry and writes
the audit entry, in one transaction. So a void gets the retries, dead letters and audit of
any write, and a crash anywhere leaves it queued, never half done.

While a void is queued, the entry stays open: a second void or a keep is refused with the
row to look at; a void dead-lettered (ChartMogul refused the delete) is retried or skipped
as any dead letter, and once skipped the deal can be voided again or kept.
"""

from __future__ import annotations

from cmsync.pipeline.closed_won.effect import VOID_DEAL, VoidDeal, void_row
from state import (
    Command,
    CommandKind,
    CommandStatus,
    DealStatus,
    OutboxEntry,
    OutboxStatus,
    QuarantineEntry,
    QuarantineKind,
    Transaction,
)

__all__ = ["DEAL_COMMANDS", "deal_command", "void_fate"]

DEAL_COMMANDS = (CommandKind.VOID, CommandKind.KEEP)
_OPEN_ROW = (OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT, OutboxStatus.DEAD)


def _voids_of(tx: Transaction, invoice: str) -> list[OutboxEntry]:
    return [r for r in tx.outbox.of_records("Invoice", [invoice]) if r.kind == VOID_DEAL]


def deal_command(tx: Transaction, command: Command, entry: QuarantineEntry) -> tuple[bool, str]:
    """Keep, or queue the void of, an open quarantine entry: (ok, what the operator reads)."""
    if entry.kind is not QuarantineKind.DEAL_UNWOUND:
        return False, "only an unwound Closed-Won deal can be voided or kept"
    opportunity = entry.record_key
    invoice = str(entry.payload.get("invoice_uuid") or "")
    waiting = next((r for r in _voids_of(tx, invoice) if r.status in _OPEN_ROW), None)
    if waiting is not None:
        dead = waiting.status is OutboxStatus.DEAD
        how = "a dead letter: retry or skip it" if dead else "the daemon sends it"
        return False, f"a void of invoice {invoice} is queued already (outbox:{waiting.id}: {how})"
    if command.kind is CommandKind.KEEP:
        tx.deals.mark(opportunity, DealStatus.KEPT, was=DealStatus.UNWOUND)
        tx.quarantine.resolve(entry.id, f"kept by an operator: invoice {invoice} stays")
        return True, f"invoice {invoice} kept; Opportunity {opportunity} is not raised again"
    if not invoice:
        return False, f"Opportunity {opportunity}'s problem names no invoice to void"
    tx.outbox.enqueue([void_row(VoidDeal(opportunity, invoice, entry.id, command.id))])
    return True, f"void queued: invoice {invoice} of Opportunity {opportunity} is deleted next"


def void_fate(tx: Transaction, command: Command) -> tuple[CommandStatus, str] | None:
    """What became of the void ``command`` queued (None: it queued none): done, with what
    ChartMogul answered; failed, with why (a dead letter); or still new, waiting to be sent."""
    kind, _, raw = command.target.partition(":")
    entry = tx.quarantine.get(int(raw)) if kind == "quarantine" and raw.isdigit() else None
    invoice = entry.payload.get("invoice_uuid") if entry is not None else None
    if entry is None or not isinstance(invoice, str):
        return None
    mine = [r for r in _voids_of(tx, invoice) if r.payload.get("command_id") == command.id]
    if not mine:
        return None
    row = mine[-1]
    if row.status is OutboxStatus.DONE:
        return CommandStatus.DONE, entry.resolution or f"invoice {invoice} voided"
    if row.status is OutboxStatus.DEAD:
        return CommandStatus.FAILED, f"{row.last_error} (outbox:{row.id}: retry or skip it)"
    return CommandStatus.NEW, (
        f"void queued (outbox:{row.id}), ChartMogul did not answer the delete yet: the daemon "
        "sends it when it runs"
    )
