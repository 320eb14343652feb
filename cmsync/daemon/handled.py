"""Saying what became of a record a command arrives too late for: "already handled: ...".

Two operators (two dashboards, or a dashboard and ``cmsync problems``) may act on the same
problem a few seconds apart. The second command finds the dead letter no longer dead or the
quarantine entry no longer open. It must not act on anything else, and it must not read as a
plain failure either: the operator needs to know that someone else handled the record, how
and when, so the result names the record's state now, its time, and the command that put it
there (``Commands.handled``). Commands keep the status "failed" (this one did nothing); the
result's ``ALREADY_HANDLED`` prefix is what the dashboard and the CLI go by.
"""

from __future__ import annotations

from datetime import UTC, datetime

from state import (
    Command,
    CommandKind,
    OutboxEntry,
    OutboxStatus,
    QuarantineEntry,
    QuarantineStatus,
    Transaction,
)
from state.journal import ALREADY_HANDLED

__all__ = ["already_closed", "already_handled", "already_unlinked"]

_OUTBOX_STATES = {
    OutboxStatus.SKIPPED: "was skipped",
    OutboxStatus.PENDING: "was queued again",
    OutboxStatus.IN_FLIGHT: "was queued again and is being sent",
    OutboxStatus.DONE: "was sent to Salesforce",
}


def _at(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _by(tx: Transaction, command: Command) -> str:
    first = tx.commands.handled(command.target, command.id)
    if first is None:  # the daemon closed it by itself (a relink closing a match, a retry)
        return ""
    return f" (command {first.id}: {first.kind.value.replace('_', ' ')})"


def already_handled(tx: Transaction, command: Command, entry: OutboxEntry) -> str | None:
    """``ALREADY_HANDLED`` and what became of the dead letter, or None if it is still dead."""
    state = _OUTBOX_STATES.get(entry.status)
    if state is None:
        return None
    return (
        f"{ALREADY_HANDLED}{command.target} ({entry.target_object} {entry.target_key}) "
        f"{state} at {_at(entry.updated_at)}{_by(tx, command)}"
    )


def already_closed(tx: Transaction, command: Command, entry: QuarantineEntry) -> str | None:
    """``ALREADY_HANDLED`` and how the quarantine entry was closed, or None if it is open."""
    if entry.status is QuarantineStatus.OPEN:
        return None
    how = (
        "was closed without action"
        if entry.status is QuarantineStatus.SKIPPED
        else f"was resolved ({entry.resolution or 'no resolution recorded'})"
    )
    return (
        f"{ALREADY_HANDLED}{command.target} ({entry.source.value} {entry.record_key}) {how} "
        f"at {_at(entry.updated_at)}{_by(tx, command)}"
    )


def already_unlinked(tx: Transaction, command: Command) -> str | None:
    """``ALREADY_HANDLED`` and when, for an unlink of a customer an earlier unlink command
    left unlinked; None if no command did (it was never linked: a plain failure)."""
    first = tx.commands.handled(command.target, command.id)
    if first is None or first.kind is not CommandKind.UNLINK:
        return None
    uuid = command.target.partition(":")[2]
    return (
        f"{ALREADY_HANDLED}customer {uuid} was unlinked at {_at(first.updated_at)} "
        f"(command {first.id}: unlink)"
    )
