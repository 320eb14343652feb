"""The customer sweep: every ChartMogul customer matched, and linked Accounts' figures set.

ChartMogul cannot list customers changed since a time, so the sweep pages all of them (200 a
call). For each page, in one transaction, it

- matches customers that have no link yet (``state.matching``): one Account links it (and the
  Account gets ``CM_Customer_UUID__c``); none leaves it pending for a later pass; several put
  it in quarantine with the candidates, and nothing is written for it until an operator
  chooses;
- enqueues each linked Account's current figures (MRR, ARR, status, customer since, the UUID
  and the ChartMogul link): the customer record is the authority for them. With them go the
  fields the lifecycle decides (stage, churn risk, plan) as the store holds them: the machine
  enqueues only what a signal changes, and only for a linked customer, so a customer linked
  after its signals were applied (matched late, resolved by an operator, or linked by the
  daemon's sweep while its activity poller ran) would otherwise never get them. Unchanged
  values are dropped by the dispatcher against what was last written, so a quiet pass sends
  nothing.

A full sweep also says which linked customers ChartMogul no longer lists (merged into another,
or deleted): ``Listing`` keeps what it listed, for ``departed.follow_departed``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from cmsync.chartmogul.records import Customer, Page, Rejected
from cmsync.pipeline.context import SyncContext
from cmsync.pipeline.named_index import Named, NamedIndex
from cmsync.pipeline.org import page_index
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.streams.email_directory import EmailDirectory, Listed
from cmsync.pipeline.streams.runner import Stream, run_stream
from cmsync.pipeline.translate import Translator
from state import (
    AccountLink,
    AccountState,
    MatchMethod,
    OutboxItem,
    QuarantineItem,
    QuarantineKind,
    System,
    Transaction,
)
from state.effects import AccountField, FieldValue, Money
from state.lifecycle import Risk, Stage
from state.matching import Ambiguous, CustomerFacts, Found, account_id_of, match
from state.weburl import web_url
from state.words import figures_words

__all__ = [
    "CustomerStream",
    "Listed",
    "Listing",
    "Named",
    "SweepStats",
    "figures",
    "lifecycle_fields",
    "matching_external_id",
    "quarantine_rejected",
    "sweep_customers",
]


@dataclass
class SweepStats:
    customers: int = 0
    linked: int = 0
    newly_linked: int = 0
    unmatched: int = 0
    ambiguous: int = 0
    rejected: int = 0
    enqueued: int = 0
    gone: int = 0  # linked customers ChartMogul no longer has (``departed``)
    followed: int = 0  # their links moved to the survivor of a merge
    dropped: int = 0  # their links dropped, the Account's ChartMogul fields cleared


@dataclass
class Listing:
    """What a sweep listed: every customer's UUID, the customer each external id is on
    (a merge puts the merged customer's external ids on the survivor, ``external_ids``), and
    the customers each email is on (casefolded), for enrichment, on disk (``email_directory``)
    until ``drop_emails``; with ``everyone``, every
    customer as the Closed-Won step after the sweep asks about it, in listing order
    (``closed_won.lookups.ListedCustomers``), on disk (``named_index``) until ``drop_named``."""

    seen: set[str] = field(default_factory=set)
    carriers: dict[str, str] = field(default_factory=dict)
    # On disk: held from the sweep to the enrichment step, across a Closed-Won step that may
    # take many minutes (a dict of ``Listed`` was 36 MB at 100,000 customers).
    # None: no enrichment step to ask (``drop_emails``).
    emails: EmailDirectory | None = field(default_factory=EmailDirectory)
    started: float = field(default_factory=time.monotonic)  # when the sweep began listing
    everyone: bool = False
    named: NamedIndex | None = None  # with ``everyone``

    def __post_init__(self) -> None:
        if self.everyone and self.named is None:
            self.named = NamedIndex()

    def drop_named(self) -> None:
        """The Closed-Won step is done with every customer: its index is deleted."""
        named, self.named = self.named, None
        if named is not None:
            named.close()

    def drop_emails(self) -> None:
        """Enrichment is done with the emails (or will not take them): the file is removed."""
        emails, self.emails = self.emails, None
        if emails is not None:
            emails.close()

    def add(self, customers: tuple[Customer, ...], rejected: tuple[Rejected, ...]) -> None:
        if self.named is not None:
            self.named.add(customers)
        if self.emails is not None:
            self.emails.add(customers)
        for customer in customers:
            self.seen.add(customer.uuid)
            for external_id in (customer.external_id, *customer.external_ids):
                if external_id:
                    self.carriers.setdefault(external_id, customer.uuid)
        for bad in rejected:  # listed, if unreadable: not gone
            uuid = bad.raw.get("uuid") if isinstance(bad.raw, dict) else None
            if isinstance(uuid, str):
                self.seen.add(uuid)


def figures(customer: Customer) -> dict[AccountField, FieldValue]:
    """The Account fields a customer record is the authority for."""
    values: dict[AccountField, FieldValue] = {
        AccountField.CUSTOMER_UUID: customer.uuid,
        AccountField.MRR: Money(customer.mrr),
        AccountField.ARR: Money(customer.arr),
        AccountField.STATUS: customer.status,
        # Shown as a link on the Account: http and https only (``state.weburl``).
        AccountField.URL: web_url(customer.chartmogul_url)[0],
    }
    if customer.customer_since is not None:
        values[AccountField.CUSTOMER_SINCE] = customer.customer_since.date()
    return values


def matching_external_id(customer: Customer) -> str | None:
    """The external id to match by: its own, unless that is no Account Id and one carried
    over from a customer merged into it is (``external_ids``)."""
    if account_id_of(customer.external_id) is not None:
        return customer.external_id
    carried = (e for e in customer.external_ids if account_id_of(e) is not None)
    return next(carried, customer.external_id)


def lifecycle_fields(state: AccountState | None) -> dict[AccountField, FieldValue]:
    """The Account fields the lifecycle decides, as the store holds them.

    Exactly what the machine's own updates would have written by now: it writes a field when
    it changes from a fresh account's (a lead, no risk, no plan), so those starting values
    are never written here either; otherwise the Account would end differently depending on
    whether its customer was linked before or after its first signals.
    """
    if state is None:
        return {}
    values: dict[AccountField, FieldValue] = {}
    if state.lifecycle_state != Stage.LEAD.value:
        values[AccountField.STAGE] = state.lifecycle_state
    if state.churn_risk not in (None, Risk.NONE.value):
        values[AccountField.CHURN_RISK] = state.churn_risk
    if state.plan:
        values[AccountField.PLAN] = state.plan
    return values


def quarantine_rejected(tx: Transaction, rejected: tuple[Rejected, ...]) -> None:
    for bad in rejected:
        raw = bad.raw if isinstance(bad.raw, dict) else {"raw": repr(bad.raw)[:2000]}
        tx.quarantine.add(
            QuarantineItem(
                kind=QuarantineKind.BAD_RECORD,
                source=System.CHARTMOGUL,
                record_key=f"{bad.error.record}:{bad.error.key}",
                reason=str(bad.error),
                payload=raw,
            )
        )


def _link_all(
    tx: Transaction,
    customers: tuple[Customer, ...],
    links: dict[str, AccountLink],
    context: SyncContext,
    claimed: dict[str, str],
) -> tuple[dict[str, AccountLink | Ambiguous | None], int]:
    """Each customer's link after matching (a link, None for no match, or the ambiguity),
    and how many were linked just now. Linked in one batch (``Links.put_many``)."""
    results: dict[str, AccountLink | Ambiguous | None] = {}
    found: dict[str, Found] = {}
    unlinked = {
        c.uuid: CustomerFacts(c.uuid, matching_external_id(c), c.email)
        for c in customers
        if c.uuid not in links
    }
    index = page_index(tx, context.org, list(unlinked.values()))
    for customer in customers:
        if customer.uuid in links:
            results[customer.uuid] = links[customer.uuid]
            continue
        result = match(unlinked[customer.uuid], None, index)
        if not isinstance(result, Found):
            results[customer.uuid] = result if isinstance(result, Ambiguous) else None
            continue
        holder = claimed.get(result.account_id)
        if holder not in (None, customer.uuid):
            reason = f"also matches {holder}"
            results[customer.uuid] = Ambiguous(result.method, (result.account_id,), reason)
            continue
        claimed[result.account_id] = customer.uuid
        found[customer.uuid] = result
    made, refused = tx.links.put_many(
        (uuid, f.account_id, MatchMethod(f.method)) for uuid, f in found.items()
    )
    for uuid, f in found.items():
        if uuid in made:
            results[uuid] = made[uuid]
        else:  # linked to someone else already: an operator's decision, never a side effect
            results[uuid] = Ambiguous(f.method, (f.account_id,), refused[uuid])
            if claimed.get(f.account_id) == uuid:
                del claimed[f.account_id]
    return results, len(made)


def _page(
    tx: Transaction,
    customers: tuple[Customer, ...],
    rejected: tuple[Rejected, ...],
    context: SyncContext,
    translator: Translator,
    run_id: str,
    claimed: dict[str, str],
) -> SweepStats:
    stats = SweepStats(customers=len(customers), rejected=len(rejected))
    quarantine_rejected(tx, rejected)
    known = tx.links.get_many(c.uuid for c in customers)
    states = tx.accounts.get_many([c.uuid for c in customers])
    links, stats.newly_linked = _link_all(tx, customers, known, context, claimed)
    rows: list[OutboxItem] = []
    matched: list[str] = []
    targets = context.org.targets(
        link.account_id for link in links.values() if isinstance(link, AccountLink)
    )
    for customer in customers:
        link = links[customer.uuid]
        if isinstance(link, Ambiguous):
            stats.ambiguous += 1
            tx.quarantine.add(
                QuarantineItem(
                    kind=QuarantineKind.AMBIGUOUS_MATCH,
                    source=System.CHARTMOGUL,
                    record_key=customer.uuid,
                    reason=link.reason,
                    candidates=link.candidates,
                    payload={"email": customer.email, "external_id": customer.external_id,
                             "name": customer.name},
                )
            )  # fmt: skip
            continue
        if link is None:
            stats.unmatched += 1
            tx.pending_matches.add(customer.uuid, "no Account matches yet")
            continue
        stats.linked += 1
        matched.append(customer.uuid)
        target = targets[link.account_id]
        rows.append(
            translator.update_row(
                target,
                {**figures(customer), **lifecycle_fields(states.get(customer.uuid))},
                key=f"figures|{customer.uuid}|{run_id}",
                reason=figures_words(customer.name or customer.email),
            )
        )
    tx.pending_matches.remove(matched)
    stats.enqueued = tx.outbox.enqueue(rows)
    _record_statuses(tx, customers)
    return stats


def _record_statuses(tx: Transaction, customers: tuple[Customer, ...]) -> None:
    """Keep each known account state's ChartMogul status as the customer record says.

    The lifecycle step compares it with the stage (``cycles.lifecycle_checks``): a
    disagreement means a movement was missed, and the record wins.
    """
    states = tx.accounts.get_many(c.uuid for c in customers)
    changed: list[AccountState] = []
    for customer in customers:
        state = states.get(customer.uuid)
        if state is None:  # known from now on: a lead until a movement says otherwise
            changed.append(AccountState(customer.uuid, Stage.LEAD.value, status=customer.status))
        elif customer.status and state.status != customer.status:
            changed.append(replace(state, status=customer.status))
    if changed:
        tx.accounts.put_many(changed)


class CustomerStream(Stream[Page[Customer], Page[Customer], SweepStats]):
    """Every customer, 200 a page, matched and refreshed: no cursor (ChartMogul cannot list
    the customers changed since a time, so every sweep reads them all)."""

    def __init__(self, poll: PollContext, *, now: datetime, listing: Listing | None) -> None:
        self.poll, self.listing = poll, listing
        self.total = SweepStats()
        self.run_id = now.isoformat()  # figures rows are keyed per pass: A, B, A is a write
        self.claimed: dict[str, str] = {}

    def pages(self) -> AsyncIterator[Page[Customer]]:
        return self.poll.chartmogul.customer_pages()

    def map(self, page: Page[Customer]) -> Page[Customer]:
        return page

    def commit(self, tx: Transaction, unit: Page[Customer]) -> SweepStats:
        poll = self.poll
        return _page(
            tx, unit.entries, unit.rejected, poll.context, poll.translator, self.run_id,
            self.claimed,
        )  # fmt: skip

    def count(self, unit: Page[Customer], done: SweepStats) -> None:
        if self.listing is not None:
            self.listing.add(unit.entries, unit.rejected)
        for name in vars(self.total):
            setattr(self.total, name, getattr(self.total, name) + getattr(done, name))


async def sweep_customers(
    poll: PollContext,
    *,
    now: datetime,
    listing: Listing | None = None,
) -> SweepStats:
    """Match and refresh every customer, one transaction per page of 200; ``listing``, if
    given, gets what was listed."""
    stream = CustomerStream(poll, now=now, listing=listing)
    await run_stream(stream, poll.store, poll.progress)
    return stream.total
