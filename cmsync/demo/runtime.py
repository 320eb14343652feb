"""The daemon as the demo runs it: fast schedules, in a thread with an event loop of its own.

``demo_settings`` is the sandbox's own configuration (``DIR/cmsync.toml``) with schedules
fast enough to see every job work within a minute. ``DaemonThread`` runs the real ``Daemon``
(the one ``cmsync run`` runs) beside the sandbox's loop and the dashboard, and stops it the
way SIGTERM would: the stop event, then its clean shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from cmsync.config import Settings, load_settings
from cmsync.daemon import Daemon

__all__ = ["FAST_SCHEDULE", "DaemonThread", "demo_settings"]

FAST_SCHEDULE: dict[str, Any] = {
    "chartmogul_poll": 2.0,
    "salesforce_poll": 3.0,
    "dispatch": 1.0,
    "customers": 5.0,
    "late_activities": 10.0,
    "reconcile": 15.0,
    "commands": 1.0,
    "report_cron": "* * * * *",
    "jitter": 0.3,
    "job_timeout": 60.0,
}
TARGET = "sandbox"


def demo_settings(config_file: Path) -> Settings:
    """The sandbox's configuration with the demo's fast schedules."""
    settings = load_settings(config_file)
    schedule = settings.schedule.model_copy(update=FAST_SCHEDULE)
    return settings.model_copy(update={"schedule": schedule})


class DaemonThread:
    """``Daemon(settings).run(stop)`` in a thread; ``error`` holds what ended it early."""

    def __init__(
        self, settings: Settings, *, clock: Callable[[], datetime], grace: float = 10.0
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.grace = grace
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="cmsync-daemon", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # handed over to the thread that stops us
            self.error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        daemon = Daemon(self.settings, target_label=TARGET, clock=self.clock, grace=self.grace)
        await daemon.run(self._stop)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=30)

    def stop(self, timeout: float = 40.0) -> None:
        """Ask for a clean stop and wait for it (the daemon finishes the batch in flight)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self.alive:
            with contextlib.suppress(RuntimeError):  # the loop closed: the daemon has ended
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)
