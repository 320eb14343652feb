"""Following ChartMogul customers that were merged or deleted (the I/O around
``state.departed``).

The customer sweep lists every customer; at its end ``follow_departed`` takes the linked
customers the listing did not show, asks ChartMogul for each (a customer skipped because its
place in the list moved while the sweep paged is still there: only a 404 means gone), and
carries out ``state.departed.decide`` in one transaction: a link follows a merge to the
survivor (which the Account gets as its ``CM_Customer_UUID__c``, with its figures; the
lifecycle state and the signals already applied carry over to the survivor's UUID), or is
dropped, and the Account's ChartMogul UUID, URL and figures are cleared.

The store moves (``follow_merge``, ``drop_link``) are also used by the Closed-Won poller, which
meets a gone customer when a deal's Account is linked to one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.errors import ChartMogulNotFoundError
from cmsync.chartmogul.records import Customer
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.streams.customers import figures, lifecycle_fields
from cmsync.storeio import in_store
from state import OutboxItem, Transaction
from state.departed import DropLink, FollowMerge, Gone, decide, held_back
from state.effects import AccountField, FieldValue

__all__ = ["CLEARED", "DepartedStats", "drop_link", "follow_departed", "follow_merge"]

log = logging.getLogger("cmsync.customers")

# What an Account keeps of a customer ChartMogul no longer has: nothing. The lifecycle's own
# fields (stage, risk, plan) stay: they are the Account's history, not the customer's record.
CLEARED: dict[AccountField, FieldValue] = {
    AccountField.CUSTOMER_UUID: None,
    AccountField.URL: None,
    AccountField.MRR: None,
    AccountField.ARR: None,
    AccountField.STATUS: None,
    AccountField.CUSTOMER_SINCE: None,
}


@dataclass
class DepartedStats:
    gone: int = 0  # linked customers ChartMogul answered 404 for
    followed: int = 0  # links moved to the survivor of a merge
    dropped: int = 0  # links dropped (deleted, or merged where the link cannot follow)


def follow_merge(tx: Transaction, loser: str, survivor: str) -> bool:
    """Move ``loser``'s link, lifecycle state and applied signals to ``survivor``; False,
    changing nothing, when ``loser`` has no link or ``survivor`` has one."""
    if not tx.links.rekey(loser, survivor):
        return False
    tx.signals.carry(loser, survivor)
    states = tx.accounts.get_many([loser, survivor])
    old = states.get(loser)
    if old is not None:
        mine = states.get(survivor)
        tx.accounts.put(replace(old, customer_uuid=survivor, revision=mine.revision if mine else 0))
        tx.accounts.remove(loser)
    return True


def drop_link(tx: Transaction, customer_uuid: str) -> None:
    """Forget a gone customer's link and state (its applied signals stay: harmless)."""
    tx.links.remove(customer_uuid)
    tx.accounts.remove(customer_uuid)


async def _gone(chartmogul: ChartMogulClient, candidates: Iterable[Gone]) -> list[Gone]:
    gone: list[Gone] = []
    for one in candidates:
        try:
            await chartmogul.get_customer(one.customer_uuid)
        except ChartMogulNotFoundError:
            gone.append(one)
    return gone


async def _survivors(chartmogul: ChartMogulClient, uuids: Iterable[str]) -> dict[str, Customer]:
    found: dict[str, Customer] = {}
    for uuid in sorted(set(uuids)):
        try:
            found[uuid] = await chartmogul.get_customer(uuid)
        except ChartMogulNotFoundError:
            continue  # gone too since the sweep listed it: its turn comes next sweep
    return found


async def follow_departed(
    poll: PollContext,
    *,
    seen: set[str],
    carriers: dict[str, str],
) -> DepartedStats:
    """After a full sweep that listed ``seen``: follow or drop the links of linked customers
    ChartMogul no longer has. ``carriers``: each listed external id -> its customer."""
    chartmogul, store, context, translator = (
        poll.chartmogul, poll.store, poll.context, poll.translator
    )  # fmt: skip
    stats = DepartedStats()
    links = await in_store(store, lambda tx: tx.links.pairs())
    missing = [Gone(uuid, account) for uuid, account in links.items() if uuid not in seen]
    gone = await _gone(chartmogul, missing)
    if not gone:
        return stats
    stats.gone = len(gone)
    if held_back(len(gone), len(links)):
        log.error(
            "%d of %d linked ChartMogul customers are gone at once: not unlinking them (is "
            "chartmogul.api_key the account cmsync was linked with?)", len(gone), len(links),
        )  # fmt: skip
        return stats
    wanted = {carriers[g.account_id] for g in gone if g.account_id in carriers}
    survivors = await _survivors(chartmogul, wanted)
    live = {ext: uuid for ext, uuid in carriers.items() if uuid in survivors}

    def work(tx: Transaction) -> None:
        linked = tx.links.get_many(survivors)
        decisions = decide(gone, live, {u: link.account_id for u, link in linked.items()})
        targets = context.org.targets(d.account_id for d in decisions)
        rows: list[OutboxItem] = []
        for d in decisions:
            target = targets[d.account_id]
            if isinstance(d, FollowMerge) and follow_merge(tx, d.loser, d.survivor):
                stats.followed += 1
                log.info(
                    "ChartMogul customer %s was merged into %s: Account %s now linked to it",
                    d.loser, d.survivor, d.account_id,
                )  # fmt: skip
                values = {
                    **figures(survivors[d.survivor]),
                    **lifecycle_fields(tx.accounts.get(d.survivor)),
                }
                rows.append(
                    translator.update_row(
                        target, values, key=f"customer_merged|{d.loser}|{d.survivor}",
                        reason=f"ChartMogul customer {d.loser} merged into {d.survivor}: "
                        "the link follows",
                    )
                )  # fmt: skip
                continue
            uuid = d.loser if isinstance(d, FollowMerge) else d.customer_uuid
            why = d.reason if isinstance(d, DropLink) else f"{uuid}'s survivor is linked now"
            drop_link(tx, uuid)
            stats.dropped += 1
            log.warning("Account %s: link dropped, %s", d.account_id, why)
            rows.append(
                translator.update_row(
                    target, CLEARED, key=f"customer_gone|{uuid}|{d.account_id}", reason=why
                )
            )
        tx.outbox.enqueue(rows)

    await in_store(store, work)
    return stats
