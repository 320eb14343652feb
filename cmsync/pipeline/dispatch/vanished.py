"""Following Accounts that were merged or deleted in Salesforce (the I/O around
``state.vanished``).

When a write is refused ``ENTITY_IS_DELETED``, ``VanishedAccounts.fates`` asks Salesforce
(``queryAll``: deleted records are only seen there) for ``IsDeleted`` and ``MasterRecordId``
of every Account the refused rows name, one query per 200 Ids, then once more for winners
that may themselves have been merged since. ``VanishedAccounts.apply`` then carries out
``state.vanished.follow`` in one transaction: re-pointed rows go back to pending (due now, so
the same drain sends them), dropped rows are done with an audit line saying why, links move to
the winner (which gets the customer's ``CM_Customer_UUID__c``) or are dropped, and a customer
whose link was dropped waits for the next sweep to match it again.

A merge nobody writes to is noticed too: ``follow_missing_links`` runs after each pass's read
of the org, and follows the links whose Account that read no longer holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cmsync.pipeline.org import OrgSnapshot
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.storeio import in_store
from state import AuditItem, OutboxEntry, OutboxItem, Store, System, Transaction
from state.vanished import AccountFate, FollowPlan, accounts_named, follow
from state.writeplan import Operation

__all__ = ["FollowReport", "VanishedAccounts"]

log = logging.getLogger("cmsync.dispatch")

_IDS_PER_QUERY = 200  # keeps the SOQL well under its 100,000-character limit
_ROUNDS = 3  # winners merged again since: ask about them too, a bounded number of times


@dataclass
class FollowReport:
    repointed: int = 0
    dropped: int = 0
    links_moved: int = 0
    links_dropped: int = 0
    unresolved: list[OutboxEntry] = field(default_factory=list)


class VanishedAccounts:
    """Reads what became of Accounts and applies the decisions; ``uuid_field`` is the
    configured ``CM_Customer_UUID__c``."""

    def __init__(self, gateway: SalesforceGateway, uuid_field: str) -> None:
        self.gateway = gateway
        self.uuid_field = uuid_field

    async def fates(self, rows: Iterable[OutboxEntry]) -> dict[str, AccountFate]:
        """What Salesforce holds for every Account the rows name, and for their winners."""
        return await self.fates_of({a for row in rows for a in accounts_named(row)})

    async def fates_of(self, account_ids: Iterable[str]) -> dict[str, AccountFate]:
        """What Salesforce holds for these Accounts, and for their winners."""
        wanted = set(account_ids)
        fates: dict[str, AccountFate] = {}
        for _ in range(_ROUNDS):
            ask = sorted(wanted - set(fates))
            if not ask:
                break
            for start in range(0, len(ask), _IDS_PER_QUERY):
                part = ask[start : start + _IDS_PER_QUERY]
                fates.update(await self._ask(part))
            wanted = {f.master_id for f in fates.values() if f.deleted and f.master_id}
        return fates

    async def _ask(self, ids: Sequence[str]) -> dict[str, AccountFate]:
        # Ids only (checked alphanumeric by accounts_named): nothing to escape.
        listed = ", ".join(f"'{i}'" for i in ids)
        soql = f"SELECT Id, IsDeleted, MasterRecordId FROM Account WHERE Id IN ({listed})"  # noqa: S608
        found: dict[str, AccountFate] = {}
        async for page in self.gateway.query_pages(soql, include_deleted=True):
            for record in page:
                fate = AccountFate(
                    str(record["Id"]),
                    deleted=record.get("IsDeleted") is True,
                    master_id=record.get("MasterRecordId") or None,
                )
                found[fate.account_id] = fate
                found[fate.account_id[:15]] = fate
        # An Id that answers nothing is gone for good (emptied from the recycle bin).
        return {i: found.get(i) or found.get(i[:15]) or AccountFate(i, found=False) for i in ids}

    def apply(
        self, tx: Transaction, rows: Sequence[OutboxEntry], fates: Mapping[str, AccountFate]
    ) -> FollowReport:
        """Carry out ``follow`` for the in-flight ``rows`` (see the module doc)."""
        involved = set(fates) | {f.master_id for f in fates.values() if f.master_id}
        links = {a: link.customer_uuid for a, link in tx.links.by_accounts(involved).items()}
        plan = follow(rows, fates, links)
        report = FollowReport(repointed=len(plan.repoint), dropped=len(plan.dropped))
        tx.outbox.repoint(plan.repoint)
        tx.outbox.mark_done(row.id for row, _ in plan.dropped)
        tx.audit.append(self._audit(plan))
        moved: list[OutboxItem] = []
        for move in plan.moves:
            if tx.links.move(move.customer_uuid, move.loser, move.winner):
                report.links_moved += 1
                log.warning(
                    "Account %s was merged into %s: customer %s now linked to the winner",
                    move.loser, move.winner, move.customer_uuid,
                )  # fmt: skip
                moved.append(self._uuid_row(move.customer_uuid, move.loser, move.winner))
        tx.outbox.enqueue(moved)
        for customer, why in plan.unlinked.items():
            if tx.links.remove(customer):
                report.links_dropped += 1
                tx.pending_matches.add(customer, why)
                log.warning("customer %s unlinked: %s; it will be matched again", customer, why)
        report.unresolved = plan.unresolved
        return report

    async def follow_missing_links(self, store: Store, org: OrgSnapshot) -> FollowReport:
        """Links whose Account the pass's read of the org no longer has: merged ones move to
        the winner, deleted ones are dropped (the customer is matched again). An Account that
        is merely not visible (``queryAll`` does not find it either) is left alone: that is a
        sharing problem for an operator, not a deletion."""
        linked = await in_store(store, lambda tx: tx.links.account_ids())
        missing = org.missing(linked)
        if not missing:
            return FollowReport()
        fates = await self.fates_of(missing)
        known = {a: f for a, f in fates.items() if f.found or a not in missing}
        report = await in_store(store, lambda tx: self.apply(tx, (), known))
        if report.links_moved or report.links_dropped:
            log.info(
                "links of merged or deleted Accounts: %d moved, %d dropped",
                report.links_moved, report.links_dropped,
            )  # fmt: skip
        return report

    def _uuid_row(self, customer: str, loser: str, winner: str) -> OutboxItem:
        return OutboxItem(
            idempotency_key=f"merged|{loser}|{winner}|{customer}",
            kind=Operation.UPDATE.value,
            target_system=System.SALESFORCE,
            target_object="Account",
            target_key=winner,
            payload={self.uuid_field: customer},
            reason=f"Account {loser} merged into {winner}: the link follows",
        )

    @staticmethod
    def _audit(plan: FollowPlan) -> list[AuditItem]:
        items = [
            AuditItem(System.SALESFORCE, row.target_object, row.target_key, "dropped",
                      dict(row.payload), why)
            for row, why in plan.dropped
        ]  # fmt: skip
        items += [
            AuditItem(System.SALESFORCE, "outbox", str(r.id), "repointed",
                      {"target_key": r.target_key}, r.reason)
            for r in plan.repoint
        ]  # fmt: skip
        return items
