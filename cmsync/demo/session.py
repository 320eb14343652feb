"""One demo run: the sandbox, the daemon and the simulated business, in one process.

Started in that order, stopped in the reverse one (``close``, also on Ctrl-C): the business
stops acting, the daemon stops cleanly (the batch in flight finishes), then the emulators.
The sandbox serves HTTPS on its ``LoopThread``; the daemon has an event loop of its own in
another thread; the business acts from a third; the caller's thread is free for the dashboard
or the progress lines.

Each run starts from an empty store: the sandbox is seeded afresh (with the same ids for the
same seed), and a store remembering another run's writes would skip values it "already wrote".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from cmsync.daemon import JOBS
from cmsync.demo.observe import Baseline, baseline
from cmsync.demo.runtime import DaemonThread, demo_settings
from cmsync.demo.simulator import Simulator
from cmsync.errors import FatalError
from cmsync.lock import exclusive
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import JobRun, Queries, ReadOnlyStore, Store, StoreError

__all__ = ["DemoError", "DemoOptions", "DemoSession", "configure_logging"]

T = TypeVar("T")
POLL = 0.2  # seconds between looks at the store while waiting on the daemon
_QUIET = ("apscheduler", "transitions", "cmsync.sandbox.access", "aiohttp.access")


class DemoError(FatalError):
    """The demo cannot go on (the daemon did not start, or stopped); the message says why."""


@dataclass(frozen=True)
class DemoOptions:
    directory: Path
    seed: int = 1
    accounts: int = 40


def configure_logging(log_file: Path, *, stderr_level: int | None) -> None:
    """Everything to ``log_file``; errors (at ``stderr_level``) to the terminal too, if set."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler: logging.Handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if stderr_level is not None:
        terminal = logging.StreamHandler()
        terminal.setLevel(stderr_level)
        root.addHandler(terminal)
    root.setLevel(logging.INFO)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def _fresh_store(path: Path) -> None:
    """Forget any earlier run's store (refused while another demo uses it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(path):
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


def polled_steps() -> tuple[str, ...]:
    """The daemon's steps that read a source (every job but dispatch, reconcile, reports)."""
    return tuple(
        step
        for spec in JOBS
        if spec.name not in ("dispatch", "reconcile", "reports")
        for step in spec.steps
    )


class DemoSession:
    """``with DemoSession(options) as session:`` everything runs; leaving the block stops it."""

    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.directory = options.directory.resolve()
        self.store_path = self.directory / "cmsync.db"
        self._loop = LoopThread()
        self._reader: ReadOnlyStore | None = None
        self._sandbox: RunningSandbox | None = None
        self._daemon: DaemonThread | None = None
        self._simulator: Simulator | None = None
        self._closed = False

    # --- life cycle -------------------------------------------------------------------

    def __enter__(self) -> DemoSession:
        self._loop.__enter__()
        try:
            _fresh_store(self.store_path)
            self._sandbox = self._loop.call(
                start_sandbox(
                    SandboxOptions(
                        directory=self.directory, seed=self.options.seed,
                        accounts=self.options.accounts,
                    )
                ),
                timeout=300,
            )  # fmt: skip
            self.settings = demo_settings(self._sandbox.config_file)
            self.before: Baseline = baseline(self._sandbox)
            self._daemon = DaemonThread(self.settings, clock=self._sandbox.ctx.clock.now)
            self._daemon.start()
            self._simulator = Simulator.for_sandbox(self._sandbox, seed=self.options.seed)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop everything, business first; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._simulator is not None:
            self._simulator.stop()
        self.stop_daemon()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._sandbox is not None:
            self._loop.call(self._sandbox.stop())
        self._loop.__exit__(None, None, None)

    def stop_daemon(self) -> None:
        if self._daemon is not None:
            self._daemon.stop()
            self._daemon = None

    # --- parts ------------------------------------------------------------------------

    @property
    def sandbox(self) -> RunningSandbox:
        assert self._sandbox is not None, "use the session in a with block"
        return self._sandbox

    @property
    def simulator(self) -> Simulator:
        assert self._simulator is not None, "use the session in a with block"
        return self._simulator

    def clock(self) -> datetime:
        return self.sandbox.ctx.clock.now()

    # --- watching the daemon ----------------------------------------------------------

    def read(self, query: Callable[[Queries], T]) -> T | None:
        """``query`` over a consistent view of the store; None while there is no store yet."""
        if self._reader is None:
            try:
                self._reader = Store.open_readonly(self.store_path)
            except StoreError:  # not there yet, or being created right now
                return None
        with self._reader.snapshot() as queries:
            return query(queries)

    def _check_daemon(self) -> None:
        daemon = self._daemon
        if daemon is not None and not daemon.alive:
            raise DemoError(f"the daemon stopped: {daemon.error or 'no reason given'}")

    def _wait(self, done: Callable[[dict[str, JobRun]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_daemon()
            runs = self.read(lambda q: {run.job: run for run in q.latest_job_runs()})
            if runs is not None and done(runs):
                return True
            time.sleep(POLL)
        return False

    def wait_for_first_sync(self, timeout: float = 60.0) -> bool:
        """Until the first customer sweep's writes went out (a live business starts synced)."""

        def done(runs: dict[str, JobRun]) -> bool:
            sweep, dispatch = runs.get("customers"), runs.get("dispatch")
            return (
                sweep is not None and sweep.finished_at is not None
                and dispatch is not None and dispatch.finished_at is not None
                and dispatch.started_at >= sweep.finished_at
            )  # fmt: skip

        return self._wait(done, timeout)

    def settle(self, timeout: float = 25.0) -> bool:
        """Until every polling job has run once more since now, then the dispatcher."""
        mark = datetime.now(UTC)
        steps = polled_steps()

        def done(runs: dict[str, JobRun]) -> bool:
            polled = [runs.get(step) for step in steps]
            if any(r is None or r.started_at < mark or r.finished_at is None for r in polled):
                return False
            last = max(r.finished_at for r in polled if r is not None and r.finished_at)
            dispatch = runs.get("dispatch")
            return (
                dispatch is not None and dispatch.started_at >= last
                and dispatch.finished_at is not None
            )  # fmt: skip

        return self._wait(done, timeout)
