"""Linked ChartMogul customers that are gone: merged into another, or deleted (pure decisions).

ChartMogul merges customers (``POST /v1/customers/merges``): the merged one disappears (its
retrieve answers 404) and its external ids join the survivor's ``external_ids``; its history
joins the survivor's, rebuilt with new activity uuids. ``DELETE /v1/customers/{uuid}`` deletes
one outright. Neither says so anywhere cmsync reads: a linked customer is simply missing from a
full customer sweep, and its retrieve answers 404 (the shell checks, because the customers
list's cursor can skip a customer whose place moved while the sweep paged).

What became of it is told by the survivor carrying one of its ids. cmsync does not store a
customer's external ids, but it knows the Account, and the customers it creates for Closed-Won
deals (or links by external id) carry the Account Id as their external id: a live customer
whose ``external_ids`` include the gone customer's Account Id is its survivor. ``decide``:

- a survivor, not linked to another Account: the link moves to it (``FollowMerge``); the
  Account gets the survivor's UUID and figures, and the lifecycle carries on under the
  survivor's UUID (its state, and the signals already applied, so the merged movements that
  come back under the survivor raise nothing twice);
- a survivor linked to another Account: two Accounts for one customer, which only a person
  can sort out; the gone customer's link is dropped (``DropLink``), as for a delete;
- no survivor (deleted, or merged into a customer that does not carry the Account Id): the
  link is dropped and the Account's UUID and figures are cleared, so the Account no longer
  points at a customer that does not exist; the next sweep may match the Account again (a
  survivor found by the Contact's email, say).

Many at once (``held_back``) is more likely a wrong API key than a clean-up: nothing is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DropLink", "FollowMerge", "Gone", "decide", "held_back"]

# More gone at once than this looks like cmsync reading another ChartMogul account (a changed
# API key), not like merges and deletes: nothing is unlinked or cleared, an operator looks.
HOLD_ABOVE = 20
HOLD_SHARE = 0.2


def held_back(gone: int, linked: int) -> bool:
    """Too many linked customers gone in one sweep to act on them."""
    return gone > HOLD_ABOVE and gone > linked * HOLD_SHARE


@dataclass(frozen=True, slots=True)
class Gone:
    """A linked customer ChartMogul no longer has (its retrieve answered 404)."""

    customer_uuid: str
    account_id: str


@dataclass(frozen=True, slots=True)
class FollowMerge:
    """``loser`` was merged into ``survivor``: the link of ``account_id`` follows."""

    loser: str
    survivor: str
    account_id: str


@dataclass(frozen=True, slots=True)
class DropLink:
    """The link of a gone customer is dropped and its Account's ChartMogul fields cleared."""

    customer_uuid: str
    account_id: str
    reason: str


def decide(
    gone: list[Gone],
    carriers: Mapping[str, str],
    survivor_links: Mapping[str, str],
) -> list[FollowMerge | DropLink]:
    """One decision per gone customer.

    ``carriers``: external id -> the live customer whose ``external_ids`` hold it;
    ``survivor_links``: live customer -> its Account, for those of ``carriers`` already linked.
    """
    taken = dict(survivor_links)
    decisions: list[FollowMerge | DropLink] = []
    for one in sorted(gone, key=lambda g: g.customer_uuid):
        survivor = carriers.get(one.account_id)
        if survivor is None or survivor == one.customer_uuid:
            decisions.append(
                DropLink(
                    one.customer_uuid,
                    one.account_id,
                    f"ChartMogul customer {one.customer_uuid} was deleted (or merged into a "
                    f"customer that does not carry Account {one.account_id}'s Id)",
                )
            )
            continue
        holder = taken.get(survivor)
        if holder is not None:
            decisions.append(
                DropLink(
                    one.customer_uuid,
                    one.account_id,
                    f"ChartMogul customer {one.customer_uuid} was merged into {survivor}, "
                    f"which is linked to Account {holder}: the two Accounts are for a person "
                    "to sort out",
                )
            )
            continue
        taken[survivor] = one.account_id
        decisions.append(FollowMerge(one.customer_uuid, survivor, one.account_id))
    return decisions
