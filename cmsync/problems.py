"""``cmsync problems``: the dashboard's actions for operators without a terminal UI.

(The command line itself is ``cmsync.problems_cli``, which imports this only when used.)

``list`` shows the open problems grouped by cause (as ``cmsync status`` does), each with its
records, the reason and the fix; ``retry KEY|--cause C``, ``skip KEY``, ``unlink CUSTOMER_UUID``,
``relink CUSTOMER_UUID ACCOUNT_ID``, and ``void KEY`` / ``keep KEY`` for an unwound Closed-Won
deal act on them. KEY is a problem's command target
(``outbox:<id>`` for a dead letter, ``quarantine:<id>`` for a quarantine entry), as listed.

Every action is a row in the store's command table, carried out by
``cmsync.daemon.commands.carry_out``, whoever does it:

- With the daemon (or ``cmsync once``) holding the store's lock (``cmsync.lock``), the rows are
  added in one short transaction, as the dashboard adds them, and the daemon carries them out
  within a few seconds; the command waits for its answer (``--wait`` seconds).
- With no cmsync process on the store, the command takes the lock itself (so no daemon or
  ``once`` starts meanwhile) and carries its rows out in one transaction, through the same
  function. Retrying an illegal transition (an entry of earlier versions) needs the
  lifecycle's view of Salesforce: that one is left in the table for the daemon, which carries
  it out when it next starts. A void queues its effect as the daemon's command does, then the
  command sends it itself (``voids``: the dispatcher's own ChartMogul executor, for the void
  rows only), after the transaction that queued it, and says what ChartMogul answered; a
  delete ChartMogul did not answer stays queued for the daemon.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cmsync.daemon.commands import carry_out
from cmsync.daemon.deal_commands import void_fate
from cmsync.lock import StoreLockedError, exclusive
from cmsync.pipeline.translate import Translator
from state import (
    CommandKind,
    CommandStatus,
    QuarantineKind,
    QuarantineStatus,
    Store,
    Transaction,
)
from state.problems import ProblemGroup, group_problems

__all__ = ["Asked", "Outcome", "Voids", "ask", "read_groups"]

# Sends the store's queued voids (the ChartMogul executor's drain of the void rows).
Voids = Callable[[Store], None]

GROUPED = 10_000


@dataclass(frozen=True)
class Asked:
    """One command to carry out: kind, target, args (as in the command table)."""

    kind: CommandKind
    target: str
    args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    asked: Asked
    command_id: int
    status: CommandStatus  # NEW: still waiting for the daemon
    result: str

    @property
    def ok(self) -> bool:
        return self.status is CommandStatus.DONE


def read_groups(path: Path) -> list[ProblemGroup]:
    """The open problems by cause, read in one snapshot (any time, daemon or not)."""
    store = Store.open_readonly(path)
    try:
        with store.snapshot() as q:
            letters = q.dead_letters(limit=GROUPED)
            entries = q.quarantine(QuarantineStatus.OPEN, limit=GROUPED)
    finally:
        store.close()
    return group_problems(letters, entries)


def _for_the_daemon(tx: Transaction, asked: Asked) -> bool:
    """Only the daemon can do it: re-applying an illegal transition needs its sync context."""
    kind, _, raw = asked.target.partition(":")
    if asked.kind is not CommandKind.RETRY or kind != "quarantine" or not raw.isdigit():
        return False
    entry = tx.quarantine.get(int(raw))
    return entry is not None and entry.kind is QuarantineKind.ILLEGAL_TRANSITION


def _no_reapply(tx: Transaction, payload: dict[str, object]) -> str:  # pragma: no cover
    raise AssertionError("illegal transitions are left for the daemon")


def _directly(
    path: Path, asked: Sequence[Asked], translator: Translator, voids: Voids | None
) -> list[Outcome]:
    """No cmsync process holds the store: carry the commands out here, under its lock."""
    outcomes: list[Outcome] = []
    with exclusive(path):
        store = Store.open(path, create=False)
        try:
            with store.transaction() as tx:
                ids = [tx.commands.add(one.kind, one.target, one.args) for one in asked]
            voiding: list[int] = []  # the outcomes whose command queued a void
            with store.transaction() as tx:
                for one, command_id in zip(asked, ids, strict=True):
                    command = tx.commands.get(command_id)
                    assert command is not None
                    if _for_the_daemon(tx, one):
                        outcomes.append(Outcome(one, command_id, CommandStatus.NEW, _LEFT))
                        continue
                    done = carry_out(tx, command, _no_reapply, translator)
                    status = CommandStatus.DONE if done.ok else CommandStatus.FAILED
                    if done.voiding:
                        voiding.append(len(outcomes))
                    outcomes.append(Outcome(one, command_id, status, done.result))
            if voiding and voids is not None:
                voids(store)
                with store.transaction() as tx:
                    for at in voiding:
                        command = tx.commands.get(outcomes[at].command_id)
                        fate = None if command is None else void_fate(tx, command)
                        if fate is not None:
                            outcomes[at] = replace(outcomes[at], status=fate[0], result=fate[1])
        finally:
            store.close()
    return outcomes


_LEFT = "left for the daemon: it applies it when it next runs"


def _through_the_daemon(
    path: Path, asked: Sequence[Asked], wait: float, sleep: Callable[[float], None]
) -> list[Outcome]:
    """The daemon holds the store: add the commands, as the dashboard does, and wait."""
    store = Store.open(path, create=False)
    try:
        with store.transaction() as tx:
            ids = [tx.commands.add(one.kind, one.target, one.args) for one in asked]
        deadline = time.monotonic() + wait
        while True:
            with store.transaction() as tx:
                commands = [tx.commands.get(i) for i in ids]
            if all(c is not None and c.status is not CommandStatus.NEW for c in commands):
                break
            if time.monotonic() >= deadline:
                break
            sleep(0.2)
    finally:
        store.close()
    outcomes = []
    for one, command_id, command in zip(asked, ids, commands, strict=True):
        assert command is not None
        result = command.result or (
            "waiting for the daemon (is `cmsync run` running? see `cmsync status`)"
        )
        outcomes.append(Outcome(one, command_id, command.status, result))
    return outcomes


def ask(
    path: Path,
    asked: Sequence[Asked],
    translator: Translator,
    *,
    voids: Voids | None = None,
    wait: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Carry ``asked`` out: through the daemon when a cmsync process holds the store, else
    directly on the store (see the module doc)."""
    try:
        return _directly(path, asked, translator, voids)
    except StoreLockedError:
        return _through_the_daemon(path, asked, wait, sleep)
