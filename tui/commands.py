"""The dashboard's only way to act: command rows the daemon carries out.

An operator's retry, skip, resolve, unlink or relink becomes one row in the store's command
table (kind, target, args); the daemon reads new commands, does the work and marks each done or
failed in the same transaction, and the next refresh shows the problem row gone or its failure. The
dashboard never changes the outbox or the quarantine itself: one writer of the daemon's state.

Targets are the problem rows' keys (``outbox:<id>``, ``quarantine:<id>``); a resolve carries
the chosen Account Id as ``{"account": "<Id>"}``. What each command means for each kind of row:

- dead letter: retry sends it again (attempts reset), skip gives up on it;
- ambiguous match: resolve links the customer to the chosen Account, retry matches it again
  (after someone fixed the data in Salesforce), skip closes the entry without linking;
- bad record: retry reprocesses the record, skip closes the entry; an illegal transition
  (an entry of earlier versions only: none is opened now, the kind stays for old stores)
  likewise, its retry applying the movement again;
- unwound deal (a Closed-Won deal imported, then moved out of Closed Won or deleted): void
  queues the delete of its invoice in ChartMogul (an outbox effect, which closes the entry
  when sent), keep leaves the invoice; either way the entry closes for good.
- unlink and relink act on the ChartMogul customer a row is about (``link:<uuid>``; a relink
  carries ``{"account": "<Id>"}``, any Account, not only a candidate): unlink drops its link,
  relink links it to that Account.

A command addresses its record by that key, never by a row position: the dashboard asks
first with ``confirmation`` (naming the key, the record and its reason), and a daemon that
finds the record handled meanwhile answers "already handled: ..." and acts on nothing else.

``CommandWriter`` opens its own writer connection on first use and keeps every transaction to
one insert: the daemon's writer must never wait on the dashboard. Call it from a thread
worker: the busy timeout may block while the daemon commits.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from state import CommandKind, Store
from tui.problems import Problem, ProblemKind

__all__ = [
    "CommandRefusedError",
    "CommandRequest",
    "CommandWriter",
    "confirmation",
    "link_target",
    "plan_command",
    "plan_link",
]


class CommandRefusedError(Exception):
    """The command makes no sense for that row; the message says why, for the operator."""


@dataclass(frozen=True, slots=True)
class CommandRequest:
    kind: CommandKind
    target: str
    args: Mapping[str, str] = field(default_factory=dict)
    summary: str = ""  # what the operator asked, in words, for the notification


_VERBS = {
    CommandKind.RETRY: "retry",
    CommandKind.SKIP: "skip",
    CommandKind.RESOLVE_MATCH: "resolve",
    CommandKind.VOID: "void",
    CommandKind.KEEP: "keep",
    CommandKind.UNLINK: "unlink",
    CommandKind.RELINK: "relink",
}


def link_target(customer_uuid: str) -> str:
    return f"link:{customer_uuid}"


def plan_link(kind: CommandKind, problem: Problem, account: str | None = None) -> CommandRequest:
    """An unlink or relink of the customer ``problem`` is about; ``CommandRefusedError`` if
    the row names no ChartMogul customer."""
    uuid = problem.customer_uuid
    if not uuid:
        raise CommandRefusedError(
            f"{problem.record} names no ChartMogul customer to {_VERBS[kind]}; use "
            "`cmsync problems unlink|relink CUSTOMER_UUID` with the customer's UUID"
        )
    if kind is CommandKind.UNLINK:
        return CommandRequest(kind, link_target(uuid), {}, f"unlink customer {uuid}")
    if not account:
        raise CommandRefusedError("a relink needs the Salesforce Account Id")
    return CommandRequest(
        kind, link_target(uuid), {"account": account}, f"link customer {uuid} to Account {account}"
    )


def plan_command(kind: CommandKind, problem: Problem, account: str | None = None) -> CommandRequest:
    """The command for ``problem``; ``CommandRefusedError`` if it does not apply to it."""
    if problem.waiting:
        assert problem.command is not None
        raise CommandRefusedError(
            f"{problem.key}: a {_VERBS[problem.command.kind]} is already waiting for the daemon"
        )
    if kind is CommandKind.RESOLVE_MATCH:
        if problem.kind is not ProblemKind.AMBIGUOUS_MATCH:
            raise CommandRefusedError(
                f"only an ambiguous match can be resolved, not a {problem.kind}"
            )
        if account is None or account not in problem.candidates:
            raise CommandRefusedError(
                f"choose one of the candidate Accounts: {', '.join(problem.candidates)}"
            )
        return CommandRequest(
            kind,
            problem.key,
            {"account": account},
            f"link {problem.record} to Account {account}",
        )
    if account is not None:
        raise CommandRefusedError(f"a {_VERBS[kind]} takes no Account")
    unwound = problem.kind is ProblemKind.DEAL_UNWOUND
    if kind in (CommandKind.VOID, CommandKind.KEEP) and not unwound:
        raise CommandRefusedError(
            f"only an unwound deal can be voided or kept, not a {problem.kind}"
        )
    if kind is CommandKind.RETRY and unwound:
        raise CommandRefusedError("an unwound deal is not retried: void its invoice or keep it")
    if kind is CommandKind.VOID:
        return CommandRequest(
            kind, problem.key, {}, f"void the invoice of {problem.record} ({problem.detail})"
        )
    return CommandRequest(kind, problem.key, {}, f"{_VERBS[kind]} {problem.kind} {problem.record}")


_CONSEQUENCES = {
    (CommandKind.RETRY, ProblemKind.DEAD_LETTER): "It is sent to {target} again, attempts reset.",
    (CommandKind.SKIP, ProblemKind.DEAD_LETTER): "cmsync gives up on this write for good.",
    (CommandKind.RETRY, ProblemKind.AMBIGUOUS_MATCH): (
        "The entry closes and the next customer sweep matches the customer again."
    ),
    (CommandKind.RETRY, ProblemKind.ILLEGAL_TRANSITION): "The movement is applied again.",
    (CommandKind.VOID, ProblemKind.DEAL_UNWOUND): (
        "Its invoice is deleted in ChartMogul: its revenue goes, and the entry closes."
    ),
    (CommandKind.KEEP, ProblemKind.DEAL_UNWOUND): (
        "Its invoice stays in ChartMogul; the entry closes and is not raised again."
    ),
}


def confirmation(request: CommandRequest, problem: Problem) -> tuple[str, str]:
    """The question asked before ``request`` is sent, naming the record it acts on (title,
    body): the operator confirms a record, never a row position."""
    reason = " ".join(problem.reason.split())
    if len(reason) > 80:
        reason = reason[:79] + "…"
    verb = _VERBS[request.kind].capitalize()
    title = f"{verb} {request.target} ({problem.record}, {problem.kind})?"
    default = (
        "The entry closes without action."
        if request.kind is CommandKind.SKIP
        else "The entry closes; the record is read again when its source changes it."
    )
    then = _CONSEQUENCES.get((request.kind, problem.kind), default).format(
        target=problem.target or "Salesforce"
    )
    body = (
        f"{problem.kind}: {reason}\n{then}\nThe command names {request.target}: if someone "
        "handled that record meanwhile, the daemon says so and acts on nothing else."
    )
    return title, body


class CommandWriter:
    """Adds command rows through a writer connection of its own (opened on first send)."""

    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._store: Store | None = None
        self._lock = threading.Lock()

    def send(self, request: CommandRequest) -> int:
        """Commit the command; its id. Never creates a store that is not there."""
        with self._lock:
            if self._store is None:
                self._store = Store.open(self.path, create=False, busy_timeout=self._busy_timeout)
            with self._store.transaction() as tx:
                return tx.commands.add(request.kind, request.target, request.args)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
