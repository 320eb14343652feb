"""One sync pass: every step once, in dependency order, each recorded as a job run.

The steps are the daemon's jobs: ``context`` (what both systems look like), ``customers``
(match, figures), ``activities``, ``payments``, ``first_cycles`` (the lifecycle's inputs) and
``dispatch`` (the outbox to Salesforce). Without a context nothing else can run; any other
step may fail and the rest still run (the outbox is drained whatever happened before it).
A step fails by raising; the failure is recorded with its reason, not re-raised, so the pass
always ends with a complete report.

Each source's reads end at that source's "now": local time plus the offset its ``Date``
headers show (``state.serverclock``, measured by each client's funnel). The stamps a window is
compared with are the server's, so a VM clock behind Salesforce would otherwise leave the
newest records out until it caught up. A Task's due date counts from Salesforce's date, for
the same reason. What is not a read window (retry times, run ids, report dates) keeps the
local clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.config import Settings
from cmsync.errors import AuthFailingError, SyncError
from cmsync.pipeline import reconcile as reconciliation
from cmsync.pipeline.accounts import policy_from
from cmsync.pipeline.activities import poll_activities, reread_activities
from cmsync.pipeline.closed_won import poll_closed_won
from cmsync.pipeline.closed_won_send import ChartMogulExecutor, ChartMogulReport
from cmsync.pipeline.closed_won_steps import ClosedWonStats
from cmsync.pipeline.context import SyncContext, load_context, load_plans
from cmsync.pipeline.customers import Listing, sweep_customers
from cmsync.pipeline.cycles import sweep_first_cycles
from cmsync.pipeline.departed import follow_departed
from cmsync.pipeline.dispatcher import Dispatcher, DispatchReport
from cmsync.pipeline.enrichment import EnrichmentStats, poll_enrichment
from cmsync.pipeline.owners import resolve_fallback_owner
from cmsync.pipeline.payments import InvoicesAhead, poll_payments, read_head
from cmsync.pipeline.preview import Preview, build_preview
from cmsync.pipeline.reconcile import ReconcileStats
from cmsync.pipeline.reports import ReportStats, write_reports
from cmsync.pipeline.translate import Translator
from cmsync.pipeline.vanished import VanishedAccounts
from cmsync.salesforce.collections import CollectionsWriter
from cmsync.salesforce.field_limits import read_limits
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.storeio import in_store
from state import JobResult, Store, StoreUnwritableError
from state.serverclock import NOTABLE_SKEW, ServerClock

__all__ = ["STEPS", "DispatchIncompleteError", "PassReport", "StepResult", "SyncPass"]

log = logging.getLogger("cmsync.pass")


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    seconds: float
    detail: str
    outcome: Any = None
    error: Exception | None = None  # what a failed step raised, for callers that classify it


@dataclass
class PassReport:
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    def step(self, name: str) -> StepResult | None:
        return next((s for s in self.steps if s.name == name), None)

    def summary(self) -> str:
        lines = []
        for step in self.steps:
            mark = "ok  " if step.ok else "FAIL"
            lines.append(f"{mark} {step.name:<13} {step.seconds:7.2f}s  {step.detail}")
        return "\n".join(lines)


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


# Dependency order: what each step reads, an earlier one wrote or loaded. Reconciliation
# compares with what Salesforce holds, so it comes after a dispatch, and a last dispatch
# sends what it and the reports queued.
STEPS = (
    "load_context",
    "customers",
    "closed_won",
    "enrichment",
    "activities",
    "late_activities",
    "payments",
    "first_cycles",
    "dispatch",
    "reconcile",
    "reports",
    "dispatch",
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
    ) -> None:
        self.dry_run = dry_run
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
        self._invoices: InvoicesAhead | None = None  # read during activities, for payments

    async def run_steps(self, names: Sequence[str]) -> AsyncIterator[StepResult]:
        """Run steps in order, yielding each one's result as it ends (see ``run_step``).

        Knowing what comes next, the activities step followed by the payments step reads the
        invoice listing for it meanwhile (``InvoicesAhead``).
        """
        for index, name in enumerate(names):
            yield await self.run_step(name, then=names[index + 1 :])

    async def run_step(self, name: str, *, then: Sequence[str] = ()) -> StepResult:
        """Run one step by name, recorded as a job run; never raises for a failed step.

        ``then``: the steps the caller runs next (``run_steps`` passes them).
        """
        work: Callable[[], Awaitable[Any]] = getattr(self, name)
        run_id = await in_store(self.store, lambda tx: tx.jobs.start(name))
        started = time.perf_counter()
        try:
            if name == "activities" and "payments" in then:
                await self._read_invoices_ahead()
            outcome = await work()
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

    async def customers(self) -> Any:
        async with self._sweeping:
            return await self._sweep()

    async def _sweep(self) -> Any:
        listing = Listing()
        stats = await sweep_customers(
            self.chartmogul, self.store, self._context(), self.translator, now=self.clock(),
            listing=listing,
        )  # fmt: skip
        # Listed in full: linked customers it did not show were merged or deleted.
        departed = await follow_departed(
            self.chartmogul, self.store, self._context(), self.translator,
            seen=listing.seen, carriers=listing.carriers,
        )  # fmt: skip
        stats.gone, stats.followed, stats.dropped = (
            departed.gone, departed.followed, departed.dropped
        )  # fmt: skip
        self.swept = True
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
        return await poll_activities(
            self.chartmogul, self.store, self._context(), self.translator, self.policy,
            lookback=lookback, now=self.chartmogul_now(),
        )  # fmt: skip

    async def late_activities(self) -> Any:
        """Movements that showed up behind the activities poller (see ``reread_activities``)."""
        await self._linked_first()
        return await reread_activities(
            self.chartmogul, self.store, self._context(), self.translator, self.policy,
            lookback=timedelta(seconds=self.settings.sync.lookback_seconds),
            every=timedelta(seconds=self.settings.schedule.late_activities),
            now=self.chartmogul_now(),
        )  # fmt: skip

    async def payments(self) -> Any:
        await self._linked_first()
        ahead, self._invoices = self._invoices, None
        return await poll_payments(
            self.chartmogul, self.store, self._context(), self.translator, self.policy,
            now=self.chartmogul_now(),
            failure_expiry=timedelta(days=self.settings.sync.failure_expiry_days),
            ahead=ahead,
        )  # fmt: skip

    async def _read_invoices_ahead(self) -> None:
        await self.close()  # a listing a step before left unused (say, a job that timed out)
        self._invoices = InvoicesAhead(self.chartmogul, await read_head(self.store))

    async def close(self) -> None:
        """Stop background reading (an invoice listing no payments step took); idempotent."""
        ahead, self._invoices = self._invoices, None
        if ahead is not None:
            await ahead.cancel()

    async def first_cycles(self) -> Any:
        await self._linked_first()
        return await sweep_first_cycles(
            self.store, self._context(), self.translator, self.policy, now=self.clock()
        )

    async def closed_won(self) -> ClosedWonStats | None:
        if not self.settings.closed_won.enabled:
            return None
        stats = await poll_closed_won(
            self.chartmogul, self.gateway, self.store, self._context(), self.translator,
            self.settings, now=self.salesforce_now(), dry_run=self.dry_run,
            backfill_days=self.settings.closed_won.backfill_days,
        )  # fmt: skip
        if not self.dry_run:  # the deals' effects go out now, not at the next dispatch
            sent = await self.dispatcher.send_chartmogul()
            if sent is not None:
                _fold(stats, sent)
        if stats.plans_created:  # later steps must write the new plan's name, not its id
            self._set_context(replace(self._context(), plans=await load_plans(self.chartmogul)))
        return stats

    async def enrichment(self) -> EnrichmentStats | None:
        if not self.settings.enrichment.enabled:
            return None
        return await poll_enrichment(
            self.chartmogul, self.gateway, self.store, self.settings, now=self.salesforce_now(),
            dry_run=self.dry_run, backfill_days=self.settings.enrichment.backfill_days,
        )  # fmt: skip

    async def reconcile(self) -> ReconcileStats:
        return await reconciliation.reconcile(
            self.chartmogul, self.gateway, self.store, self._context(), self.translator,
            self.settings, now=self.clock(), dry_run=self.dry_run,
        )  # fmt: skip

    async def reports(self) -> ReportStats:
        return await write_reports(
            self.chartmogul, self.store, self.settings.reports, now=self.clock(),
            dry_run=self.dry_run,
        )  # fmt: skip

    async def preview(self) -> Preview:
        """The dry run's dispatch: what would be written, read against Salesforce."""
        return await build_preview(self.store, self.gateway, self.dispatcher.limits)

    async def dispatch(self) -> Any:
        if self.dry_run:
            raise RuntimeError("a dry run never dispatches")
        report = await self.dispatcher.drain()
        gate = self.gateway.auth_gate
        if report.auth_failure is not None and gate.failing:
            # Held back by the credential gate, which has said why once: like any step's.
            raise AuthFailingError(report.auth_failure, retry_in=gate.state.wait() or 0.0)
        if report.stopped or report.dead:
            raise DispatchIncompleteError(report)
        return report

    async def run(self) -> PassReport:
        """Every step once, in dependency order (``STEPS``); no context, only the dispatch."""
        report = PassReport()
        first = await self.run_step("load_context")
        report.steps.append(first)
        steps: tuple[str, ...] = STEPS[1:] if first.ok else ("dispatch",)
        if self.dry_run:  # a dry run sends nothing; the preview at the end shows it all
            steps = (*(name for name in steps if name != "dispatch"), "preview")
        try:
            report.steps.extend([result async for result in self.run_steps(steps)])
        finally:
            await self.close()
        return report
