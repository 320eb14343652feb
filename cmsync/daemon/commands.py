"""Carrying out the dashboard's commands: retry, skip, resolve a match.

The dashboard writes command rows (see ``tui/commands.py`` for their format); the daemon reads
the new ones every few seconds and does each in ONE transaction with its ``finish``, so a
command is never half done. What each means:

- ``outbox:<id>`` (a dead letter): retry makes it pending again, due now; skip gives up on it.
- ``quarantine:<id>`` ambiguous match: resolve links the customer to the chosen Account
  (refused if that Account is already linked to another customer); retry closes the entry so
  the next customer sweep matches the customer again; skip closes it without linking.
- ``quarantine:<id>`` bad record or illegal transition: retry and skip close the entry; a
  retried illegal transition is applied again at once (its signal is in the payload), and
  quarantined again if it still cannot apply.
- ``quarantine:<id>`` unwound Closed-Won deal: void deletes its invoice in ChartMogul (done
  before the transaction by ``deal_commands.void_invoices``), keep leaves it; both close the
  entry for good (``cmsync.daemon.deal_commands``). Skip closes it too; retry means nothing.

A command that cannot be done is marked failed with the reason the operator will read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.daemon.deal_commands import DEAL_COMMANDS, VoidAnswer, deal_command, void_invoices
from cmsync.storeio import in_store
from state import (
    Command,
    CommandKind,
    CommandStatus,
    LinkConflictError,
    MatchMethod,
    QuarantineKind,
    QuarantineStatus,
    Store,
    System,
    Transaction,
)

__all__ = ["CommandOutcome", "carry_out", "run_new_commands"]

log = logging.getLogger("cmsync.daemon")


@dataclass(frozen=True)
class CommandOutcome:
    command: Command
    ok: bool
    result: str
    # A match was resolved, or an invoice voided: the customer sweep should run soon (to
    # write the newly linked Account's figures, or the voided customer's new ones).
    relinked: bool = False


def _target(command: Command) -> tuple[str, int]:
    kind, _, raw = command.target.partition(":")
    if kind not in ("outbox", "quarantine") or not raw.isdigit():
        raise ValueError(f"unknown target {command.target!r}")
    return kind, int(raw)


def _outbox(tx: Transaction, command: Command, row_id: int) -> CommandOutcome:
    if command.kind is CommandKind.RETRY:
        moved = tx.outbox.retry_dead([row_id])
        verb = "queued again"
    elif command.kind is CommandKind.SKIP:
        moved = tx.outbox.skip_dead([row_id])
        verb = "skipped"
    else:
        return CommandOutcome(
            command, False, f"a dead letter is retried or skipped, not {command.kind.value}"
        )
    if not moved:
        return CommandOutcome(
            command, False, f"outbox row {row_id} is not a dead letter (any more)"
        )
    return CommandOutcome(command, True, f"outbox row {row_id} {verb}")


def _quarantine(
    tx: Transaction,
    command: Command,
    entry_id: int,
    reapply: Callable[[Transaction, dict[str, object]], str],
    voids: Mapping[int, VoidAnswer],
) -> CommandOutcome:
    entry = tx.quarantine.get(entry_id)
    if entry is None or entry.status is not QuarantineStatus.OPEN:
        return CommandOutcome(command, False, f"quarantine entry {entry_id} is not open")
    if command.kind in DEAL_COMMANDS:
        ok, result = deal_command(tx, command, entry, voids)
        return CommandOutcome(command, ok, result, relinked=ok and command.kind is CommandKind.VOID)
    if command.kind is CommandKind.SKIP:
        tx.quarantine.skip(entry_id)
        return CommandOutcome(command, True, f"entry {entry_id} closed without action")
    if command.kind is CommandKind.RESOLVE_MATCH:
        if (
            entry.kind is not QuarantineKind.AMBIGUOUS_MATCH
            or entry.source is not System.CHARTMOGUL
        ):
            return CommandOutcome(
                command, False, "only a ChartMogul customer's ambiguous match can be resolved"
            )
        account = str(command.args.get("account", ""))
        if account not in entry.candidates:
            return CommandOutcome(command, False, f"{account!r} is not one of the candidates")
        try:
            tx.links.put(entry.record_key, account, MatchMethod.OPERATOR)
        except LinkConflictError as exc:
            return CommandOutcome(command, False, str(exc))
        tx.quarantine.resolve(entry_id, f"linked to Account {account} by an operator")
        return CommandOutcome(
            command, True, f"{entry.record_key} linked to Account {account}", relinked=True
        )
    # retry
    if entry.kind is QuarantineKind.DEAL_UNWOUND:
        return CommandOutcome(command, False, "an unwound deal is voided or kept, not retried")
    if entry.kind is QuarantineKind.AMBIGUOUS_MATCH:
        tx.quarantine.resolve(entry_id, "matching again on the next customer sweep")
        return CommandOutcome(command, True, "will be matched again", relinked=True)
    if entry.kind is QuarantineKind.ILLEGAL_TRANSITION:
        tx.quarantine.resolve(entry_id, "applied again by an operator")
        return CommandOutcome(command, True, reapply(tx, dict(entry.payload)))
    tx.quarantine.resolve(entry_id, "closed by an operator: fix the record at its source")
    return CommandOutcome(
        command, True, "closed; a bad record is read again only when its source changes it"
    )


async def run_new_commands(
    store: Store,
    chartmogul: ChartMogulClient,
    reapply: Callable[[Transaction, dict[str, object]], str],
) -> bool:
    """Carry out the new commands (the daemon's commands job); True if the customer sweep
    should run soon. The ChartMogul deletes of void commands come first, outside the store
    transaction; a void ChartMogul did not answer stays new for the next run."""
    voids = await void_invoices(store, chartmogul)

    def work(tx: Transaction) -> bool:
        relinked = False
        for command in tx.commands.new(limit=50):
            if command.kind is CommandKind.VOID and command.id not in voids:
                continue
            outcome = carry_out(tx, command, reapply, voids)
            log.info("command %s %s: %s", command.kind, command.target, outcome.result)
            relinked = relinked or outcome.relinked
        return relinked

    return await in_store(store, work)


def carry_out(
    tx: Transaction,
    command: Command,
    reapply: Callable[[Transaction, dict[str, object]], str],
    voids: Mapping[int, VoidAnswer] | None = None,
) -> CommandOutcome:
    """Do ``command`` and record its outcome, all within ``tx``; ``voids``: what ChartMogul
    answered to the invoice deletes of void commands (``deal_commands.void_invoices``)."""
    try:
        kind, row_id = _target(command)
    except ValueError as exc:
        outcome = CommandOutcome(command, False, str(exc))
    else:
        if kind == "outbox":
            outcome = _outbox(tx, command, row_id)
        else:
            outcome = _quarantine(tx, command, row_id, reapply, voids or {})
    status = CommandStatus.DONE if outcome.ok else CommandStatus.FAILED
    tx.commands.finish(command.id, status, outcome.result)
    return outcome
