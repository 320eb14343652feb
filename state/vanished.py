"""Writes aimed at Accounts that are gone: merged into another, or deleted (pure decisions).

Salesforce refuses a write to a deleted record with ``ENTITY_IS_DELETED``, and a merge deletes
its losers, each keeping ``MasterRecordId`` = the winner (visible through ``queryAll``). A
write refused so is not a bad record: it was aimed at the wrong place. The shell asks
Salesforce what became of the Accounts such rows name (``AccountFate``), and ``follow``
decides, row by row:

- every gone Account the row names was merged into a live winner that is free for the row's
  customer: the row is re-pointed at the winner (its key, and any payload value naming the
  loser, e.g. a Task's ``WhatId``) and sent again; the loser's link moves to the winner;
- a gone Account was deleted outright (or merged into one linked to another customer, which
  only an operator may sort out): the row is dropped, with the reason, and the Account's link
  is dropped, so the next customer sweep matches that customer again;
- none of the row's Accounts is gone (undeleted since, or the refusal was about some other
  record): the row is left to the ordinary retry with its error.

A row never becomes a dead letter for this: retrying it unchanged could only fail again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from state.records import OutboxEntry

__all__ = [
    "ACCOUNT_KEY_PREFIX",
    "ENTITY_IS_DELETED",
    "AccountFate",
    "FollowPlan",
    "LinkMove",
    "Repoint",
    "accounts_named",
    "follow",
    "winner_of",
]

ENTITY_IS_DELETED = "ENTITY_IS_DELETED"
ACCOUNT_KEY_PREFIX = "001"
_MAX_HOPS = 5  # a winner merged again later: follow the chain, but never loop


@dataclass(frozen=True, slots=True)
class AccountFate:
    """What Salesforce holds for an Account Id (``queryAll``); ``found`` False: not at all
    (emptied from the recycle bin)."""

    account_id: str
    found: bool = True
    deleted: bool = False
    master_id: str | None = None  # MasterRecordId: the merge winner


@dataclass(frozen=True, slots=True)
class Repoint:
    """An in-flight row to send again at its new target."""

    id: int
    target_key: str
    payload: Mapping[str, Any]
    reason: str  # for the audit trail


@dataclass(frozen=True, slots=True)
class LinkMove:
    """The customer linked to ``loser`` is linked to ``winner`` from now on."""

    customer_uuid: str
    loser: str
    winner: str


@dataclass
class FollowPlan:
    repoint: list[Repoint] = field(default_factory=list)
    dropped: list[tuple[OutboxEntry, str]] = field(default_factory=list)  # (row, why)
    unresolved: list[OutboxEntry] = field(default_factory=list)  # not about a gone Account
    moves: list[LinkMove] = field(default_factory=list)
    unlinked: dict[str, str] = field(default_factory=dict)  # customer uuid -> why


def _is_account_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) in (15, 18)
        and value.startswith(ACCOUNT_KEY_PREFIX)
        and value.isalnum()
    )


def accounts_named(row: OutboxEntry) -> set[str]:
    """The Account Ids a row writes to or refers to (its key, a ``WhatId``, an ``AccountId``)."""
    named = {v for v in row.payload.values() if _is_account_id(v)}
    if row.target_object == "Account" and row.kind == "update" and _is_account_id(row.target_key):
        named.add(row.target_key)
    return named


def winner_of(account_id: str, fates: Mapping[str, AccountFate]) -> str | None:
    """The live Account a gone one was (finally) merged into; None if it was not merged, or the
    chain ends in an Account that is gone or unknown."""
    current = account_id
    for _ in range(_MAX_HOPS):
        fate = fates.get(current)
        if fate is None:
            return None if current == account_id else current  # a winner not asked: live
        if fate.found and not fate.deleted:
            return None if current == account_id else current
        if not fate.master_id:
            return None
        current = fate.master_id
    return None


def follow(
    rows: Sequence[OutboxEntry],
    fates: Mapping[str, AccountFate],
    links: Mapping[str, str],
) -> FollowPlan:
    """What to do with rows refused ``ENTITY_IS_DELETED`` (see the module doc).

    ``links``: the stored links of the Accounts involved (losers and winners), Account Id ->
    customer uuid.
    """
    plan = FollowPlan()
    gone = {a for a, f in fates.items() if not f.found or f.deleted}
    moves: dict[str, str] = {}  # loser -> winner, for losers whose rows may follow
    for loser in sorted(gone):
        winner = winner_of(loser, fates)
        customer = links.get(loser)
        holder = links.get(winner) if winner else None
        if winner is None:
            if customer:
                plan.unlinked[customer] = f"its Account {loser} was deleted in Salesforce"
            continue
        if holder is not None and holder != customer:
            if customer:
                plan.unlinked[customer] = (
                    f"its Account {loser} was merged into {winner}, which is linked to "
                    f"customer {holder}: link one of them by hand"
                )
            continue  # never write one customer's figures onto another's Account
        moves[loser] = winner
        if customer and holder is None:
            plan.moves.append(LinkMove(customer, loser, winner))
    for row in rows:
        hit = accounts_named(row) & gone
        if not hit:
            plan.unresolved.append(row)
            continue
        stuck = sorted(a for a in hit if a not in moves)
        if stuck:
            plan.dropped.append((row, _drop_reason(stuck, fates, links)))
            continue
        plan.repoint.append(_repointed(row, moves))
    return plan


def _drop_reason(
    stuck: Iterable[str], fates: Mapping[str, AccountFate], links: Mapping[str, str]
) -> str:
    parts = []
    for account in stuck:
        winner = winner_of(account, fates)
        if winner is None:
            parts.append(f"Account {account} was deleted in Salesforce")
        else:
            parts.append(
                f"Account {account} was merged into {winner}, linked to another customer "
                f"({links.get(winner)})"
            )
    return "dropped: " + "; ".join(parts)


def _repointed(row: OutboxEntry, moves: Mapping[str, str]) -> Repoint:
    key = (
        moves.get(row.target_key, row.target_key)
        if row.target_object == "Account"
        else row.target_key
    )
    payload = {
        name: moves.get(v, v) if isinstance(v, str) else v for name, v in row.payload.items()
    }
    hops = sorted({f"{a} into {moves[a]}" for a in accounts_named(row) if a in moves})
    return Repoint(row.id, key, payload, "Account merged: " + ", ".join(hops))
