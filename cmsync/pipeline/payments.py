"""Failed payments and their recovery, from invoice transactions.

ChartMogul lists invoices newest import first and has no "changed since" filter, so the poller
reads from the top until it meets the newest invoice the previous run saw (the cursor), turning
each failed payment into ``PaymentFailed`` and a later successful payment on the same invoice
into ``PaymentRecovered``. A payment added later to an older invoice does not move it to the
top, so invoices with an open failure (known from the accounts' state) are looked up again by
external id on every run, until they are recovered or, after ``failure_expiry``, taken as
settled (``FailureExpired``). Signals carry natural keys: re-reading an invoice adds nothing.

The first run has no cursor and reads every invoice once (a bootstrap cost of one call per 200
invoices); later runs read only what is new.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.records import Invoice, Page, Rejected
from cmsync.pipeline.apply import ApplyStats, apply_signals
from cmsync.pipeline.context import SyncContext
from cmsync.pipeline.customers import quarantine_rejected
from cmsync.pipeline.readahead import read_ahead
from cmsync.pipeline.translate import Translator
from cmsync.storeio import in_store
from state import Store, Transaction
from state.lifecycle import LifecyclePolicy, Risk
from state.signals import FailureExpired, PaymentFailed, PaymentRecovered

__all__ = ["CURSOR", "PaymentStats", "payment_signals", "poll_payments"]

CURSOR = "chartmogul.invoices"

PaymentSignal = PaymentFailed | PaymentRecovered | FailureExpired


@dataclass
class PaymentStats:
    invoices: int = 0
    rechecked: int = 0
    expired: int = 0
    applied: ApplyStats = field(default_factory=ApplyStats)


def invoice_key(invoice: Invoice) -> str:
    return invoice.external_id or invoice.uuid


def payment_signals(invoice: Invoice) -> list[PaymentSignal]:
    """A failure per failed payment; a recovery for a success after a failure."""
    if invoice.customer_uuid is None:
        return []
    amount = sum(item.amount_in_cents for item in invoice.line_items)
    out: list[PaymentSignal] = []
    failed = False
    for tx in sorted(invoice.transactions, key=lambda t: t.date):
        if tx.type != "payment":
            continue
        if tx.result == "failed":
            failed = True
            out.append(PaymentFailed(invoice.customer_uuid, tx.date, invoice_key(invoice), amount))
        elif failed:
            failed = False
            out.append(
                PaymentRecovered(invoice.customer_uuid, tx.date, invoice_key(invoice), amount)
            )
    return out


async def _open_failures(store: Store) -> list[tuple[str, str, datetime]]:
    """(customer uuid, invoice key, failed at) of every failed payment not yet recovered."""

    def read(tx: Transaction) -> list[tuple[str, str, datetime]]:
        states = tx.accounts.select(churn_risk=Risk.HIGH.value)
        return [
            (s.customer_uuid, str(invoice), datetime.fromisoformat(when))
            for s in states
            for invoice, when in s.memo.get("failures", ())
        ]

    return await in_store(store, read)


async def poll_payments(
    chartmogul: ChartMogulClient,
    store: Store,
    context: SyncContext,
    translator: Translator,
    policy: LifecyclePolicy,
    *,
    now: datetime,
    failure_expiry: timedelta,
) -> PaymentStats:
    stats = PaymentStats()
    raw = await in_store(store, lambda tx: tx.cursors.get(CURSOR))
    head = json.loads(raw).get("head") if raw else None
    newest: str | None = None

    async def commit(
        signals: Iterable[PaymentSignal],
        page_rejected: tuple[Rejected, ...] = (),
        cursor: str | None = None,
    ) -> None:
        batch = sorted(signals, key=lambda s: s.at)

        def work(tx: Transaction) -> ApplyStats:
            quarantine_rejected(tx, page_rejected)
            done = apply_signals(
                tx, batch, context=context, translator=translator, policy=policy, now=now
            )
            if cursor is not None:
                tx.cursors.set(CURSOR, cursor)
            return done

        stats.applied.add(await in_store(store, work))

    def final(page: Page[Invoice]) -> bool:
        return not page.has_more or any(invoice.uuid == head for invoice in page.entries)

    # The next page is read while this one is committed, unless this one is the last needed:
    # a first run reads every invoice, and its reads then cost no more than the rate limit.
    async with aclosing(read_ahead(chartmogul.invoice_pages(), last=final)) as pages:
        async for page in pages:
            signals: list[PaymentSignal] = []
            reached = False
            for invoice in page.entries:
                if invoice.uuid == head:
                    reached = True
                    break
                newest = newest or invoice.uuid
                stats.invoices += 1
                signals.extend(payment_signals(invoice))
            last = reached or not page.has_more
            cursor = json.dumps({"head": newest or head}) if last else None
            await commit(signals, page.rejected, cursor)
            if reached:
                break

    recovered: list[PaymentSignal] = []
    for customer_uuid, key, failed_at in await _open_failures(store):
        if failed_at + failure_expiry <= now:
            stats.expired += 1
            recovered.append(FailureExpired(customer_uuid, failed_at + failure_expiry, key))
            continue
        stats.rechecked += 1
        async for page in chartmogul.invoice_pages(customer_uuid=customer_uuid, external_id=key):
            for invoice in page.entries:
                recovered.extend(
                    s for s in payment_signals(invoice) if isinstance(s, PaymentRecovered)
                )
    await commit(recovered)
    return stats
