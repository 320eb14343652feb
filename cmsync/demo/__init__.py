"""``cmsync demo``: the whole system live in one command.

The sandbox (both emulators, a seeded company), a simulated SaaS business acting on it, the
real daemon on fast schedules, and the operators' dashboard: every use case happens within a
minute. ``--headless --duration S`` runs without the dashboard and ends with a summary and a
consistency check of Salesforce against ChartMogul (exit 1 if they disagree): what CI runs.

``register(app)`` adds the command to the CLI; the heavy parts are imported only when it runs,
so ``cmsync --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def demo(
    directory: Annotated[
        Path,
        typer.Option(
            "--dir", help="Where the sandbox, the store and demo.log go (reset each run)."
        ),
    ] = Path(".demo"),
    seed: Annotated[int, typer.Option(help="Seed for the company and the business.")] = 1,
    accounts: Annotated[int, typer.Option(min=1, help="Salesforce Accounts to seed.")] = 40,
    headless: Annotated[
        bool, typer.Option("--headless", help="No dashboard: progress lines, then a summary.")
    ] = False,
    duration: Annotated[
        float | None,
        typer.Option(
            min=1, help="Seconds the business runs (headless: default 60; dashboard: until quit)."
        ),
    ] = None,
    screenshot: Annotated[
        Path | None,
        typer.Option(help="Save the dashboard as SVG after --duration seconds (default 30)."),
    ] = None,
) -> None:
    """Run the sandbox, a simulated business, the daemon and the dashboard together."""
    import logging

    from cmsync.sandbox_extra import exit_unless_sandbox_extra

    exit_unless_sandbox_extra()
    from cmsync.demo.session import DemoOptions, configure_logging
    from cmsync.errors import FatalError

    options = DemoOptions(directory=directory, seed=seed, accounts=accounts)
    quiet = logging.ERROR if headless else None  # a dashboard owns the terminal
    configure_logging(directory / "demo.log", stderr_level=quiet)
    try:
        if headless:
            from cmsync.demo.headless import run_headless

            code = run_headless(options, duration or 60.0, typer.echo)
        else:
            from cmsync.demo.dashboard import run_dashboard_demo

            if screenshot is not None and duration is None:
                duration = 30.0
            code = run_dashboard_demo(options, typer.echo, duration=duration, screenshot=screenshot)
    except FatalError as exc:  # the demo could not start or the daemon stopped: say why
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``cmsync demo`` to ``app``."""
    app.command("demo")(demo)
