"""``cmsync demo --headless``: the demo without a dashboard, ending with a verdict.

Theory of operation. Start the sandbox and the daemon; wait for the daemon's first sync (a
live business starts in step with its CRM); let the simulated business act for ``duration``
seconds, printing a progress line every few seconds; stop it. Then let the daemon catch up:
wait for one more round of every poller and the dispatch after it, stop the daemon cleanly,
and run ``run_once`` passes until the outbox is empty (a few at most: each pass reads both
systems whole). Last, read both emulators and the store, check that Salesforce agrees with
ChartMogul, print the summary, and exit 0 if it does, 1 with every difference if not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cmsync.demo.consistency import check
from cmsync.demo.observe import creations, observe, read_store
from cmsync.demo.session import DemoError, DemoOptions, DemoSession
from cmsync.demo.summary import Outcome, render
from cmsync.pipeline.once import run_once
from cmsync.pipeline.sync_pass import SyncPass
from cmsync.sandbox.runner import describe_sources
from state import OutboxCounts, Queries

__all__ = ["CATCH_UP_PASSES", "PROGRESS_EVERY", "run_headless"]

PROGRESS_EVERY = 3.0  # seconds between progress lines
CATCH_UP_PASSES = 4
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

Echo = Callable[[str], None]


def _progress(queries: Queries) -> tuple[OutboxCounts, int, int]:
    writes = sum(m.writes for m in queries.writes_per_minute(_EPOCH))
    return queries.outbox_counts(), writes, len(queries.quarantine(limit=10_000))


def _progress_line(session: DemoSession, elapsed: float) -> str:
    events = len(session.simulator.log)
    read = session.read(_progress)
    if read is None:
        return f"[{elapsed:4.0f}s] {events} events | no store yet"
    box, writes, quarantined = read
    return (
        f"[{elapsed:4.0f}s] {events} events | outbox {box.pending} pending, "
        f"{box.in_flight} in flight, {box.retrying} retrying, {box.dead} dead | "
        f"{writes} writes | quarantine {quarantined}"
    )


def _catch_up(session: DemoSession, echo: Echo) -> int:
    """``run_once`` until the outbox is empty; returns the passes run."""
    for n in range(1, CATCH_UP_PASSES + 1):
        report = asyncio.run(run_once(session.settings, clock=session.clock))
        if not report.ok:
            failed = ", ".join(f"{s.name} ({s.detail})" for s in report.steps if not s.ok)
            echo(f"catch-up pass {n}: failed steps: {failed}")
        box = session.read(lambda q: q.outbox_counts())
        if box is not None and box.pending == 0 and box.in_flight == 0:
            return n
    return CATCH_UP_PASSES


def run_headless(options: DemoOptions, duration: float, echo: Echo) -> int:
    """Run the demo for ``duration`` seconds; 0 if Salesforce agrees with ChartMogul, else 1."""
    with DemoSession(options) as session:
        echo(
            f"cmsync demo: sandbox seeded in {session.directory} (seed {options.seed}, "
            f"{options.accounts} accounts); logs in {session.directory / 'demo.log'}"
        )
        sources = session.sandbox.info["chartmogul"]["data_sources"]
        echo(f"ChartMogul data sources: {describe_sources(sources)}")
        if not session.wait_for_first_sync():
            raise DemoError("the daemon's first sync did not finish within a minute")
        echo(f"first sync done; the business goes live for {duration:.0f}s")
        started = time.monotonic()
        session.simulator.start()
        while (left := started + duration - time.monotonic()) > 0:
            time.sleep(min(PROGRESS_EVERY, left))
            echo(_progress_line(session, time.monotonic() - started))
        session.simulator.stop()
        echo("the business stopped; the daemon catches up")
        settled = session.settle()
        session.stop_daemon()
        passes = _catch_up(session, echo)

        settings = session.settings
        closed_won = (
            hasattr(SyncPass, "closed_won")
            and settings.closed_won.enabled
            and settings.chartmogul.data_source_uuid is not None
        )
        expected = session.simulator.deals if closed_won else []
        observation = observe(session.sandbox, session.store_path, settings.fields, expected)
        outcome = Outcome(
            seconds=time.monotonic() - started,
            seed=options.seed,
            accounts=options.accounts,
            events=session.simulator.log.counts(),
            simulator_errors=tuple(session.simulator.errors),
            activity=read_store(session.store_path, settings.reports.object),
            creations=creations(session.sandbox, session.before),
            closed_won_sync=closed_won,
            reconcile_sync=hasattr(SyncPass, "reconcile"),
            settled=settled,
            passes=passes,
            consistency=check(observation),
        )
    for line in render(outcome):
        echo(line)
    return 0 if outcome.consistency.ok else 1
