"""Carrying out the operators' commands: retry, skip, resolve a match, unlink, relink.

The dashboard and ``cmsync problems`` write command rows (see ``tui/commands.py`` for their
format); the daemon reads the new ones every few seconds and does each in ONE transaction with
its ``finish``, so a command is never half done. With no daemon running, ``cmsync problems``
carries its command out itself, through this same function, holding the store's lock. What
each means:

- ``outbox:<id>`` (a dead letter): retry makes it pending again, due now; skip gives up on it.
- ``quarantine:<id>`` ambiguous match: resolve links the customer to the chosen Account
  (refused if that Account is already linked to another customer); retry closes the entry so
  the next customer sweep matches the customer again; skip closes it without linking.
- ``quarantine:<id>`` bad record: retry and skip close the entry. An illegal transition
  (an entry of earlier versions only: the lifecycle now converges on what ChartMogul reports,
  the kind stays for old stores) is closed the same way, and a retried one is applied again at
  once (its signal is in the payload).
- ``quarantine:<id>`` unwound Closed-Won deal: void queues the delete of its invoice in
  ChartMogul, an outbox effect the ChartMogul executor sends and which then closes the entry
  for good; keep leaves the invoice and closes the entry at once
  (``cmsync.daemon.deal_commands``). Skip closes it too; retry means nothing.
- ``link:<customer uuid>``: unlink drops the customer's link and clears the ChartMogul fields
  on its Account (UUID, URL, figures, through the outbox, as for a customer ChartMogul no
  longer has), so the next customer sweep matches it afresh or leaves it pending; relink
  (``{"account": "<Id>"}``) links it to that Account, moving it off the Account it had (whose
  ChartMogul fields are cleared), writes the Account's ``CM_Customer_UUID__c`` and closes the
  customer's open ambiguous-match entries. A relink to an Account linked to another customer
  is refused: unlink that customer first.

A command that cannot be done is marked failed with the reason the operator will read; one on
a record someone else handled first (a second operator's skip of a dead letter already
skipped) says "already handled: " and what became of it, when and by which command
(``cmsync.daemon.handled``), and touches nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from cmsync.daemon.deal_commands import DEAL_COMMANDS, deal_command
from cmsync.daemon.handled import already_closed, already_handled, already_unlinked
from cmsync.pipeline.closed_won.effect import VOID_DEAL
from cmsync.pipeline.dispatch.closed_won_send import ChartMogulExecutor
from cmsync.pipeline.streams.departed import CLEARED
from cmsync.pipeline.translate import AccountTarget, Translator
from cmsync.storeio import in_store
from state import (
    Command,
    CommandKind,
    CommandStatus,
    LinkConflictError,
    MatchMethod,
    OutboxItem,
    QuarantineKind,
    QuarantineStatus,
    Store,
    System,
    Transaction,
)
from state.effects import AccountField
from state.matching import account_id_of

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
    queued: bool = False  # writes were queued: the dispatcher should run soon
    voiding: bool = False  # a void of an invoice was queued (a ChartMogul effect)


def _target(command: Command) -> tuple[str, int]:
    kind, _, raw = command.target.partition(":")
    if kind not in ("outbox", "quarantine") or not raw.isdigit():
        raise ValueError(f"unknown target {command.target!r}")
    return kind, int(raw)


def _clear(translator: Translator, account: str, uuid: str, command: Command) -> list[OutboxItem]:
    return [
        translator.update_row(
            AccountTarget(account), CLEARED, key=f"operator_unlink|{uuid}|{account}|{command.id}",
            reason=f"customer {uuid} unlinked from Account {account} by an operator",
        )
    ]  # fmt: skip


def _link(tx: Transaction, command: Command, translator: Translator | None) -> CommandOutcome:
    uuid = command.target.partition(":")[2]
    if translator is None:  # pragma: no cover - every caller passes one
        return CommandOutcome(command, False, "no field names to write the Account with")
    mine = tx.links.get(uuid)
    if command.kind is CommandKind.UNLINK:
        if mine is None:
            late = already_unlinked(tx, command)
            return CommandOutcome(
                command, False, late or f"customer {uuid} is not linked to an Account"
            )
        tx.links.remove(uuid)
        tx.pending_matches.add(uuid, "unlinked by an operator")
        tx.outbox.enqueue(_clear(translator, mine.account_id, uuid, command))
        return CommandOutcome(
            command, True,
            f"customer {uuid} unlinked from Account {mine.account_id} (its ChartMogul fields "
            "there are cleared); the next customer sweep matches it again or leaves it pending",
            queued=True,
        )  # fmt: skip
    if command.kind is not CommandKind.RELINK:
        return CommandOutcome(command, False, f"a link takes unlink or relink, not {command.kind}")
    account = account_id_of(str(command.args.get("account", "")).strip())
    if account is None:
        return CommandOutcome(
            command, False, f"{command.args.get('account')!r} is not a Salesforce Account Id"
        )
    theirs = tx.links.by_account(account)
    if theirs is not None and theirs.customer_uuid != uuid:
        return CommandOutcome(
            command, False,
            f"Account {account} is linked to customer {theirs.customer_uuid}: unlink that "
            f"customer first (`cmsync problems unlink {theirs.customer_uuid}`, u on the "
            "dashboard)",
        )  # fmt: skip
    rows: list[OutboxItem] = []
    if mine is not None and mine.account_id != account:
        tx.links.remove(uuid)
        rows += _clear(translator, mine.account_id, uuid, command)
    elif mine is not None:  # the same pair: it becomes the operator's choice, as it is now
        tx.links.remove(uuid)
    tx.links.put(uuid, account, MatchMethod.OPERATOR)
    for entry in tx.quarantine.open_for(uuid):
        if entry.kind is QuarantineKind.AMBIGUOUS_MATCH:
            tx.quarantine.resolve(entry.id, f"linked to Account {account} by an operator")
    rows.append(
        translator.update_row(
            AccountTarget(account), {AccountField.CUSTOMER_UUID: uuid},
            key=f"operator_relink|{uuid}|{account}|{command.id}",
            reason=f"customer {uuid} linked to Account {account} by an operator",
        )
    )  # fmt: skip
    tx.outbox.enqueue(rows)
    moved = f" (moved from Account {mine.account_id})" if rows[:-1] and mine else ""
    return CommandOutcome(
        command, True, f"customer {uuid} linked to Account {account}{moved}",
        relinked=True, queued=True,
    )  # fmt: skip


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
        entry = tx.outbox.get(row_id)
        handled = None if entry is None else already_handled(tx, command, entry)
        return CommandOutcome(
            command, False, handled or f"outbox row {row_id} is not a dead letter (any more)"
        )
    return CommandOutcome(command, True, f"outbox row {row_id} {verb}")


def _quarantine(
    tx: Transaction,
    command: Command,
    entry_id: int,
    reapply: Callable[[Transaction, dict[str, object]], str],
) -> CommandOutcome:
    entry = tx.quarantine.get(entry_id)
    if entry is None or entry.status is not QuarantineStatus.OPEN:
        closed = None if entry is None else already_closed(tx, command, entry)
        return CommandOutcome(command, False, closed or f"quarantine entry {entry_id} is not open")
    if command.kind in DEAL_COMMANDS:
        ok, result = deal_command(tx, command, entry)
        voiding = ok and command.kind is CommandKind.VOID
        return CommandOutcome(command, ok, result, queued=voiding, voiding=voiding)
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
            how = "`cmsync problems unlink CUSTOMER_UUID`, u on the dashboard"
            return CommandOutcome(command, False, f"{exc} ({how})")
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
    reapply: Callable[[Transaction, dict[str, object]], str],
    translator: Translator | None = None,
    *,
    chartmogul: ChartMogulExecutor | None = None,
) -> tuple[bool, bool]:
    """Carry out the new commands (the daemon's commands job): (the customer sweep should run
    soon, writes were queued). The voids queued are sent at once through ``chartmogul``, the
    dispatcher's ChartMogul executor (None: they wait for the next dispatch), so the sweep
    that follows reads the customer's figures without the voided invoice."""

    def work(tx: Transaction) -> tuple[bool, bool, bool]:
        relinked = queued = voiding = False
        for command in tx.commands.new(limit=50):
            outcome = carry_out(tx, command, reapply, translator)
            log.info("command %s %s: %s", command.kind, command.target, outcome.result)
            relinked = relinked or outcome.relinked
            queued = queued or outcome.queued
            voiding = voiding or outcome.voiding
        return relinked, queued, voiding

    relinked, queued, voiding = await in_store(store, work)
    if voiding and chartmogul is not None:
        sent = await chartmogul.drain(kinds=(VOID_DEAL,))
        relinked = relinked or sent.voided > 0
    return relinked, queued


def carry_out(
    tx: Transaction,
    command: Command,
    reapply: Callable[[Transaction, dict[str, object]], str],
    translator: Translator | None = None,
) -> CommandOutcome:
    """Do ``command`` and record its outcome, all within ``tx``.

    ``translator``: the configured field names, for the Account writes of unlink and relink.
    """
    if command.target.startswith("link:"):
        outcome = _link(tx, command, translator)
        status = CommandStatus.DONE if outcome.ok else CommandStatus.FAILED
        tx.commands.finish(command.id, status, outcome.result)
        return outcome
    try:
        kind, row_id = _target(command)
    except ValueError as exc:
        outcome = CommandOutcome(command, False, str(exc))
    else:
        if kind == "outbox":
            outcome = _outbox(tx, command, row_id)
        else:
            outcome = _quarantine(tx, command, row_id, reapply)
    status = CommandStatus.DONE if outcome.ok else CommandStatus.FAILED
    tx.commands.finish(command.id, status, outcome.result)
    return outcome
