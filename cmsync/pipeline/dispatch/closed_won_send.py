"""The dispatcher's ChartMogul executor: each Closed-Won deal's effect sent, its row settled.

Theory of operation. ``drain`` claims the due ChartMogul rows (``import_deal``, lowest id
first) a window at a time and sends them side by side, one Account's rows after one another
in id order (a deal's effect waits behind an older one of the same Account, whose customer it
then finds, and a deal's rows stay in order), at most as many Accounts at once as the client
has requests in flight (``Transport``: its rate limit and connection cap hold for all of
them). Each row goes through the ChartMogul client's one request funnel, in order:

0. already imported? The store records the deal imported (a second row of the same deal,
   edited while its first row waited): its invoice is read, nothing is created, the row
   settles with the link. An invoice the store does not know of (a send cut short before its
   commit, an import by an earlier run) is found by the import itself: ChartMogul refuses its
   external id a second time, and the client or this executor then reads it;
1. the plan: found in the customer's data source (once per drain), else created from
   ``create_plans`` (a plan dropped from the configuration since the poll refuses the deal);
2. the customer, if the poll found none: created with the Account Id as its external id;
3. the import: one invoice (external id = the Opportunity Id), one subscription line item,
   one successful payment.

Every step is safe to repeat. ChartMogul refuses a second customer, plan or invoice with an
external id it holds (422, ``{"errors": {"external_id": "The external ID for this customer
already exists in our system."}}``, the message the official Go client names
``ErrKeyExternalIDExists``; the sandbox models it, ``tests/sandbox/test_chartmogul_merges.py``)
and the client's creates then look up what the earlier attempt made. So a send cut short
anywhere (the process killed between the customer and the invoice, the answer lost) is sent
again, after the daemon requeues the rows a stopped process left in flight, and finds what it
made: one customer, one invoice.

Each row's fate commits in one transaction with what it leaves in the store, as the poll's
page did before: the link (Account <-> customer), the imported deal (``tx.deals``), an outbox
update of the Account with the customer's UUID and URL, and an audit entry per ChartMogul
write. Fates:

- sent: done;
- refused by ChartMogul (4xx) or by the configuration: the customer this effect created goes
  again unless it holds an invoice (nothing uses an empty one), the deal is quarantined with
  the reason, as a refused deal always was, and the row is done with an audit entry
  (``refused``). A deal fixed at its source is read again and gets a new row;
- a transient failure after the client's own retries (5xx, timeouts, 429): retried later
  with the dispatcher's backoff, dead after ``max_attempts`` (a dead letter an operator
  retries or skips, ``cmsync problems`` or the dashboard), and the drain stops: the next
  row would meet the same outage;
- ChartMogul refusing the credentials: handed back unsent, and the drain stops;
- a payload this version cannot read: dead, with the reason.

An operator's void of an unwound deal (``void_deal``, enqueued by the command,
``cmsync.daemon.deal_commands``) is one call: ``DELETE /v1/invoices/{uuid}``, where a 404
(deleted already, by a send whose answer was lost or by someone in ChartMogul) counts as done.
Done, it marks the deal voided, closes its problem and writes an audit entry, in one
transaction; refused (4xx), it is dead with ChartMogul's reason and the problem stays open;
transient failures and refused credentials fare as above.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Any

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.errors import ChartMogulClientError, already_exists
from cmsync.chartmogul.records import Invoice
from cmsync.chartmogul.writes import NewPlan
from cmsync.config import Settings
from cmsync.errors import AuthError, PermanentError, RetriableError
from cmsync.pipeline.closed_won.deal import Interval, new_customer, new_invoice
from cmsync.pipeline.closed_won.effect import IMPORT_DEAL, VOID_DEAL, DealImport, VoidDeal
from cmsync.pipeline.closed_won.poll import DealWrites, commit_writes, link, quarantine, remember
from cmsync.pipeline.closed_won.steps import DealRefused, Holder, PlanRef, money
from cmsync.pipeline.dispatch.settle import DispatchPolicy, settle_retry
from cmsync.pipeline.translate import AccountTarget, Translator
from cmsync.storeio import in_store
from state import (
    AuditItem,
    DealStatus,
    MatchMethod,
    OutboxDead,
    OutboxEntry,
    Store,
    System,
    Transaction,
)

__all__ = ["KINDS", "ChartMogulExecutor", "ChartMogulReport"]

log = logging.getLogger("cmsync.dispatch.chartmogul")

KINDS = (IMPORT_DEAL, VOID_DEAL)
_WINDOW = 50  # rows claimed at a time, sent side by side (one Account's in order)


@dataclass
class ChartMogulReport:
    """What one drain of the ChartMogul rows did."""

    done: int = 0  # rows settled (sent, or refused and quarantined)
    imported: int = 0  # invoices imported
    customers_created: int = 0
    plans_created: int = 0
    customers_discarded: int = 0  # created for a deal whose invoice was refused, deleted again
    already_imported: int = 0  # a deal's invoice found in ChartMogul when its row was sent
    quarantined: int = 0  # deals refused when sent
    voided: int = 0  # unwound deals' invoices voided (deleted, or found gone)
    enqueued: int = 0  # Account updates enqueued (the customer's UUID and URL)
    retried: int = 0
    dead: int = 0
    deferred: int = 0  # rows handed back unsent
    outage: str | None = None  # a transient failure stopped the drain
    auth_failure: str | None = None  # ChartMogul refused the credentials

    @property
    def stopped(self) -> str | None:
        return self.outage or self.auth_failure

    def describe(self) -> str:
        """One line for the job's detail (the dispatch step's, the Closed-Won step's log)."""
        line = (
            f"(done={self.done} imported={self.imported} "
            f"customers_created={self.customers_created} plans_created={self.plans_created} "
            f"quarantined={self.quarantined} retried={self.retried} dead={self.dead})"
        )
        if self.voided:
            line = f"{line[:-1]} voided={self.voided})"
        return line if self.stopped is None else f"{line[:-1]} stopped: {self.stopped})"


@dataclass(frozen=True)
class _Made:
    holder: Holder
    invoice: Invoice | None
    audit: list[AuditItem]


class _Fate(Enum):
    SETTLED = "settled"
    SETTLED_STOP = "settled_stop"
    UNSENT_STOP = "unsent_stop"


def _account_of(row: OutboxEntry) -> str:
    """Whose turn the row waits in: its deal's Account (a void, or a payload without one,
    waits alone)."""
    deal = row.payload.get("deal") if row.kind == IMPORT_DEAL else None
    account = deal.get("account_id") if isinstance(deal, dict) else None
    return f"account:{account}" if isinstance(account, str) else f"row:{row.id}"


class ChartMogulExecutor:
    """Sends the outbox's ChartMogul rows through one ``ChartMogulClient``."""

    def __init__(
        self,
        store: Store,
        chartmogul: ChartMogulClient,
        settings: Settings,
        translator: Translator,
        *,
        clock: Callable[[], datetime],
        policy: DispatchPolicy | None = None,
    ) -> None:
        self.store = store
        self.chartmogul = chartmogul
        self.won = settings.closed_won
        self.translator = translator
        self.policy = policy or DispatchPolicy()
        self._clock = clock
        self._stopping = False
        self._lock = asyncio.Lock()  # one drain at a time (the dispatch job's, the step's)
        # Accounts sent at once: as many as the client sends requests at once; more would
        # only wait in its funnel.
        self._parallel = max(1, chartmogul.transport.policy.max_in_flight)
        self._plans: dict[tuple[str, str], PlanRef] = {}  # found this drain: (ds, key)
        self._plan_lock = asyncio.Lock()  # one lookup of a plan, not one per Account at once
        # Customers this drain made, by (ds, Account Id): an Account's next deal goes to it
        # instead of being refused its external id and looking it up.
        self._made: dict[tuple[str, str], Holder] = {}

    def request_stop(self) -> None:
        """Finish the row in flight, hand the rest back (shutdown)."""
        self._stopping = True

    async def drain(self, kinds: Collection[str] = KINDS) -> ChartMogulReport:
        """Send every due ChartMogul row (of ``kinds``); see the module doc."""
        async with self._lock:
            self._plans, self._made = {}, {}  # what changed since the last drain is seen
            return await self._drain(kinds)

    async def _drain(self, kinds: Collection[str]) -> ChartMogulReport:
        report = ChartMogulReport()
        while not self._stopping and report.stopped is None:
            rows = await in_store(
                self.store,
                lambda tx: tx.outbox.claim_due(
                    _WINDOW, target_system=System.CHARTMOGUL, kinds=kinds
                ),
            )
            if not rows:
                break
            unsent = {row.id for row in rows}
            try:
                await self._send_window(rows, unsent, report)
            finally:  # nothing stays in flight: the rows not sent are pending again
                if unsent:
                    report.deferred += await self._release(sorted(unsent))
        if report.done or report.stopped:
            log.info("chartmogul dispatch: %s", report.describe())
        return report

    async def _send_window(
        self, rows: list[OutboxEntry], unsent: set[int], report: ChartMogulReport
    ) -> None:
        """The window's rows side by side, one Account's in id order; a stop (an outage,
        refused credentials, shutdown) ends every Account's turn after its row in flight.
        ``unsent`` loses each row as it settles."""
        accounts: dict[str, list[OutboxEntry]] = {}
        for row in rows:  # claimed lowest id first: each Account's rows stay in that order
            accounts.setdefault(_account_of(row), []).append(row)
        gate = asyncio.Semaphore(self._parallel)

        async def turn(queue: list[OutboxEntry]) -> None:
            async with gate:
                for row in queue:
                    if self._stopping or report.stopped is not None:
                        return
                    fate = await self._send(row, report)
                    if fate is not _Fate.UNSENT_STOP:
                        unsent.discard(row.id)
                    if fate is not _Fate.SETTLED:
                        return

        try:
            async with asyncio.TaskGroup() as group:
                for queue in accounts.values():
                    group.create_task(turn(queue))
        except BaseExceptionGroup as failed:  # a bug in one send: raised as itself
            raise failed.exceptions[0] from None

    async def _release(self, ids: list[int]) -> int:
        return await in_store(self.store, lambda tx: tx.outbox.release(ids))

    async def _send(self, row: OutboxEntry, report: ChartMogulReport) -> _Fate:
        if row.kind == VOID_DEAL:
            return await self._void(row, report)
        try:
            decided = DealImport.of(dict(row.payload))
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"malformed {row.kind} effect ({type(exc).__name__}: {exc})"
            await in_store(self.store, lambda tx: tx.outbox.mark_dead([OutboxDead(row.id, reason)]))
            report.dead += 1
            return _Fate.SETTLED
        try:
            made = await self._import(decided, report)
        except DealRefused as exc:
            await self._refused(row, decided, str(exc), report)
            return _Fate.SETTLED
        except ChartMogulClientError as exc:  # a 4xx: the deal's request is wrong as sent
            await self._refused(row, decided, f"ChartMogul refused it: {exc}", report)
            return _Fate.SETTLED
        except (AuthError, RetriableError) as exc:
            return await self._stopped(row, exc, report)
        except PermanentError as exc:
            dead = OutboxDead(row.id, str(exc))
            await in_store(self.store, lambda tx: tx.outbox.mark_dead([dead]))
            report.dead += 1
            return _Fate.SETTLED
        await self._done(row, decided, made, report)
        return _Fate.SETTLED

    # --- the writes ---------------------------------------------------------------------

    async def _import(self, decided: DealImport, report: ChartMogulReport) -> _Made:
        deal = decided.deal
        assert deal.account_id is not None and deal.close_date is not None  # refusal() passed
        holder = decided.holder
        ds = holder.data_source_uuid if holder is not None else decided.data_source_uuid
        audit: list[AuditItem] = []
        why = f"Closed-Won Opportunity {deal.name} ({deal.opportunity_id})"
        known = await in_store(self.store, lambda tx: tx.deals.get(deal.opportunity_id))
        done = None if known is None else await self._imported_already(decided, ds)
        if done is not None:  # a second row of the deal (edited while the first waited)
            report.already_imported += 1
            return done
        plan = await self._plan(decided, ds, audit, report)
        made_here = self._made.get((ds, deal.account_id))
        if holder is None and made_here is not None:
            holder = replace(made_here, stale=decided.stale)
        created = holder is None
        if holder is None:
            body = new_customer(deal, decided.email, ds)
            customer = await self.chartmogul.create_customer(body)
            log.info("created ChartMogul customer %s for Account %s", customer.uuid, body.name)
            holder = replace(Holder.of(customer, ds, MatchMethod.EXTERNAL_ID), stale=decided.stale)
            self._made[(ds, deal.account_id)] = holder
            report.customers_created += 1
            audit.append(
                AuditItem(System.CHARTMOGUL, "Customer", customer.uuid, "create",
                          {"external_id": body.external_id, "data_source_uuid": ds}, why)
            )  # fmt: skip
        assert holder.uuid is not None and plan.uuid is not None
        invoice = new_invoice(
            deal,
            plan_uuid=plan.uuid,
            interval=plan.interval,
            settings=self.won,
            customer_external_id=holder.external_id,
            data_source_uuid=holder.data_source_uuid,
        )
        item = invoice.line_items[0]
        try:
            made = await self.chartmogul.import_invoices(holder.uuid, [invoice])
        except ChartMogulClientError as exc:
            if already_exists(exc):  # imported before, into another customer than this one
                done = await self._imported_already(decided, ds)
                if done is not None:
                    if created and await self._discard(holder.uuid, ds, deal.account_id):
                        report.customers_created -= 1
                        report.customers_discarded += 1
                    report.already_imported += 1
                    return replace(done, audit=audit)
            # ChartMogul has no dry run: a refused invoice is known only once the customer
            # exists. The customer made for it goes again, so nothing uses an empty one.
            if created and await self._discard(holder.uuid, ds, deal.account_id):
                report.customers_created -= 1
                report.customers_discarded += 1
                log.info(
                    "deleted ChartMogul customer %s again: the invoice of Opportunity %s was "
                    "refused", holder.uuid, deal.opportunity_id,
                )  # fmt: skip
            raise
        report.imported += 1
        amount = money(item.amount_in_cents, invoice.currency)
        log.info(
            "imported Opportunity %s into customer %s: %s per %s",
            deal.opportunity_id, holder.uuid, amount, plan.interval.describe(),
        )  # fmt: skip
        audit.append(
            AuditItem(System.CHARTMOGUL, "Invoice", invoice.external_id, "import",
                      {"customer_uuid": holder.uuid, "plan": plan.external_id,
                       "amount_in_cents": item.amount_in_cents, "currency": invoice.currency},
                      f"{why} imported as invoice {invoice.external_id} ({amount})")
        )  # fmt: skip
        ours = next((i for i in made if i.external_id == invoice.external_id), None)
        return _Made(holder, ours, audit)

    async def _imported_already(self, decided: DealImport, ds: str) -> _Made | None:
        """The deal's invoice if ChartMogul has it already, with the customer it went to."""
        deal = decided.deal
        assert deal.account_id is not None
        async for page in self.chartmogul.invoice_pages(external_id=deal.opportunity_id):
            for invoice in page.entries:
                if invoice.external_id != deal.opportunity_id or invoice.customer_uuid is None:
                    continue
                if decided.holder is not None and decided.holder.uuid == invoice.customer_uuid:
                    return _Made(decided.holder, invoice, [])
                customer = await self.chartmogul.get_customer(invoice.customer_uuid)
                ours = deal.account_id in (customer.external_id, *customer.external_ids)
                how = MatchMethod.EXTERNAL_ID if ours else MatchMethod.CONTACT_EMAIL
                return _Made(Holder.of(customer, ds, how), invoice, [])
        return None

    async def _plan(
        self, decided: DealImport, ds: str, audit: list[AuditItem], report: ChartMogulReport
    ) -> PlanRef:
        async with self._plan_lock:
            return await self._find_plan(decided, ds, audit, report)

    async def _find_plan(
        self, decided: DealImport, ds: str, audit: list[AuditItem], report: ChartMogulReport
    ) -> PlanRef:
        key = decided.plan_key
        known = self._plans.get((ds, key))
        if known is not None:
            return known
        plan = await self.chartmogul.find_plan(key, ds)
        if plan is not None:
            ref = PlanRef(
                plan.uuid, key, plan.name, Interval(plan.interval_count, plan.interval_unit)
            )
            self._plans[(ds, key)] = ref
            return ref
        definition = self.won.create_plans.get(key)
        if definition is None:  # the configuration changed since the poll decided
            raise DealRefused(
                f"plan {key!r} (chosen by {decided.chosen_by}) is not in ChartMogul data "
                f"source {ds} and closed_won.create_plans does not define it: create it in "
                "ChartMogul or add it to create_plans, then edit the Opportunity"
            )
        interval = Interval(definition.interval_count, definition.interval_unit)
        created = await self.chartmogul.create_plan(
            NewPlan(data_source_uuid=ds, name=definition.name, external_id=key,
                    interval_count=interval.count, interval_unit=definition.interval_unit)
        )  # fmt: skip
        log.info("created ChartMogul plan %s (%s)", key, created.uuid)
        report.plans_created += 1
        audit.append(
            AuditItem(System.CHARTMOGUL, "Plan", created.uuid, "create",
                      {"external_id": key, "data_source_uuid": ds},
                      f"Closed-Won Opportunity {decided.deal.opportunity_id}")
        )  # fmt: skip
        ref = PlanRef(created.uuid, key, created.name, interval)
        self._plans[(ds, key)] = ref
        return ref

    async def _discard(self, customer_uuid: str, ds: str, account_id: str) -> bool:
        """Delete the customer made for the Account unless it holds an invoice after all
        (another deal's effect went to it). True if it was deleted."""
        async for page in self.chartmogul.invoice_pages(customer_uuid=customer_uuid):
            if page.entries:
                return False
        await self.chartmogul.delete_customer(customer_uuid)
        self._made.pop((ds, account_id), None)
        return True

    async def _void(self, row: OutboxEntry, report: ChartMogulReport) -> _Fate:
        try:
            void = VoidDeal.of(dict(row.payload))
        except (KeyError, TypeError, ValueError) as exc:
            return await self._dead(row, f"malformed {row.kind} effect ({exc!r})", report)
        try:
            deleted = await self.chartmogul.delete_invoice(void.invoice_uuid)
        except ChartMogulClientError as exc:  # refused as sent: the operator reads why
            reason = f"ChartMogul refused the delete of invoice {void.invoice_uuid}: {exc}"
            return await self._dead(row, reason, report)
        except (AuthError, RetriableError) as exc:
            return await self._stopped(row, exc, report)
        except PermanentError as exc:
            return await self._dead(row, str(exc), report)
        detail = f"invoice {void.invoice_uuid} {'deleted' if deleted else 'already gone'}"
        audit = AuditItem(
            System.CHARTMOGUL, "Invoice", void.invoice_uuid, "delete",
            {"opportunity_id": void.opportunity_id, "deleted": deleted}, row.reason,
            keys=row.idempotency_key,
        )  # fmt: skip

        def work(tx: Transaction) -> None:
            tx.outbox.mark_done([row.id])
            tx.deals.mark(void.opportunity_id, DealStatus.VOIDED, was=DealStatus.UNWOUND)
            tx.quarantine.resolve(void.entry_id, f"voided by an operator: {detail} in ChartMogul")
            tx.audit.append([audit])

        await in_store(self.store, work)
        log.info("voided Opportunity %s: %s in ChartMogul", void.opportunity_id, detail)
        report.voided += 1
        report.done += 1
        return _Fate.SETTLED

    # --- fates --------------------------------------------------------------------------

    async def _done(
        self, row: OutboxEntry, decided: DealImport, made: _Made, report: ChartMogulReport
    ) -> None:
        deal = decided.deal
        assert deal.account_id is not None
        writes = DealWrites()
        # No read-back of the customer's figures (see ``closed_won``'s module doc, step 6).
        link(deal, made.holder, self.translator, AccountTarget(deal.account_id), writes)
        if made.invoice is not None:
            remember(deal, made.invoice, made.holder.uuid, writes)

        def work(tx: Transaction) -> int:
            tx.outbox.mark_done([row.id])
            tx.audit.append(made.audit)
            return commit_writes(tx, writes)

        report.enqueued += await in_store(self.store, work)
        report.done += 1

    async def _refused(
        self, row: OutboxEntry, decided: DealImport, reason: str, report: ChartMogulReport
    ) -> None:
        deal = decided.deal
        log.warning("Opportunity %s not imported: %s", deal.opportunity_id, reason)
        writes = DealWrites()
        quarantine(deal, reason, writes)
        fields: dict[str, Any] = {"reason": reason[:500]}
        refused = AuditItem(
            System.CHARTMOGUL,
            "Invoice",
            deal.opportunity_id,
            "refused",
            fields,
            row.reason,
            keys=row.idempotency_key,
        )

        def work(tx: Transaction) -> None:
            tx.outbox.mark_done([row.id])
            tx.audit.append([refused])
            commit_writes(tx, writes)

        await in_store(self.store, work)
        report.quarantined += 1
        report.done += 1

    async def _stopped(
        self, row: OutboxEntry, exc: AuthError | RetriableError, report: ChartMogulReport
    ) -> _Fate:
        """What stops the drain: refused credentials leave the row unsent; a call that kept
        failing is retried later with the dispatcher's backoff."""
        if isinstance(exc, AuthError):
            report.auth_failure = str(exc)
            log.warning("chartmogul dispatch stopped, ChartMogul refused the credentials: %s", exc)
            return _Fate.UNSENT_STOP
        report.outage = str(exc)
        log.warning("chartmogul dispatch stopped, a call kept failing: %s", exc)
        await self._settle_retry(row, str(exc), report)
        return _Fate.SETTLED_STOP

    async def _dead(self, row: OutboxEntry, reason: str, report: ChartMogulReport) -> _Fate:
        dead = OutboxDead(row.id, reason)
        await in_store(self.store, lambda tx: tx.outbox.mark_dead([dead]))
        report.dead += 1
        return _Fate.SETTLED

    async def _settle_retry(self, row: OutboxEntry, error: str, report: ChartMogulReport) -> None:
        def work(tx: Transaction) -> tuple[int, int]:
            now = max(self._clock(), tx.now)
            settlement = settle_retry([row], error, now=now, policy=self.policy)
            settlement.apply(tx)
            return len(settlement.retries), len(settlement.dead)

        retried, dead = await in_store(self.store, work)
        report.retried += retried
        report.dead += dead
