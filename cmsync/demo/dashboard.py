"""``cmsync demo`` with the dashboard in the foreground, and the README's screenshot.

The dashboard is the one ``cmsync tui`` opens, over the demo daemon's store, with the job
intervals so it can say when each job runs next. Quitting it ends the demo: the session
stops the business, the daemon and the sandbox in that order. ``--duration`` quits by itself
after that many seconds; ``--screenshot FILE`` runs it without a terminal and saves what it
shows at that moment as SVG (how ``tui/screenshots/dashboard.svg`` is made).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from cmsync.daemon.schedules import job_schedules
from cmsync.demo.runtime import TARGET
from cmsync.demo.session import DemoError, DemoOptions, DemoSession
from tui import Dashboard, DataSource
from tui.commands import CommandWriter

__all__ = ["SCREENSHOT_SIZE", "run_dashboard_demo"]

SCREENSHOT_SIZE = (160, 48)  # the layout snapshot's size too

Echo = Callable[[str], None]


def run_dashboard_demo(
    options: DemoOptions,
    echo: Echo,
    *,
    duration: float | None = None,
    screenshot: Path | None = None,
) -> int:
    """Run until the operator quits (or ``duration`` seconds); 0 unless the demo broke."""
    with DemoSession(options) as session:
        echo(f"cmsync demo: sandbox seeded in {session.directory}; starting the daemon")
        if not session.wait_for_first_sync():
            raise DemoError("the daemon's first sync did not finish within a minute")
        session.simulator.start()
        source = DataSource(session.store_path)
        writer = CommandWriter(session.store_path)
        app = Dashboard(
            source,
            target_label=TARGET,
            commands=writer,
            schedules=job_schedules(session.settings),
        )

        async def autopilot(pilot: Pilot[object]) -> None:
            assert duration is not None
            await pilot.pause(duration)
            await app.refresh_now().wait()
            await pilot.pause()
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                app.save_screenshot(filename=screenshot.name, path=str(screenshot.parent))
            app.exit()

        try:
            if screenshot is not None:
                app.run(headless=True, size=SCREENSHOT_SIZE, auto_pilot=autopilot)
            else:
                app.run(auto_pilot=autopilot if duration is not None else None)
        finally:
            writer.close()
            source.close()
        events = session.simulator.log.counts()
    echo(f"cmsync demo stopped after {sum(events.values())} events: " + ", ".join(
        f"{kind} {n}" for kind, n in events.most_common()
    ))  # fmt: skip
    if screenshot is not None:
        echo(f"dashboard saved to {screenshot}")
    return 0
