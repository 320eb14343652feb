"""The outbox dispatcher: pending writes out in few calls, each row settled.

Every write is an outbox row with its target system, and one dispatcher sends them through an
executor per system: the Salesforce rows as below, the ChartMogul rows (a Closed-Won deal's
customer, plan and invoice) through ``closed_won_send.ChartMogulExecutor``, first in each
drain, so the Account updates their imports enqueue go out in the same drain. Both share the
outbox's idempotency keys, backoff (``DispatchPolicy``), dead letters and audit trail.

Theory of operation. ``drain`` works in windows. Each window claims the due Salesforce rows
in one transaction and plans them there (``plan``: merge per record, drop what was
last written, rows needing no call done at once); then it sends the batches one collections
call each (at most 200 records), and settles each batch's rows, audit entries and
last-written values in one transaction (``settle``). Windows repeat until no row is
due, ``max_rows`` were taken, or something says stop:

- the API budget: before each call ``fits(1)``; if not, the drain pauses. Near the share
  (``Pace.SLOW``) it waits ``policy.slow_delay`` between calls. Salesforce refusing a call
  for the spent allocation (``BudgetExhaustedError``) pauses it too;
- an auth failure (login refused, a session that would not renew): the drain stops and the
  report says why; the caller marks Salesforce down;
- a whole call still failing after the gateway's own retries (5xx, timeouts): that batch's
  rows are retried later with backoff and the drain stops rather than going on. The gateway
  has just spent its retries on the same endpoint, so the next batch would most likely fail
  the same way, each costing more calls from the daily budget; the report says why.

A value the field it is written to cannot hold never costs the record its write: planning
fits each record to ``limits`` (the org's describe, read at the pass's first refresh; the
catalogue's before), cutting text too long for its field (the audit says so) and leaving out
a number out of range or a value a restricted picklist lacks, reported as one problem per
object, field and cause (``field_problems``).

A record refused because an Account it names was merged or deleted (``ENTITY_IS_DELETED``)
is followed rather than killed when the dispatcher has ``vanished``: Salesforce is asked what
became of the Account, and the rows are re-pointed at the winner (pending and due at once, so
the next window of the same drain sends them) or dropped with an audit line.

A Task or Case refused for an inactive owner (``INACTIVE_OWNER_OR_USER``) is re-planned for
``fallback_owner`` (or without an owner) and sent again in the same drain (``state.owners``).

A whole call refused as wrong (``PermanentError``) only kills its own batch: the next one may
be fine. On every stop the rows not sent go back to pending unchanged (``release``: no
attempt counted, since they were never tried), so nothing is left in flight when ``drain``
returns; the same happens on an unexpected error before it propagates. When the store itself
refuses that hand-back (a full disk, a read-only file: ``StoreUnwritableError``, usually the
very error that stopped the settlement), the dispatcher keeps the ids of the rows it held and
hands them back at the start of the next drain whose store write succeeds, so they are sent
again without a restart; it hands back only its own rows, never another drain's. Only a
killed process leaves rows in flight for good, and the daemon requeues those at start (safe:
every write is an update or an upsert on an External ID, so a repeat cannot duplicate
anything, a row sent but not settled included).

One drain runs at a time per dispatcher. Retry times are taken from the injected clock, but
never earlier than the store's own time, so a retried row cannot be claimed again at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from functools import partial

from cmsync.errors import AuthError, AuthFailingError, PermanentError, RetriableError
from cmsync.pipeline.dispatch.closed_won_send import ChartMogulExecutor, ChartMogulReport
from cmsync.pipeline.dispatch.plan import (
    CATALOGUE_LIMITS,
    KINDS,
    Window,
    claim_window,
    outbox_ids,
    plan_pending,
    preview,
)
from cmsync.pipeline.dispatch.settle import (
    DispatchPolicy,
    Settlement,
    gone_targets,
    owner_refused,
    settle_failure,
    settle_results,
    settle_retry,
)
from cmsync.pipeline.dispatch.vanished import FollowReport, VanishedAccounts
from cmsync.progress import NO_METER, Meter
from cmsync.salesforce.budget import ApiBudget, Pace
from cmsync.salesforce.collections import CollectionsWriter, RecordResult
from cmsync.salesforce.errors import BudgetExhaustedError, SalesforceError
from cmsync.storeio import in_store
from state import (
    AuditItem,
    BudgetSnapshot,
    OutboxDead,
    OutboxEntry,
    Store,
    StoreUnwritableError,
    System,
    Transaction,
)
from state.fieldfit import LimitsBook
from state.owners import INACTIVE_OWNER, OWNER_FIELD, reassign
from state.vanished import Repoint
from state.writeplan import Batch, Operation

__all__ = [
    "DispatchPolicy",
    "DispatchReport",
    "Dispatcher",
    "plan_pending",
    "preview",
]

log = logging.getLogger("cmsync.dispatch")


@dataclass(frozen=True)
class DispatchReport:
    """What one drain did. At most one of ``paused``, ``auth_failure``, ``outage`` is set."""

    calls: int = 0  # collections calls made (each perhaps retried inside the gateway)
    sent: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (object, op) -> answered
    done: int = 0  # rows written
    unchanged: int = 0  # rows done without a call: their values were already written
    retried: int = 0  # rows failed transiently, pending again later
    dead: int = 0  # rows failed permanently (or gave up), with the reason on the row
    deferred: int = 0  # rows handed back unsent (a stop, or waiting behind an older row)
    paused: str | None = None  # the API budget stopped the drain: why
    auth_failure: str | None = None  # Salesforce refused our credentials: the message
    outage: str | None = None  # a call kept failing after retries: the error
    # When the earliest pending Salesforce row falls due (None: none). After a full drain this
    # is a future retry; after a stop it may be now (the rows handed back).
    next_due_at: datetime | None = None
    repointed: int = 0  # rows re-aimed at the Account theirs was merged into, sent again
    dropped: int = 0  # rows for an Account deleted in Salesforce, done with an audit line
    reassigned: int = 0  # Tasks and Cases re-planned past an inactive owner, sent again
    # The ChartMogul rows' drain (None: no executor); its rows are in the counts above too.
    chartmogul: ChartMogulReport | None = None

    @property
    def stopped(self) -> str | None:
        """Why the drain ended before the outbox did (None: it drained everything due)."""
        cm = self.chartmogul.stopped if self.chartmogul is not None else None
        return self.paused or self.auth_failure or self.outage or (cm and f"ChartMogul: {cm}")


@dataclass
class _Tally:
    calls: int = 0
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)
    done: int = 0
    unchanged: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    paused: str | None = None
    auth_failure: str | None = None
    outage: str | None = None
    repointed: int = 0
    dropped: int = 0
    reassigned: int = 0
    chartmogul: ChartMogulReport | None = None

    def report(self, next_due_at: datetime | None) -> DispatchReport:
        return DispatchReport(
            self.calls, dict(self.sent), self.done, self.unchanged, self.retried, self.dead,
            self.deferred, self.paused, self.auth_failure, self.outage, next_due_at,
            self.repointed, self.dropped, self.reassigned, self.chartmogul,
        )  # fmt: skip

    def add(self, sent: ChartMogulReport) -> None:
        self.chartmogul = sent
        self.done += sent.done
        self.retried += sent.retried
        self.dead += sent.dead
        self.deferred += sent.deferred


class _Sent(Enum):
    SETTLED = "settled"  # the batch's rows have their fates; go on
    SETTLED_STOP = "settled_stop"  # settled, but stop the drain
    UNSENT_STOP = "unsent_stop"  # not sent: hand the batch back and stop


class Dispatcher:
    """Drains the outbox: the Salesforce rows through one ``CollectionsWriter``, the
    ChartMogul rows through ``chartmogul`` (None: they wait)."""

    def __init__(
        self,
        store: Store,
        writer: CollectionsWriter,
        budget: ApiBudget,
        *,
        clock: Callable[[], datetime],
        policy: DispatchPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        vanished: VanishedAccounts | None = None,
        chartmogul: ChartMogulExecutor | None = None,
    ) -> None:
        self.store = store
        self.chartmogul = chartmogul
        self.writer = writer
        self.budget = budget
        self.policy = policy or DispatchPolicy()
        self._clock = clock
        self._sleep = sleep
        # Without it, a write refused ENTITY_IS_DELETED is dead like any refused write.
        self.vanished = vanished
        # The User Id that gets a Task or Case whose owner is inactive (``sync.fallback_owner``,
        # resolved by the pass at its first refresh); None: such records go without an owner.
        self.fallback_owner: str | None = None
        # What the org's fields hold: writes are fitted to it when planned (text cut, what a
        # field cannot hold left out). The catalogue's until the pass reads the org's describe.
        self.limits: LimitsBook = CATALOGUE_LIMITS
        self._lock = asyncio.Lock()
        self._stopping = False
        self._stranded: set[int] = set()  # rows held when the store refused their hand-back

    def request_stop(self) -> None:
        """Finish the batch in flight, hand the rest back, and send nothing more (shutdown)."""
        self._stopping = True
        if self.chartmogul is not None:
            self.chartmogul.request_stop()

    async def send_chartmogul(self) -> ChartMogulReport | None:
        """Only the due ChartMogul rows (the Closed-Won step's, at once); None: no executor.

        Not behind the Salesforce drain: the executor takes its own lock, so a long Salesforce
        drain does not hold the Closed-Won step up."""
        if self.chartmogul is None:
            return None
        return await self.chartmogul.drain()

    async def drain(
        self, *, max_rows: int | None = None, progress: Meter = NO_METER
    ) -> DispatchReport:
        """Send every due row (at most ``max_rows`` claimed); see the module doc. Each window
        sent is added to ``progress`` (its rows, as one page)."""
        if max_rows is not None and max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        async with self._lock:
            if self._stranded:
                await self._reclaim()
            tally = _Tally()
            if self.chartmogul is not None and not self._stopping:
                tally.add(await self.chartmogul.drain())
            taken = 0
            while (max_rows is None or taken < max_rows) and not self._stopping:
                if not self.budget.fits(1):  # claiming now would only hand the rows back
                    tally.paused = self._budget_reason()
                    log.warning("dispatch paused: %s", tally.paused)
                    break
                limit = self.policy.window
                if max_rows is not None:
                    limit = min(limit, max_rows - taken)
                claim = partial(
                    claim_window, limit=limit, chunk=self.policy.chunk, limits=self.limits
                )
                window = await in_store(self.store, claim)
                if not window.claimed:
                    break
                taken += window.claimed - window.carried  # carried rows come back next window
                tally.unchanged += window.unchanged
                tally.dead += window.malformed
                tally.deferred += window.held
                stopped = await self._send(window, tally)
                await self._save_budget()
                progress.advanced(window.claimed - window.carried, 1)
                if stopped:
                    break
            next_due = await in_store(
                self.store,
                lambda tx: tx.outbox.next_due_at(target_system=System.SALESFORCE, kinds=KINDS),
            )
            report = tally.report(next_due)
            if report.calls or report.stopped:
                log.info("dispatch: %s", report)
            return report

    async def _reclaim(self) -> None:
        """The rows a failed drain still holds in flight, pending again (see the module doc)."""
        ids = sorted(self._stranded)
        moved = await in_store(self.store, lambda tx: tx.outbox.release(ids))
        self._stranded.clear()
        log.warning(
            "handed back %d outbox rows held in flight since the store refused their "
            "settlement; they are sent again now",
            moved,
        )

    # --- one window ---------------------------------------------------------------------

    async def _send(self, window: Window, tally: _Tally) -> bool:
        """Send the window's batches in order; True if the drain must stop."""
        unsent = list(window.batches)
        try:
            while unsent:
                if self._stopping:
                    await self._hand_back(unsent, tally)
                    return True
                outcome = await self._send_one(unsent[0], window, tally)
                if outcome is not _Sent.UNSENT_STOP:
                    unsent.pop(0)
                if outcome is not _Sent.SETTLED:
                    await self._hand_back(unsent, tally)
                    return True
            return False
        except BaseException:
            # Unexpected (a bug, the store, a cancellation): nothing may stay in flight. If
            # even this fails, the rows are handed back by the next drain that can write.
            try:
                await self._hand_back(unsent, tally)
            except StoreUnwritableError:  # said once by the daemon's store health
                self._stranded.update(outbox_ids(unsent))
            except Exception:
                self._stranded.update(outbox_ids(unsent))
                log.exception("could not hand back %d unsent batches", len(unsent))
            raise

    async def _send_one(self, batch: Batch, window: Window, tally: _Tally) -> _Sent:
        if not self.budget.fits(1):
            tally.paused = self._budget_reason()
            log.warning("dispatch paused: %s", tally.paused)
            return _Sent.UNSENT_STOP
        if tally.calls and self.budget.pace() is Pace.SLOW:
            await self._sleep(self.policy.slow_delay)
        tally.calls += 1
        try:
            results = await self._write(batch)
        except BudgetExhaustedError as exc:
            tally.paused = f"Salesforce refused the call, the daily API allocation is spent: {exc}"
            log.warning("dispatch paused: %s", tally.paused)
            return _Sent.UNSENT_STOP
        except AuthError as exc:
            tally.auth_failure = str(exc)
            # Held back by the credential gate: the gate has said it once already.
            level = logging.DEBUG if isinstance(exc, AuthFailingError) else logging.WARNING
            log.log(level, "dispatch stopped, Salesforce refused the credentials: %s", exc)
            return _Sent.UNSENT_STOP
        except RetriableError as exc:
            tally.outage = str(exc)
            log.warning("dispatch stopped, a call kept failing: %s", exc)
            await self._settle_call_failure(batch, window, exc, tally)
            return _Sent.SETTLED_STOP
        except PermanentError as exc:
            await self._settle_call_failure(batch, window, exc, tally)
            return _Sent.SETTLED
        tally.sent[(batch.sobject, batch.operation.value)] += len(batch.records)
        gone = gone_targets(results) if self.vanished is not None else set()
        unowned = owner_refused(results)
        await self._settle(
            tally,
            lambda now: settle_results(
                batch, results, window.rows, now=now, policy=self.policy, skip=gone | unowned
            ),
        )
        if unowned:
            rows = [window.rows[i] for n in sorted(unowned) for i in batch.records[n].outbox_ids]
            await self._reassign(rows, tally)
        if gone:
            rows = [window.rows[i] for n in sorted(gone) for i in batch.records[n].outbox_ids]
            reasons = dict.fromkeys(r.reason for r in results if r.index in gone)
            await self._follow_gone(rows, "; ".join(reasons), tally)
        return _Sent.SETTLED

    async def _reassign(self, rows: list[OutboxEntry], tally: _Tally) -> None:
        """Rows refused for an inactive owner: re-planned for the fallback owner (or none) and
        due at once; dead only when no owner change can help."""
        fallback = self.fallback_owner

        def work(tx: Transaction) -> tuple[int, int]:
            moves: list[Repoint] = []
            dead: list[OutboxDead] = []
            for row in rows:
                decided = reassign(row, fallback)
                if isinstance(decided, str):
                    dead.append(OutboxDead(row.id, f"{INACTIVE_OWNER}: {decided}"))
                    continue
                moves.append(decided)
                log.warning("%s %s: %s", row.target_object, row.target_key, decided.reason)
            tx.outbox.repoint(moves)
            tx.outbox.mark_dead(dead)
            tx.audit.append(
                AuditItem(System.SALESFORCE, rows_by_id[m.id].target_object, m.target_key,
                          "reassigned", {OWNER_FIELD: m.payload.get(OWNER_FIELD)}, m.reason)
                for m in moves
            )  # fmt: skip
            return len(moves), len(dead)

        rows_by_id = {row.id: row for row in rows}
        moved, dead = await in_store(self.store, work)
        tally.reassigned += moved
        tally.dead += dead

    async def _follow_gone(self, rows: list[OutboxEntry], error: str, tally: _Tally) -> None:
        """Rows refused ENTITY_IS_DELETED: follow the merge or drop them (``vanished``)."""
        assert self.vanished is not None
        vanished = self.vanished
        try:
            tally.calls += 1
            fates = await vanished.fates(rows)
        except (AuthError, RetriableError, PermanentError) as exc:
            # Not knowing what became of the Accounts, try again later: never guess.
            log.warning("could not look up %d rows' deleted Accounts: %s", len(rows), exc)
            await self._settle(
                tally, lambda now: settle_retry(rows, error, now=now, policy=self.policy)
            )
            return

        def work(tx: Transaction) -> FollowReport:
            report = vanished.apply(tx, rows, fates)
            now = max(self._clock(), tx.now)
            settle_retry(report.unresolved, error, now=now, policy=self.policy).apply(tx)
            return report

        followed = await in_store(self.store, work)
        tally.repointed += followed.repointed
        tally.dropped += followed.dropped
        tally.retried += len(followed.unresolved)

    async def _settle_call_failure(
        self, batch: Batch, window: Window, exc: RetriableError | PermanentError, tally: _Tally
    ) -> None:
        transient = isinstance(exc, RetriableError)
        retry_after = exc.retry_after if isinstance(exc, RetriableError) else None
        # Like a record's reason (code: message), without the "Salesforce: " prefix.
        error = str(exc)
        if isinstance(exc, SalesforceError):
            error = f"{exc.code or type(exc).__name__}: {exc.api_message}"
        await self._settle(
            tally,
            lambda now: settle_failure(
                batch, window.rows, error, transient=transient, now=now,
                policy=self.policy, retry_after=retry_after,
            ),
        )  # fmt: skip

    async def _write(self, batch: Batch) -> Sequence[RecordResult]:
        records = [record.body() for record in batch.records]
        if batch.operation is Operation.UPDATE:
            return await self.writer.update(batch.sobject, records)
        assert batch.external_id_field is not None  # the planner keys upserts on it
        return await self.writer.upsert(batch.sobject, batch.external_id_field, records)

    async def _settle(self, tally: _Tally, build: Callable[[datetime], Settlement]) -> None:
        def work(tx: Transaction) -> Settlement:
            settlement = build(max(self._clock(), tx.now))
            settlement.apply(tx)
            return settlement

        settled = await in_store(self.store, work)
        tally.done += len(settled.done)
        tally.retried += len(settled.retries)
        tally.dead += len(settled.dead)

    async def _hand_back(self, batches: Sequence[Batch], tally: _Tally) -> None:
        ids = outbox_ids(batches)
        if ids:
            tally.deferred += await in_store(self.store, lambda tx: tx.outbox.release(ids))

    # --- the budget ---------------------------------------------------------------------

    def _budget_reason(self) -> str:
        snap = self.budget.snapshot()
        if snap.used is None or snap.max is None:
            return "the API budget is marked spent"
        return (
            f"the API budget is spent: the org has used {snap.used} of its {snap.max} daily "
            f"calls and cmsync may drive it up to {snap.allowed} ({snap.share:.0%})"
        )

    async def _save_budget(self) -> None:
        """The budget as last reported by Salesforce, for the dashboard."""
        snap = self.budget.snapshot()
        if snap.used is None or snap.max is None:
            return  # no answer seen yet: nothing known to show
        stored = BudgetSnapshot(System.SALESFORCE, snap.used, snap.max, snap.share)
        await in_store(self.store, lambda tx: tx.daemon.put_budget(stored))
