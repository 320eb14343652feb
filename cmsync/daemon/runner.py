"""``cmsync run``: the sync steps on an APScheduler 3.x schedule, in one asyncio process.

Theory of operation.

- Start: take the store's single-process lock (a second daemon refuses to start), requeue
  the outbox rows a killed process left in flight, then a first refresh that fails loudly:
  Salesforce limits and the sync context (both logins, the Accounts index, the plans). A
  transient failure there (a retriable error the clients' own retries did not outlast, or a
  session that expired again right after its renewal) is tried again twice, a few seconds
  apart, as Home Assistant retries a first refresh; anything else, or a third failure, and
  the daemon exits with the reason instead of limping along.
- Jobs (``JOBS``): each runs some sync steps, named by ``Step`` (a job naming an unknown step
  fails at import, not by leaving the step out), through ``SyncPass.run_steps``, which
  records each run in the store, inside a timeout so a hung call cannot block its job
  forever (the step it cuts short ends its run as failed, "timed out after Ns").
  APScheduler's defaults are wrong for this: one second of misfire grace silently skips runs
  after any stall, so each job gets a grace near its interval; coalescing and one instance per
  job keep a slow job from piling up; jitter spreads the calls. Pollers run at
  once on start, and the report job too when a fire time of its cron passed since its last
  run. Every job's next run is logged at start, and a job the scheduler would hold paused
  stops the start (``timing``).
- Time: the heartbeat runs from a loop on the monotonic clock, outside the scheduler, and
  looks for wall-clock steps at each beat; a step is logged once with its size and every job
  is re-armed from the new "now" (``timing``), so a clock stepped back does not stall the jobs
  until the old time comes back.
- Health: per job, one log line when it starts failing, one when it runs clean again; a
  record refused or quarantined is that record's problem (``cmsync problems list``), never a
  failed job (see ``health``). Each job's record (consecutive failures, last success, last
  error) is stored when a run ends and with every beat, for ``status`` and the dashboard.
  A heartbeat row every few seconds, with the monotonic clock and the boot id, lets
  ``status`` and the dashboard tell running from stale by the beat's true age
  (``state.liveness``).
- systemd (``sdnotify``): ``READY=1`` once the first refresh succeeded and the jobs are
  armed, ``WATCHDOG=1`` with each heartbeat the store took (or refused for want of room: the
  loop is alive and says why, and a restart would not make room), so a hung loop stops
  pinging and ``WatchdogSec`` restarts it; ``STOPPING=1`` when the stop begins; a short
  ``STATUS=`` line with each. Nothing at all outside systemd.
- Monitoring (``cmsync.monitoring``): the metrics listener starts with the daemon and the
  textfile is rewritten on its own period, both reading the store at each collection; the
  alerts are checked on theirs. Each runs beside the jobs and its failures are logged, never
  fatal: a monitoring system that cannot be reached must not stop the sync. A beat found in
  the store in place of this daemon's own (another cmsync on the same store, where the lock
  does not hold: another host on a shared disk) is remembered for the alerts.
- Stop (SIGTERM/SIGINT): pause the scheduler (no new runs), ask the dispatcher to finish the
  batch in flight and hand the rest back, wait for running jobs up to ``grace`` seconds, then
  cancel what is left (the outbox rows it held go back on the next start), record a clean stop
  and exit 0. APScheduler's own shutdown cancels jobs without waiting, so it comes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from cmsync.admin.org_gate import mapping_refusal
from cmsync.chartmogul import connect
from cmsync.config import Settings
from cmsync.daemon.commands import run_new_commands
from cmsync.daemon.health import JobHealth, record_level
from cmsync.daemon.sdnotify import Notifier
from cmsync.daemon.store_health import StoreHealth
from cmsync.daemon.timing import StepWatch, check_armed, rearm, report_missed
from cmsync.errors import FatalError, RetriableError, SyncError
from cmsync.lock import exclusive
from cmsync.machineclock import machine_clock
from cmsync.monitoring import AlertSender, MetricsExposure, StoreCollector, metrics_registry
from cmsync.pipeline.apply import apply_signals, signal_from_payload
from cmsync.pipeline.sync_pass import Step, SyncPass
from cmsync.progress import LogLines
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.errors import SessionExpiredError
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.storeio import in_store
from state import Store, StoreUnwritableError, Transaction
from state.authgate import AuthBackoff
from state.records import Heartbeat
from state.serverclock import ServerClock
from state.storehealth import clear_note

__all__ = ["JOBS", "Daemon", "JobSpec"]

log = logging.getLogger("cmsync.daemon")

HEARTBEAT_SECONDS = 5.0
# Beats a foreign beat keeps "another cmsync on this store" raised: two daemons beating on one
# store each find the other's row at nearly every beat, so it clears within 30 s of the last.
OTHER_BEAT_SEEN = 6
FIRST_REFRESH_DELAYS = (2.0, 5.0)  # seconds before the second and the third attempt


@dataclass(frozen=True)
class JobSpec:
    """A scheduled job: the steps it runs, in order, and which source they mostly read.

    ``source`` is for the reader; health is kept per job (``health``), never per source.
    A step that is not a ``Step`` (a name with a typo, say) is refused here, at import.
    """

    name: str
    steps: tuple[Step, ...]
    source: str  # "ChartMogul" or "Salesforce"
    every: Callable[[Settings], float] | None = None  # seconds; None: cron
    cron: Callable[[Settings], str] | None = None

    def __post_init__(self) -> None:
        odd = [step for step in self.steps if not isinstance(step, Step)]
        if odd or not self.steps:
            raise TypeError(f"job {self.name}: its steps must be Steps, not {odd or 'none'}")
        if (self.every is None) == (self.cron is None):
            raise TypeError(f"job {self.name}: give it an interval or a cron, one of them")


JOBS: tuple[JobSpec, ...] = (
    JobSpec("customers", (Step.LOAD_CONTEXT, Step.CUSTOMERS), "ChartMogul",
            every=lambda s: s.schedule.customers),
    JobSpec("chartmogul", (Step.ACTIVITIES, Step.PAYMENTS, Step.FIRST_CYCLES), "ChartMogul",
            every=lambda s: s.schedule.chartmogul_poll),
    JobSpec("late_activities", (Step.LATE_ACTIVITIES,), "ChartMogul",
            every=lambda s: s.schedule.late_activities),
    JobSpec("salesforce", (Step.CLOSED_WON, Step.ENRICHMENT), "Salesforce",
            every=lambda s: s.schedule.salesforce_poll),
    JobSpec("dispatch", (Step.DISPATCH,), "Salesforce", every=lambda s: s.schedule.dispatch),
    JobSpec("reconcile", (Step.RECONCILE,), "ChartMogul", every=lambda s: s.schedule.reconcile),
    JobSpec("reports", (Step.REPORTS,), "ChartMogul", cron=lambda s: s.schedule.report_cron),
)  # fmt: skip
if len({spec.name for spec in JOBS}) != len(JOBS):  # a job id the scheduler would refuse
    raise TypeError("two jobs share a name")


def _transient(error: Exception) -> bool:
    """Worth another first refresh: a retriable failure, or a session that expired again
    straight after its renewal (the gateway renews once per call, by design)."""
    return isinstance(error, RetriableError | SessionExpiredError)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Daemon:
    """One daemon process over one store; ``run(stop)`` returns when ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        *,
        target_label: str,
        clock: Callable[[], datetime] = _utc_now,
        grace: float = 20.0,
        first_refresh_delays: tuple[float, ...] = FIRST_REFRESH_DELAYS,
        auth_backoff: AuthBackoff | None = None,
        beat_every: float = HEARTBEAT_SECONDS,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.target = target_label
        self.clock = clock
        self.grace = grace
        self.first_refresh_delays = first_refresh_delays
        self.auth_backoff = auth_backoff  # how refused credentials are tried again
        self.beat_every = beat_every
        self.notifier = notifier or Notifier()  # systemd's notify socket, when it gave one
        self.health = {spec.name: JobHealth(spec.name, clock) for spec in JOBS}
        self.store_health = StoreHealth(settings.store.path, clock=clock)
        self._running: set[asyncio.Task[object]] = set()
        self._sync: SyncPass | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._reports_due = True  # a report fire time passed since the last report run
        self.started_at = clock()
        self.collector = StoreCollector(settings.store.path, clock)
        self.registry, self._durations = metrics_registry(self.collector)
        self.metrics = MetricsExposure(settings.metrics, self.registry)
        self.alerts: AlertSender | None = None
        if settings.alerts.webhook_url is not None:
            self.alerts = AlertSender(settings.alerts, target=target_label, other=self._other)
        self._beats = 0  # beats this process stored
        self._foreign: tuple[Heartbeat, float] | None = None  # another's beat, when (monotonic)

    # --- jobs ---------------------------------------------------------------------------

    async def _job(self, spec: JobSpec) -> None:
        task = asyncio.current_task()
        assert task is not None and self._sync is not None
        self._running.add(task)
        health = self.health[spec.name]
        limit = self.settings.schedule.job_timeout
        began = time.monotonic()
        try:
            try:
                async with asyncio.timeout(limit) as deadline:

                    def why_cancelled() -> str:  # the step's run says it, not only the log
                        return f"timed out after {limit:g}s" if deadline.expired() else "cancelled"

                    steps = self._sync.run_steps(spec.steps, why_cancelled=why_cancelled)
                    results = [result async for result in steps]
                self.store_health.wrote()
                failed = [r for r in results if not r.ok and not record_level(r.error)]
                if spec.name != "dispatch" and self._scheduler is not None:
                    # What this job queued goes out now, not at the dispatcher's next tick.
                    self._scheduler.modify_job("dispatch", next_run_time=datetime.now(UTC))
                if failed:
                    health.failed(f"{failed[0].name}: {failed[0].detail}")
                else:
                    health.succeeded()
            except TimeoutError:
                health.failed(f"job {spec.name} ran past {limit:.0f}s")
            self._durations.labels(job=spec.name).set(time.monotonic() - began)
            if spec.cron is not None and not health.up and self._scheduler is not None:
                # A cron job's next fire may be a day away: a report lost to an outage or to
                # refused credentials is tried again soon, until one run succeeds.
                retry = timedelta(seconds=self.settings.schedule.report_retry)
                self._scheduler.modify_job(spec.name, next_run_time=datetime.now(UTC) + retry)
            # Stored as the run ends: a status read between two beats sees this run's outcome.
            record = health.record
            await in_store(self._store, lambda tx: tx.daemon.put_health([record]))
        except StoreUnwritableError as exc:  # the daemon's state, not this job's failure
            self.store_health.failed(exc)
        finally:
            self._running.discard(task)

    async def _heartbeat(self) -> bool:
        """Store a beat and every job's health; False if the store refused it."""
        pid, started, target, here = os.getpid(), self.started_at, self.target, machine_clock()

        def beat(tx: Transaction) -> None:
            before = tx.daemon.heartbeat()
            # After this daemon's first beat the row is its own, unless another beat here.
            foreign = before is not None and (before.pid, before.started_at) != (pid, started)
            if self._beats and foreign and before is not None and before.stopped_at is None:
                self._foreign = (before, time.monotonic())
            tx.daemon.beat(pid, started, target, monotonic=here.monotonic, boot_id=here.boot_id)
            # Read inside the transaction (the store's write lock): a run that ended while this
            # beat waited for it is not overwritten by its record from before the run.
            records = [h.record for h in self.health.values()]
            tx.daemon.put_health(records, complete=True)  # the table holds exactly JOBS

        with self.store_health.watch():  # a store refusing writes is said once a minute
            await in_store(self._store, beat)
            self._beats += 1
            return True
        return False

    def _other(self) -> Heartbeat | None:
        """Another cmsync's beat met in this store lately, for the alerts."""
        if self._foreign is None:
            return None
        beat, seen = self._foreign
        return beat if time.monotonic() - seen < OTHER_BEAT_SEEN * self.beat_every else None

    async def _alerts_forever(self, sender: AlertSender) -> None:
        """Check the alert conditions every ``alerts.check_every`` seconds until cancelled."""
        while True:
            try:
                await sender.check(self._store)
            except Exception as exc:  # a check that failed is tried again at the next one
                log.warning("alerts: the check failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.settings.alerts.check_every)

    def _status_line(self) -> str:
        """One short line for ``systemctl status``: the target and the jobs that are up."""
        up = sum(1 for h in self.health.values() if h.up)
        line = f"running against {self.target}; jobs {up}/{len(self.health)} up"
        if not self.store_health.up:
            line += f"; store unwritable: {self.store_health.reason}"
        return line

    async def _beat_and_watch(self) -> None:
        """Beat every few seconds by the monotonic clock; re-arm the jobs on a clock step."""
        watch = StepWatch(self.clock)
        while True:
            await asyncio.sleep(self.beat_every)
            step = watch.look()
            if step is not None and self._scheduler is not None:
                moved = rearm(self._scheduler, datetime.now(UTC))
                log.warning(
                    "the wall clock stepped %s by %.0f s; re-armed %d jobs from the new time",
                    "forward" if step > timedelta() else "back", abs(step.total_seconds()),
                    len(moved),
                )  # fmt: skip
            try:
                stored = await self._heartbeat()
            except Exception as exc:  # a beat that failed is tried again at the next one
                log.warning("the heartbeat failed: %s: %s", type(exc).__name__, exc)
                continue
            # A store refusing writes for want of room is a state the daemon lives through
            # and reports; restarting it would not make room, so the loop still pings.
            if stored or not self.store_health.up:
                self.notifier.watchdog(self._status_line())
        pid, started, target = os.getpid(), self.started_at, self.target
        with self.store_health.watch():
            await in_store(self._store, lambda tx: tx.daemon.beat(pid, started, target))

    def _reapply(self, tx: Transaction, payload: dict[str, object]) -> str:
        sync = self._sync
        assert sync is not None and sync.context is not None
        stats = apply_signals(
            tx, [signal_from_payload(payload)], context=sync.context,
            translator=sync.translator, policy=sync.policy, now=self.clock(),
        )  # fmt: skip
        # Entries quarantined as illegal transitions by earlier versions: the lifecycle now
        # converges on what ChartMogul reported, so a retry always applies.
        return f"applied; {stats.enqueued} writes queued"

    async def _commands(self) -> None:
        assert self._sync is not None
        relinked, queued = False, False
        # Most runs find no command (a read); a retry re-applies with the org's snapshot,
        # held as a step holds it (``holding``).
        with self.store_health.watch(writes=False), self._sync.holding():
            relinked, queued = await run_new_commands(
                self._store, self._reapply, self._sync.translator,
                chartmogul=self._sync.dispatcher.chartmogul,
            )  # fmt: skip
        if self._scheduler is not None:
            now = datetime.now(UTC)
            if queued:  # an unlink, relink or void queued a write: send it now
                self._scheduler.modify_job("dispatch", next_run_time=now)
            if relinked:  # a match resolved or an invoice voided: write the figures soon
                self._scheduler.modify_job("customers", next_run_time=now)

    # --- schedule -----------------------------------------------------------------------

    def _schedule(self) -> AsyncIOScheduler:
        settings = self.settings.schedule
        scheduler = AsyncIOScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1}
        )
        now = datetime.now(UTC)
        for spec in JOBS:
            if spec.every is not None:
                seconds = spec.every(self.settings)
                trigger: IntervalTrigger | CronTrigger = IntervalTrigger(
                    seconds=seconds, jitter=settings.jitter, timezone=UTC
                )
                grace = max(1, int(seconds))
                first = now if spec.name != "reconcile" else now + timedelta(seconds=seconds)
            else:
                assert spec.cron is not None
                trigger = CronTrigger.from_crontab(spec.cron(self.settings), timezone=UTC)
                # Never ``next_run_time=None``: APScheduler 3 adds such a job paused.
                grace = 3600
                first = now if self._reports_due else trigger.get_next_fire_time(None, now)
            scheduler.add_job(
                self._job, trigger, args=[spec], id=spec.name, name=spec.name,
                misfire_grace_time=grace, next_run_time=first,
            )  # fmt: skip
        scheduler.add_job(
            self._commands, IntervalTrigger(seconds=settings.commands, timezone=UTC),
            id="commands", misfire_grace_time=max(1, int(settings.commands) * 5),
        )  # fmt: skip
        return scheduler

    # --- life cycle ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; raises FatalError when the first refresh fails."""
        try:
            with exclusive(self.settings.store.path):
                self._store = Store.open(self.settings.store.path)
                try:
                    # Writes counted from here on: this process's, as a Prometheus counter.
                    newest = await in_store(self._store, lambda tx: tx.queries.newest_id("audit"))
                    self.collector.start_writes_after(newest)
                    self.metrics.start()
                    try:
                        await self._run(stop)
                    finally:
                        self.metrics.stop()
                        if self.alerts is not None:
                            await self.alerts.close()
                finally:
                    self._store.close()
        except StoreUnwritableError as exc:
            # At start (a read-only file, a full disk), or in the first refresh: one line
            # naming the file and the reason, exit 2, no traceback.
            raise FatalError(f"{exc}: make room or make it writable, then start again") from None

    async def _run(self, stop: asyncio.Event) -> None:
        requeued = await in_store(self._store, lambda tx: tx.outbox.requeue_in_flight())
        # A job's last success and failures outlive a restart (an upgrade, a reboot).
        for record in await in_store(self._store, lambda tx: tx.daemon.health()):
            if record.job in self.health:
                self.health[record.job] = JobHealth(record.job, self.clock, record)
        clear_note(self.settings.store.path)  # a note a killed daemon left is history now
        if requeued:
            log.warning("requeued %d outbox rows a stopped process left in flight", requeued)
        # Each service's clock, measured from its answers against the daemon's local clock.
        cm_clock = ServerClock(self.clock)
        async with connect(
            self.settings.chartmogul, server_clock=cm_clock, auth_backoff=self.auth_backoff
        ) as chartmogul:
            gateway = SalesforceGateway(
                self.settings.salesforce,
                budget=ApiBudget(self.settings.sync.api_budget_share),
                server_clock=ServerClock(self.clock),
                auth_backoff=self.auth_backoff,
            )
            try:
                # Each step's first run (the first pass) and any long run in the log, with a
                # line a minute while it runs: a first pass over a large org takes minutes.
                progress = LogLines(log.info, first_only=True)
                self._sync = SyncPass(
                    self.settings, self._store, chartmogul, gateway, self.clock, progress=progress
                )
                if not await self._first_refresh(gateway, stop):
                    log.info("stopped before the first refresh succeeded")
                    return
                self._reports_due = await in_store(self._store, self._report_missed)
                self._scheduler = self._schedule()
                self._scheduler.start()
                check_armed(self._scheduler)
                beating = asyncio.create_task(self._beat_and_watch())
                watching = [asyncio.create_task(self.metrics.textfile_forever())]
                if self.alerts is not None:
                    watching.append(asyncio.create_task(self._alerts_forever(self.alerts)))
                try:
                    log.info("cmsync daemon running against %s (pid %d)", self.target, os.getpid())
                    self.notifier.ready(self._status_line())
                    await stop.wait()
                    self.notifier.stopping("stopping: finishing the work in flight")
                finally:
                    for task in (beating, *watching):
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                await self._shutdown()
            finally:
                if self._sync is not None:
                    await self._sync.close()
                await gateway.close()

    def _report_missed(self, tx: Transaction) -> bool:
        cron = CronTrigger.from_crontab(self.settings.schedule.report_cron, timezone=UTC)
        last = tx.jobs.last_ok("reports")
        return report_missed(cron, last, datetime.now(UTC))

    async def _first_refresh(self, gateway: SalesforceGateway, stop: asyncio.Event) -> bool:
        """Salesforce limits and the context; False if ``stop`` came while waiting to retry."""
        delays = iter(self.first_refresh_delays)
        while (error := await self._try_first_refresh(gateway)) is not None:
            delay = next(delays, None)
            reason = f"{type(error).__name__}: {error}"
            if delay is None or not _transient(error):
                raise FatalError(f"the first refresh failed: {reason}") from error
            log.warning("the first refresh failed (%s); trying again in %.0fs", reason, delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                continue
            return False
        await self._heartbeat()
        return True

    async def _try_first_refresh(self, gateway: SalesforceGateway) -> Exception | None:
        assert self._sync is not None
        try:
            await gateway.refresh_limits()
            # A mapping the org cannot take stops here, not as a dead letter per update.
            refused = await mapping_refusal(self.settings, gateway)
        except SyncError as exc:
            return exc
        if refused is not None:
            return refused
        first = await self._sync.run_step(Step.LOAD_CONTEXT)
        return None if first.ok else first.error or RuntimeError(first.detail)

    async def _shutdown(self) -> None:
        log.info("stopping: finishing the work in flight (at most %.0fs)", self.grace)
        assert self._scheduler is not None and self._sync is not None
        self._scheduler.pause()
        self._sync.dispatcher.request_stop()
        running = list(self._running)
        if running:
            _, pending = await asyncio.wait(running, timeout=self.grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
                log.warning("cancelled %d jobs that outlived the grace period", len(pending))
        self._scheduler.shutdown(wait=False)
        with self.store_health.watch():  # refused: the stop goes unrecorded, said in the log
            await in_store(self._store, lambda tx: tx.daemon.stopped())
        log.info("cmsync daemon stopped")
