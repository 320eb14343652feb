"""The sync steps over one store and both clients, and a pass: every step once, in order.

A step is a ``Step``, bound to its method of ``SyncPass`` when the pass is built (a step
without one fails there), run by ``run_step`` and recorded as a job run under its value:
``load_context`` (the org's Accounts and Contact emails, on disk, and the plans),
``customers`` (match, figures; merged and deleted customers followed), ``closed_won`` and
``enrichment`` (the Salesforce pollers), ``activities``, ``late_activities``, ``payments`` and
``first_cycles`` (the lifecycle's inputs), ``dispatch`` (the outbox to Salesforce),
``reconcile`` (drift) and ``reports`` (the KPI rows); a dry run ends with ``preview``
instead of a dispatch. ``cmsync once`` runs them all in dependency order (``STEPS``,
``run``); the daemon runs them in its jobs (``cmsync.daemon.runner.JOBS``), side by side.
Without a context only the dispatch runs; any other step may fail and the rest still run. A
step fails by raising; the failure is recorded with its reason, not re-raised, so a pass
always ends with a complete report. A step cancelled from outside (the daemon's job
timeout) ends its run as failed too, saying why.

Each step's progress goes to the pass's ``progress`` sink (``cmsync.progress``): a meter for
the step when it starts, handed to its poller in the ``PollContext`` (and to the dispatcher),
told of its work as it goes; the step's result when it ends. The daemon's jobs run side by
side, so the step's meter is found through a context variable of the step's own task.
Steps run in sequence share what one of them listed (``run_steps`` tells each step what
follows it): the customer sweep's listing serves the Closed-Won step right after it
(``closed_won.lookups``) and the enrichment step; the invoice listing enrichment reads (when
it sums lifetime values from every invoice) serves the payments step
(``streams.listed_invoices``; it runs between the activities steps and the payments step,
whose listing it is then, read or not); otherwise the activities step followed by the
payments step reads the invoice listing for it meanwhile (``InvoicesAhead``). Run alone (the
daemon's jobs), each step reads its own.

What a pass holds open (the org's snapshot, its scratch file, an invoice listing read ahead)
``close`` releases at its end; in the daemon a snapshot a newer ``load_context`` replaced is
closed once no step may still read it (``holding``).

Each source's reads end at that source's "now": local time plus the offset its ``Date``
headers show (``state.serverclock``, measured by each client's funnel). The stamps a window is
compared with are the server's, so a VM clock behind Salesforce would otherwise leave the
newest records out until it caught up. A Task's due date counts from Salesforce's date, for
the same reason. What is not a read window (retry times, run ids, report dates) keeps the
local clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from cmsync.allocator import release_free_memory
from cmsync.chartmogul.client import ChartMogulClient
from cmsync.config import Settings
from cmsync.errors import AuthFailingError, SyncError
from cmsync.pipeline import reconcile as reconciliation
from cmsync.pipeline.accounts import policy_from
from cmsync.pipeline.closed_won.lookups import ListedCustomers
from cmsync.pipeline.closed_won.poll import poll_closed_won
from cmsync.pipeline.closed_won.steps import ClosedWonStats
from cmsync.pipeline.context import SyncContext, load_context, load_plans
from cmsync.pipeline.dispatch.closed_won_send import ChartMogulExecutor, ChartMogulReport
from cmsync.pipeline.dispatch.dispatcher import Dispatcher, DispatchReport
from cmsync.pipeline.dispatch.preview import Preview, build_preview
from cmsync.pipeline.dispatch.vanished import VanishedAccounts
from cmsync.pipeline.org import OrgSnapshot
from cmsync.pipeline.owners import resolve_fallback_owner
from cmsync.pipeline.poll_context import PollContext
from cmsync.pipeline.reconcile import ReconcileStats
from cmsync.pipeline.streams.activities import poll_activities, reread_activities
from cmsync.pipeline.streams.customers import Listing, sweep_customers
from cmsync.pipeline.streams.cycles import sweep_first_cycles
from cmsync.pipeline.streams.departed import follow_departed
from cmsync.pipeline.streams.enrichment import (
    INVOICES_AFTER,
    LISTING_KEPT,
    EnrichmentStats,
    fresh,
    poll_enrichment,
)
from cmsync.pipeline.streams.listed_invoices import ListedInvoices
from cmsync.pipeline.streams.payments import (
    InvoicesAhead,
    InvoicesRead,
    poll_payments,
    read_head,
)
from cmsync.pipeline.streams.reports import ReportStats, write_reports
from cmsync.pipeline.translate import Translator
from cmsync.progress import NO_METER, SILENT, Meter, ProgressSink
from cmsync.salesforce.collections import CollectionsWriter
from cmsync.salesforce.field_limits import read_limits
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.storeio import in_store
from state import JobResult, Store, StoreUnwritableError
from state.serverclock import NOTABLE_SKEW, ServerClock

__all__ = ["STEPS", "DispatchIncompleteError", "PassReport", "Step", "StepResult", "SyncPass"]

log = logging.getLogger("cmsync.pass")

# The meter of the step running in this task (``_run_step`` sets it, ``_poll`` hands it on).
_METER: contextvars.ContextVar[Meter] = contextvars.ContextVar("cmsync_step_meter")


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    seconds: float
    detail: str
    outcome: Any = None
    error: Exception | None = None  # what a failed step raised, for callers that classify it

    def line(self) -> str:
        """One line for an operator: mark, name, wall time, what it did (its counts).

        ``cmsync once`` prints it as the step ends; the memory benchmark reads it back, so a
        field added goes after the detail's start, not before the time."""
        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.name:<13} {self.seconds:7.2f}s  {self.detail}"


@dataclass
class PassReport:
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    def step(self, name: str) -> StepResult | None:
        return next((s for s in self.steps if s.name == name), None)

    def summary(self) -> str:
        return "\n".join(step.line() for step in self.steps)


def _describe(outcome: Any) -> str:
    if outcome is None:
        return "off in the configuration"
    if hasattr(outcome, "describe"):
        return str(outcome.describe())
    if hasattr(outcome, "__dataclass_fields__"):
        parts = []
        for name in outcome.__dataclass_fields__:
            value = getattr(outcome, name)
            if hasattr(value, "__dataclass_fields__"):
                value = _describe(value)
            parts.append(f"{name}={value}")
        return " ".join(parts)
    return str(outcome)


def _cancelled() -> str:
    return "cancelled"


def _ignore(_: StepResult) -> None:
    """No one to tell of a step as it ends (``run``)."""


def _fold(stats: ClosedWonStats, sent: ChartMogulReport) -> None:
    """What sending the deals' effects did, in the Closed-Won step's stats."""
    stats.imported += sent.imported
    stats.customers_created += sent.customers_created
    stats.plans_created += sent.plans_created
    stats.customers_discarded += sent.customers_discarded
    stats.already_imported += sent.already_imported
    stats.quarantined += sent.quarantined
    stats.enqueued += sent.enqueued


class DispatchIncompleteError(SyncError):
    """The outbox could not be drained: paused, refused, or rows dead-lettered."""

    def __init__(self, report: DispatchReport) -> None:
        reason = report.stopped or f"{report.dead} rows dead-lettered (`cmsync problems list`)"
        super().__init__(f"{reason}; {_describe(report)}")
        self.report = report


class Step(StrEnum):
    """The steps a pass (and the daemon's jobs) can run. The value is the name a run is
    recorded under (``job_run.job``), so the store and the dashboard see what they saw before;
    a caller with a name (the CLI, the benchmarks) gets ``Step(name)``, and an unknown name is
    a ``ValueError`` there, not a step silently left out."""

    LOAD_CONTEXT = "load_context"
    CUSTOMERS = "customers"
    CLOSED_WON = "closed_won"
    ENRICHMENT = "enrichment"
    ACTIVITIES = "activities"
    LATE_ACTIVITIES = "late_activities"
    PAYMENTS = "payments"
    FIRST_CYCLES = "first_cycles"
    DISPATCH = "dispatch"
    RECONCILE = "reconcile"
    REPORTS = "reports"
    PREVIEW = "preview"


# Dependency order: what each step reads, an earlier one wrote or loaded. Enrichment takes
# each customer's plan and start from the account states the activities steps keep, so it
# follows them. Reconciliation compares with what Salesforce holds, so it comes after a
# dispatch, and a last dispatch sends what it and the reports queued.
STEPS: tuple[Step, ...] = (
    Step.LOAD_CONTEXT,
    Step.CUSTOMERS,
    Step.CLOSED_WON,
    Step.ACTIVITIES,
    Step.LATE_ACTIVITIES,
    Step.ENRICHMENT,
    Step.PAYMENTS,
    Step.FIRST_CYCLES,
    Step.DISPATCH,
    Step.RECONCILE,
    Step.REPORTS,
    Step.DISPATCH,
)


class SyncPass:
    """The steps of a pass over one store and both clients; ``run`` does them all."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        chartmogul: ChartMogulClient,
        gateway: SalesforceGateway,
        clock: Callable[[], datetime],
        *,
        dry_run: bool = False,
        progress: ProgressSink = SILENT,
    ) -> None:
        self.dry_run = dry_run
        self.progress = progress  # told of each step's start, work and end
        self.settings = settings
        self.store = store
        self.chartmogul = chartmogul
        self.gateway = gateway
        self.clock = clock
        self.salesforce_now = gateway.server_clock.now
        self.chartmogul_now = chartmogul.transport.server_clock.now
        self._skews: dict[str, timedelta] = {}  # the offset last said in the log, per service
        self.policy = policy_from(settings.sync)
        self.context: SyncContext | None = None
        self.translator = Translator(settings.fields, settings.sync, today=self._salesforce_today)
        self.vanished = VanishedAccounts(gateway, settings.fields.account.customer_uuid)
        self.dispatcher = Dispatcher(
            store,
            CollectionsWriter(gateway),
            gateway.budget,
            clock=clock,
            vanished=self.vanished,
            chartmogul=ChartMogulExecutor(
                store, chartmogul, settings, self.translator, clock=clock
            ),
        )
        self._owner_resolved = False
        self.swept = False  # a customer sweep has succeeded (see ``_linked_first``)
        self._sweeping = asyncio.Lock()
        self._invoices: InvoicesRead | None = None  # read before payments, for payments
        self._listing: Listing | None = None  # the last sweep's, for the enrichment after it
        self._everyone = False  # the sweep about to run keeps every customer, for Closed-Won
        self._swept: Listing | None = None  # that sweep's listing, for the Closed-Won step
        self._unchanged: Listing | None = None  # a listing Closed-Won then wrote nothing after
        self._listed_invoices: ListedInvoices | None = None  # enrichment's, for payments
        # Customers to read in one page of people above which enrichment lists every invoice.
        self.invoices_after = INVOICES_AFTER
        # Each step's work, by reference: a step without one fails here, at construction.
        self._work: dict[Step, Callable[[], Awaitable[Any]]] = {
            Step.LOAD_CONTEXT: self.load_context,
            Step.CUSTOMERS: self.customers,
            Step.CLOSED_WON: self.closed_won,
            Step.ENRICHMENT: self.enrichment,
            Step.ACTIVITIES: self.activities,
            Step.LATE_ACTIVITIES: self.late_activities,
            Step.PAYMENTS: self.payments,
            Step.FIRST_CYCLES: self.first_cycles,
            Step.DISPATCH: self.dispatch,
            Step.RECONCILE: self.reconcile,
            Step.REPORTS: self.reports,
            Step.PREVIEW: self.preview,
        }
        if missing := set(Step) - self._work.keys():
            raise TypeError(f"steps without their work: {sorted(missing)}")
        # Snapshots of the org a newer ``load_context`` replaced, closed (their scratch files
        # removed) once no step runs that may still read one (``holding``).
        self._retired: list[OrgSnapshot] = []
        self._holders = 0

    async def run_steps(
        self, names: Sequence[Step | str], *, why_cancelled: Callable[[], str] = _cancelled
    ) -> AsyncIterator[StepResult]:
        """Run steps in order, yielding each one's result as it ends (see ``run_step``).

        Knowing what comes next, a step shares what it listed with the steps after it (see
        the module doc).
        """
        for index, name in enumerate(names):
            yield await self.run_step(name, then=names[index + 1 :], why_cancelled=why_cancelled)

    async def run_step(
        self,
        name: Step | str,
        *,
        then: Sequence[Step | str] = (),
        why_cancelled: Callable[[], str] = _cancelled,
    ) -> StepResult:
        """Run one step, recorded as a job run; never raises for a failed step (an unknown
        step name is a ``ValueError``: a caller's mistake, not a step's failure).

        ``then``: the steps the caller runs next (``run_steps`` passes them). A step
        cancelled from outside (the daemon's job timeout, its stop) ends its run as failed
        with ``why_cancelled()`` before the cancellation goes on, so no run stays "running"
        in ``status`` and the dashboard until the job's next run.
        """
        step = Step(name)
        with self.holding():
            return await self._run_step(step, then, why_cancelled)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """While a step (or anything else reading ``context``) runs: the daemon's jobs run
        side by side, so an org snapshot a ``load_context`` replaced may still be read by
        another step; it is closed when the last holder ends."""
        self._holders += 1
        try:
            yield
        finally:
            self._holders -= 1
            if not self._holders:
                retired, self._retired = self._retired, []
                for org in retired:
                    org.close()

    async def _run_step(
        self, step: Step, then: Sequence[Step | str], why_cancelled: Callable[[], str]
    ) -> StepResult:
        meter = self.progress.step_started(step.value)
        token = _METER.set(meter)
        result: StepResult | None = None  # None: cancelled
        try:
            result = await self._attempt(step, then, why_cancelled)
            return result
        finally:
            _METER.reset(token)
            self.progress.step_ended(meter, result)
            release_free_memory()  # what the step freed, not held under the next one

    async def _attempt(
        self, step: Step, then: Sequence[Step | str], why_cancelled: Callable[[], str]
    ) -> StepResult:
        work = self._work[step]
        name = step.value
        run_id = await in_store(self.store, lambda tx: tx.jobs.start(name))
        started = time.perf_counter()
        try:
            await self._share(step, then)
            outcome = await work()
        except asyncio.CancelledError:
            detail = why_cancelled()
            log.warning("%s cancelled: %s", name, detail)
            await in_store(
                self.store, lambda tx: tx.jobs.finish(run_id, JobResult.ERROR, detail[:2000])
            )
            raise
        except StoreUnwritableError:
            raise  # not this step's failure but the store's, which the caller holds as a state
        except Exception as exc:
            # The one place a step's failure stops: classified errors are expected and said
            # in a line; anything else is a bug, logged with its traceback, and the daemon
            # goes on with its other jobs.
            if isinstance(exc, AuthFailingError):  # its gate has said it once already
                log.debug("%s held back: %s", name, exc)
            elif isinstance(exc, SyncError):
                log.warning("%s failed: %s", name, exc)
            else:
                log.exception("%s failed unexpectedly", name)
            seconds = time.perf_counter() - started
            detail = f"{type(exc).__name__}: {exc}"
            await in_store(
                self.store, lambda tx: tx.jobs.finish(run_id, JobResult.ERROR, detail[:2000])
            )
            return StepResult(name, False, seconds, detail, error=exc)
        seconds = time.perf_counter() - started
        detail = _describe(outcome)
        await in_store(self.store, lambda tx: tx.jobs.finish(run_id, JobResult.OK, detail[:2000]))
        return StepResult(name, True, seconds, detail, outcome)

    async def _share(self, step: Step, then: Sequence[Step | str]) -> None:
        """Before ``step``: what it lists that a step in ``then`` can take instead of listing
        it again, or what it can take from a step before it."""
        if step is Step.CUSTOMERS:  # Closed-Won asks the sweep's listing, if it comes next
            self._everyone = self.settings.closed_won.enabled and Step.CLOSED_WON in then
        elif step is Step.ENRICHMENT:
            self._listed_invoices = None
            if Step.PAYMENTS in then:
                self._listed_invoices = ListedInvoices(self.chartmogul, await read_head(self.store))
        elif step is Step.ACTIVITIES and Step.PAYMENTS in then:
            # Enrichment between them may list every invoice: the payments step takes that.
            if not (self.settings.enrichment.enabled and Step.ENRICHMENT in then):
                await self._read_invoices_ahead()
        elif step is Step.PAYMENTS and self._invoices is None and self._listed_invoices is not None:
            await self._read_invoices_ahead()  # what enrichment listed, or a listing of its own

    async def load_context(self) -> SyncContext:
        context = await load_context(self.gateway, self.chartmogul, self.settings.fields)
        if not self._owner_resolved:  # once: the first refresh names the fallback owner
            self.dispatcher.fallback_owner = await resolve_fallback_owner(
                self.gateway, self.settings.sync.fallback_owner
            )
            # And what the org's fields hold, to fit writes to (``field_limits``).
            self.dispatcher.limits = await read_limits(self.gateway)
            self._owner_resolved = True
        if not self.dry_run:  # links of Accounts merged or deleted since: follow them now
            await self.vanished.follow_missing_links(self.store, context.org)
        self._set_context(context)
        self._say_skew("Salesforce", self.gateway.server_clock)
        self._say_skew("ChartMogul", self.chartmogul.transport.server_clock)
        return context

    def _say_skew(self, service: str, clock: ServerClock) -> None:
        """Log a skew over a minute once (and when it changes by as much), not every pass."""
        offset = clock.offset
        if abs(offset - self._skews.get(service, timedelta())) <= NOTABLE_SKEW:
            return
        self._skews[service] = offset
        if abs(offset) <= NOTABLE_SKEW:
            log.info("this machine's clock agrees with %s's again", service)
            return
        log.warning(
            "this machine's clock is %.0f s %s %s's (the Date of its answers): %s reads end at "
            "%s's own clock, so nothing is delayed or lost; sync this clock with NTP (chrony or "
            "systemd-timesyncd), see `cmsync doctor`",
            abs(offset.total_seconds()), "behind" if offset > timedelta() else "ahead of",
            service, service, service,
        )  # fmt: skip

    def _set_context(self, context: SyncContext) -> None:
        if self.context is not None and self.context.org is not context.org:
            self._retired.append(self.context.org)
        self.context = context
        self.translator = Translator(
            self.settings.fields, self.settings.sync, context.plan_names,
            today=self._salesforce_today,
        )  # fmt: skip
        if self.dispatcher.chartmogul is not None:
            self.dispatcher.chartmogul.translator = self.translator

    def _salesforce_today(self) -> date:
        """The org's date, as its ``Date`` headers show it: what a Task's due date counts from."""
        return self.salesforce_now().astimezone(UTC).date()

    def _context(self) -> SyncContext:
        if self.context is None:
            raise RuntimeError("load_context() first")
        return self.context

    def _poll(self) -> PollContext:
        """What a poller is handed: made per step, with the org the pass holds at its start."""
        return PollContext(
            self.settings, self.store, self.chartmogul, self.gateway, self._context(),
            self.translator, dry_run=self.dry_run, progress=_METER.get(NO_METER),
        )  # fmt: skip

    async def customers(self) -> Any:
        async with self._sweeping:
            return await self._sweep()

    async def _sweep(self) -> Any:
        everyone, self._everyone = self._everyone, False
        listing = Listing(everyone=everyone)
        if not self.settings.enrichment.enabled:  # no step to ask who has an email
            listing.drop_emails()
        poll = self._poll()
        stats = await sweep_customers(poll, now=self.clock(), listing=listing)
        # Listed in full: linked customers it did not show were merged or deleted.
        departed = await follow_departed(poll, seen=listing.seen, carriers=listing.carriers)
        # Read there only: the listing is held on for what follows (emails, every customer),
        # and at 100,000 customers these two were about 15 MB of it.
        listing.seen, listing.carriers = set(), {}
        stats.gone, stats.followed, stats.dropped = (
            departed.gone, departed.followed, departed.dropped
        )  # fmt: skip
        self.swept = True
        if self._listing is not None:  # a sweep's no enrichment step took (the daemon's)
            self._listing.drop_emails()
        self._listing = listing if self.settings.enrichment.enabled else None  # or held idle
        self._swept = listing if everyone else None
        return stats

    async def _linked_first(self) -> None:
        """Sweep customers first, unless a sweep of this pass (or daemon) has succeeded.

        The signal steps enqueue effects only for linked customers, and links come from the
        sweep: a signal applied before its customer was linked would lose its alert for good.
        So until a sweep succeeds (the daemon's jobs run side by side; a sweep can fail) they
        sweep themselves, and fail with it, leaving their cursors where they were.
        """
        async with self._sweeping:
            if not self.swept:
                await self._sweep()

    async def activities(self) -> Any:
        await self._linked_first()
        lookback = timedelta(seconds=self.settings.sync.lookback_seconds)
        return await poll_activities(self._poll(), lookback=lookback, now=self.chartmogul_now())

    async def late_activities(self) -> Any:
        """Movements that showed up behind the activities poller (see ``reread_activities``)."""
        await self._linked_first()
        return await reread_activities(
            self._poll(),
            lookback=timedelta(seconds=self.settings.sync.lookback_seconds),
            every=timedelta(seconds=self.settings.schedule.late_activities),
            now=self.chartmogul_now(),
        )  # fmt: skip

    async def payments(self) -> Any:
        await self._linked_first()
        ahead, self._invoices = self._invoices, None
        return await poll_payments(
            self._poll(),
            now=self.chartmogul_now(),
            failure_expiry=timedelta(days=self.settings.sync.failure_expiry_days),
            ahead=ahead,
        )  # fmt: skip

    async def _read_invoices_ahead(self) -> None:
        await self._drop_invoices()  # a listing a step before left unused (a job timed out)
        listed, self._listed_invoices = self._listed_invoices, None
        head = await read_head(self.store)
        if listed is not None and listed.read and listed.head == head:
            self._invoices = listed  # enrichment listed every invoice a moment ago
        else:
            self._invoices = InvoicesAhead(self.chartmogul, head)

    async def _drop_invoices(self) -> None:
        ahead, self._invoices = self._invoices, None
        if ahead is not None:
            await ahead.cancel()

    async def close(self) -> None:
        """Stop background reading (an invoice listing no payments step took) and close the
        org's snapshots, removing their scratch files; idempotent. The end of a pass
        (``run``) and of the daemon."""
        await self._drop_invoices()
        if self._swept is not None:  # listed for a Closed-Won step that did not run
            self._swept.drop_named()
        if self._listing is not None:  # listed for an enrichment step that did not run
            self._listing.drop_emails()
        self._listed_invoices = self._swept = self._listing = self._unchanged = None
        retired, self._retired = self._retired, []
        if self.context is not None:
            retired.append(self.context.org)
        for org in retired:
            org.close()

    async def first_cycles(self) -> Any:
        await self._linked_first()
        return await sweep_first_cycles(self._poll(), now=self.clock())

    async def closed_won(self) -> ClosedWonStats | None:
        if not self.settings.closed_won.enabled:
            return None
        swept, self._swept = self._swept, None  # the sweep's just before, once
        self._unchanged = None
        lookups = None  # none fresh: the poll lists the customers itself
        if swept is not None and time.monotonic() - swept.started <= LISTING_KEPT:
            lookups = ListedCustomers(self.chartmogul, swept)
        try:
            stats = await poll_closed_won(
                self._poll(), now=self.salesforce_now(),
                backfill_days=self.settings.closed_won.backfill_days, lookups=lookups,
            )  # fmt: skip
        finally:
            if swept is not None:  # every customer was kept for this step only
                swept.drop_named()
        if not self.dry_run:  # the deals' effects go out now, not at the next dispatch
            sent = await self.dispatcher.send_chartmogul()
            if sent is not None:
                _fold(stats, sent)
        # Nothing made or imported since the sweep: enrichment need not list again.
        made = stats.imported or stats.customers_created or stats.customers_discarded
        self._unchanged = swept if lookups is not None and not made else None
        if stats.plans_created:  # later steps must write the new plan's name, not its id
            self._set_context(replace(self._context(), plans=await load_plans(self.chartmogul)))
        return stats

    async def enrichment(self) -> EnrichmentStats | None:
        if not self.settings.enrichment.enabled:
            return None
        listing, self._listing = self._listing, None  # the sweep's, once: it ages
        unchanged, self._unchanged = self._unchanged, None
        relist = listing is None or listing is not unchanged
        # A stale listing is not held through the step (it lists every customer instead).
        listing, unchanged = fresh(listing), None
        try:
            return await poll_enrichment(
                self._poll(), now=self.salesforce_now(), listing=listing, relist=relist,
                backfill_days=self.settings.enrichment.backfill_days,
                invoices=self._listed_invoices, invoices_after=self.invoices_after,
            )  # fmt: skip
        finally:
            if listing is not None:  # taken once: its emails' file is removed
                listing.drop_emails()

    async def reconcile(self) -> ReconcileStats:
        return await reconciliation.reconcile(self._poll(), now=self.clock())

    async def reports(self) -> ReportStats:
        return await write_reports(self._poll(), now=self.clock())

    async def preview(self) -> Preview:
        """The dry run's dispatch: what would be written, read against Salesforce."""
        return await build_preview(
            self.store, self.gateway, self.dispatcher.limits,
            currency=self.settings.closed_won.currency,
        )  # fmt: skip

    async def dispatch(self) -> Any:
        if self.dry_run:
            raise RuntimeError("a dry run never dispatches")
        report = await self.dispatcher.drain(progress=_METER.get(NO_METER))
        gate = self.gateway.auth_gate
        if report.auth_failure is not None and gate.failing:
            # Held back by the credential gate, which has said why once: like any step's.
            raise AuthFailingError(report.auth_failure, retry_in=gate.state.wait() or 0.0)
        if report.stopped or report.dead:
            raise DispatchIncompleteError(report)
        return report

    async def run(self, on_step: Callable[[StepResult], None] | None = None) -> PassReport:
        """Every step once, in dependency order (``STEPS``); no context, only the dispatch.

        ``on_step`` is told of each step as it ends (``cmsync once`` prints its line then, so
        a long first pass shows where it is)."""
        report, tell = PassReport(), on_step or _ignore
        try:
            first = await self.run_step(Step.LOAD_CONTEXT)
            report.steps.append(first)
            tell(first)
            steps: tuple[Step, ...] = STEPS[1:] if first.ok else (Step.DISPATCH,)
            if self.dry_run:  # a dry run sends nothing; the preview at the end shows it all
                steps = (*(step for step in steps if step is not Step.DISPATCH), Step.PREVIEW)
            async for result in self.run_steps(steps):
                report.steps.append(result)
                tell(result)
        finally:
            await self.close()  # the org's snapshot and its scratch file too
        return report
