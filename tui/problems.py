"""The rows of the problems table: open quarantine entries and dead letters, side by side.

Each row's key is also the target of the commands an operator can send about it
(``outbox:<id>`` for a dead outbox row, ``quarantine:<id>`` for a quarantine entry: the form
the store's own tests use), so a row, its pending command and the daemon's answer all meet on
one string.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from state import Command, CommandStatus, OutboxEntry, QuarantineEntry, QuarantineKind, System
from state.problems import customer_of, explain
from tui.data import DashboardData

__all__ = [
    "Problem",
    "ProblemKind",
    "outbox_target",
    "problems",
    "quarantine_target",
    "what_became_of",
]


class ProblemKind(StrEnum):
    DEAD_LETTER = "dead letter"
    AMBIGUOUS_MATCH = "ambiguous match"
    BAD_RECORD = "bad record"
    ILLEGAL_TRANSITION = "illegal transition"
    DEAL_UNWOUND = "unwound deal"  # imported, then no longer Closed Won: void or keep
    FIELD_LIMIT = "field limit"


_QUARANTINE_KINDS = {
    QuarantineKind.AMBIGUOUS_MATCH: ProblemKind.AMBIGUOUS_MATCH,
    QuarantineKind.BAD_RECORD: ProblemKind.BAD_RECORD,
    QuarantineKind.ILLEGAL_TRANSITION: ProblemKind.ILLEGAL_TRANSITION,
    QuarantineKind.DEAL_UNWOUND: ProblemKind.DEAL_UNWOUND,
    QuarantineKind.FIELD_LIMIT: ProblemKind.FIELD_LIMIT,
}


def outbox_target(entry_id: int) -> str:
    return f"outbox:{entry_id}"


def quarantine_target(entry_id: int) -> str:
    return f"quarantine:{entry_id}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One row: what is stuck, where, why, and the operator's latest command about it."""

    key: str  # the command target, e.g. "outbox:17"
    kind: ProblemKind
    record: str  # the record concerned, as an operator would look it up
    reason: str
    detail: str  # attempts, or how many candidate Accounts
    since: datetime
    candidates: tuple[str, ...] = ()  # Account Ids an ambiguous match may be resolved to
    customer: str = ""  # the ChartMogul customer's name and email, where known
    customer_uuid: str = ""  # the ChartMogul customer it is about (unlink, relink), if any
    cause: str = ""  # its cause in words, as ``cmsync problems list`` groups it
    target: str = ""  # the system a dead letter's write is for ("Salesforce", "ChartMogul")
    fix: str = ""  # what to do about it
    command: Command | None = None  # the newest command sent about this row
    why: str = ""  # a dead letter's write: why it was to be made, in words
    effect_key: str = ""  # and its idempotency key (the signal it came from)

    @property
    def waiting(self) -> bool:
        """A command was sent and the daemon has not carried it out yet."""
        return self.command is not None and self.command.status is CommandStatus.NEW


def _latest_commands(commands: Iterable[Command]) -> dict[str, Command]:
    latest: dict[str, Command] = {}
    for command in commands:
        known = latest.get(command.target)
        if known is None or command.id > known.id:
            latest[command.target] = command
    return latest


def _dead(entry: OutboxEntry, command: Command | None) -> Problem:
    cause, fix = explain(entry)
    return Problem(
        key=outbox_target(entry.id),
        kind=ProblemKind.DEAD_LETTER,
        record=f"{entry.target_object} {entry.target_key} ({entry.kind})",
        reason=entry.last_error or "no reason recorded",
        detail=f"{entry.attempts} attempt{'s' if entry.attempts != 1 else ''}",
        since=entry.updated_at,
        cause=cause.text,
        target="ChartMogul" if entry.target_system is System.CHARTMOGUL else "Salesforce",
        fix=fix,
        command=command,
        why=entry.reason,
        effect_key=entry.idempotency_key,
    )


def _quarantined(entry: QuarantineEntry, command: Command | None) -> Problem:
    payload = entry.payload
    name, email = payload.get("name"), payload.get("email")
    who = " ".join(part for part in (str(name or ""), f"<{email}>" if email else "") if part)
    n = len(entry.candidates)
    detail = f"{n} candidate{'s' if n != 1 else ''}" if n else ""
    if entry.kind is QuarantineKind.DEAL_UNWOUND:
        detail = str(payload.get("amount") or "")  # the revenue a void takes out
    count = payload.get("count")
    if entry.kind is QuarantineKind.FIELD_LIMIT and isinstance(count, int):
        detail = f"{count} record{'s' if count != 1 else ''}"
    cause, fix = explain(entry)
    return Problem(
        key=quarantine_target(entry.id),
        kind=_QUARANTINE_KINDS[entry.kind],
        record=f"{entry.source.value} {entry.record_key}",
        reason=entry.reason,
        detail=detail,
        since=entry.created_at,
        candidates=entry.candidates,
        customer=who,
        customer_uuid=customer_of(entry),
        cause=cause.text,
        fix=fix,
        command=command,
    )


def problems(data: DashboardData) -> list[Problem]:
    """Quarantine entries then dead letters, each newest first."""
    latest = _latest_commands(data.commands)
    rows = [_quarantined(q, latest.get(quarantine_target(q.id))) for q in data.quarantine]
    rows += [_dead(d, latest.get(outbox_target(d.id))) for d in data.dead_letters]
    return rows


def what_became_of(key: str, commands: Iterable[Command]) -> str:
    """Why the record ``key`` left the table, as far as the commands tell: the newest one
    carried out on it (by this operator or another), or that none was."""
    latest = _latest_commands(c for c in commands if c.status is not CommandStatus.NEW)
    command = latest.get(key)
    if command is None:
        return "closed by the daemon or by a command no longer shown"
    verb = command.kind.value.replace("_", " ")
    return f"{verb} {command.status.value} at {command.updated_at:%H:%M:%S}: {command.result}"
