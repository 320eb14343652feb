"""The ``cmsync`` command line: the composition root.

Settings are loaded here, once, and passed down. Heavy modules (the sandbox, the clients) are
imported inside the commands that need them so ``cmsync --help`` stays instant.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cmsync import __version__
from cmsync.allocator import tune_allocator
from cmsync.collector import tune_collector
from cmsync.config import ConfigError, Settings, load_settings, redacted

if TYPE_CHECKING:
    from cmsync.pipeline.sync_pass import PassReport

__all__ = ["app"]

app = typer.Typer(
    name="cmsync",
    help="Keeps ChartMogul and Salesforce in step: a polling sync daemon and its tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML config file; CMSYNC_* environment variables override it.",
        envvar="CMSYNC_CONFIG",
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cmsync {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """cmsync: ChartMogul ⇄ Salesforce sync."""


@app.command("config")
def show_config(
    config: ConfigOption = None,
    example: Annotated[
        bool,
        typer.Option(
            "--example", help="Print a commented starter cmsync.toml instead (no config needed)."
        ),
    ] = False,
) -> None:
    """Check the configuration and print the effective settings, secrets masked."""
    if example:  # before any configuration exists: nothing is loaded
        from cmsync.admin.config_example import example_toml

        typer.echo(example_toml(), nl=False)
        return
    typer.echo(json.dumps(redacted(_settings(config)), indent=2))


def _settings(config: Path | None, *, offline: bool = False) -> Settings:
    try:
        return load_settings(config, offline=offline)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _log_to_stderr(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


@app.command()
def once(
    config: ConfigOption = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Read both services, write nothing, print the plan."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Run every sync job once, in dependency order, and exit; non-zero on failure."""
    from cmsync.errors import FatalError
    from state import SchemaTooNewError

    settings = _settings(config)
    _log_to_stderr(verbose)
    tune_allocator()
    tune_collector()
    try:
        report = asyncio.run(_once_with_progress(settings, dry_run=dry_run))
    except (FatalError, SchemaTooNewError) as exc:  # a store from a newer cmsync
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    preview = report.step("preview")
    if preview is not None and preview.outcome is not None:
        typer.echo(preview.outcome.render())
    if not report.ok:
        typer.echo("cmsync once: some steps failed (see above)", err=True)
        raise typer.Exit(1)


async def _once_with_progress(settings: Settings, *, dry_run: bool) -> PassReport:
    """A first pass over a large org is long: on a terminal, each running step's progress
    live and each step's line as it ends; elsewhere (a pipe, a log) each step's line as it
    ends (echo flushes) and a line a minute of a long step (``cmsync.progress``)."""
    from rich.console import Console

    from cmsync.pipeline.once import run_once
    from cmsync.progress import LogLines, RichDisplay

    console = Console()
    if console.is_terminal and not console.is_dumb_terminal:
        with RichDisplay(console) as display:
            return await run_once(settings, dry_run=dry_run, progress=display)
    return await run_once(settings, dry_run=dry_run, progress=LogLines(typer.echo))


@app.command()
def run(
    config: ConfigOption = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log JSON lines.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each job run.")] = False,
) -> None:
    """Run the sync daemon until SIGTERM or SIGINT (one per store)."""
    import os

    from cmsync.daemon import Daemon
    from cmsync.daemon.sdnotify import notifier_from_environment
    from cmsync.errors import FatalError
    from cmsync.logs import configure
    from state import SchemaTooNewError

    settings = _settings(config)
    # Under systemd (Type=notify): readiness, watchdog pings and stopping, to $NOTIFY_SOCKET.
    notifier = notifier_from_environment(os.environ)
    configure(json_lines=log_json, verbose=verbose)
    tune_allocator()
    tune_collector()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        daemon = Daemon(settings, target_label=_target_label(settings), notifier=notifier)
        await daemon.run(stop)

    try:
        asyncio.run(main())
    except (FatalError, SchemaTooNewError) as exc:  # a store from a newer cmsync
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def status(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the daemon's heartbeat, jobs, cursors, outbox, budgets and problems by cause.

    Exits 0 when healthy, 1 when degraded (a job failing, dead letters, the API budget nearly
    spent), 2 when the daemon is down (no live heartbeat) or there is no store."""
    from datetime import UTC, datetime

    from cmsync.status import collect, render
    from state import StoreError

    # It reads the store alone: a monitoring check runs it without the daemon's credentials.
    settings = _settings(config, offline=True)
    if not settings.store.path.exists():
        typer.echo(f"error: no store at {settings.store.path}; run the daemon first", err=True)
        raise typer.Exit(2)
    try:
        report = collect(settings.store.path, datetime.now(UTC))
    except StoreError as exc:  # an older schema says what to run, a newer one what to upgrade
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(report, indent=2) if as_json else render(report))
    # 0 healthy, 1 degraded (a job failing, dead letters, the budget nearly spent), 2 down.
    raise typer.Exit(report["verdict"]["exit_code"])


@app.command()
def tui(config: ConfigOption = None) -> None:
    """Open the operators' dashboard over the store (the daemon may be running or not)."""
    from state import Store, StoreError
    from tui import run_dashboard

    settings = _settings(config)
    if not settings.store.path.exists():
        typer.echo(f"error: no store at {settings.store.path}; run `cmsync once` first", err=True)
        raise typer.Exit(2)
    try:  # a store on another schema revision: say what to run, not "no such table"
        Store.open_readonly(settings.store.path).close()
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from cmsync.daemon.schedules import job_schedules

    run_dashboard(
        settings.store.path,
        target_label=_target_label(settings),
        schedules=job_schedules(settings),  # the daemon's, from the same configuration
    )


def _target_label(settings: Settings) -> str:
    host = settings.salesforce.login_url.host or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        return "sandbox"
    return "salesforce sandbox" if host.startswith("test.") else "production"


@app.command()
def sandbox(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write sandbox.json, cmsync.toml and secrets.")
    ],
    seed: Annotated[int, typer.Option(help="Seed for the scenario and for faults.")] = 1,
    accounts: Annotated[int, typer.Option(min=1, help="Salesforce Accounts to create.")] = 50,
    faults: Annotated[str, typer.Option(help="Fault profile: none, flaky, ...")] = "none",
    api_version: Annotated[str, typer.Option(help="Salesforce REST API version.")] = "62.0",
    token_ttl: Annotated[int, typer.Option(min=1, help="Salesforce token lifetime (s).")] = 7200,
    daily_api_limit: Annotated[
        int, typer.Option(min=1, help="Salesforce daily API allocation.")
    ] = 100_000,
    org_kind: Annotated[
        str, typer.Option(help="Salesforce org kind: production or sandbox (its JWT audience).")
    ] = "production",
    view_setup: Annotated[
        bool, typer.Option(help="The integration user may read /limits (View Setup).")
    ] = True,
    edit_converted_leads: Annotated[
        bool,
        typer.Option(
            "--edit-converted-leads",
            help="Give the integration user 'View and Edit Converted Leads' (default: not).",
        ),
    ] = False,
    chartmogul_currency: Annotated[
        str, typer.Option(help="The ChartMogul account's currency (figures are reported in it).")
    ] = "USD",
    org_currency: Annotated[
        str, typer.Option(help="The Salesforce org's corporate currency.")
    ] = "USD",
    multi_currency: Annotated[
        bool, typer.Option(help="A multi-currency org: Accounts carry CurrencyIsoCode.")
    ] = False,
    processing_delay: Annotated[
        int,
        typer.Option(
            min=0,
            help="ChartMogul's processing delay (s) for data sources without their own "
            "(the seeded PayPal source has hours).",
        ),
    ] = 0,
    quiet: Annotated[bool, typer.Option(help="Do not log each request.")] = False,
) -> None:
    """Run local ChartMogul and Salesforce emulators until interrupted."""
    from cmsync.sandbox_extra import exit_unless_sandbox_extra

    exit_unless_sandbox_extra()
    from cmsync.sandbox.faults import PROFILES
    from cmsync.sandbox.runner import SandboxOptions

    if faults not in PROFILES:
        known = ", ".join(sorted(PROFILES))
        typer.echo(f"error: unknown fault profile {faults!r}; known: {known}", err=True)
        raise typer.Exit(2)
    if org_kind not in ("production", "sandbox"):
        typer.echo(f"error: --org-kind {org_kind!r} is not production or sandbox", err=True)
        raise typer.Exit(2)
    from cmsync.sandbox.chartmogul.rates import RateSchedule

    for flag, code in (
        ("--chartmogul-currency", chartmogul_currency),
        ("--org-currency", org_currency),
    ):
        if not RateSchedule().knows(code.upper()):
            typer.echo(f"error: {flag} {code!r} is not a currency the sandbox knows", err=True)
            raise typer.Exit(2)
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        stream=sys.stderr,
    )
    options = SandboxOptions(
        directory=directory,
        seed=seed,
        accounts=accounts,
        faults=faults,
        api_version=api_version,
        token_ttl_seconds=token_ttl,
        daily_api_limit=daily_api_limit,
        org_kind="sandbox" if org_kind == "sandbox" else "production",
        view_setup=view_setup,
        edit_converted_leads=edit_converted_leads,
        chartmogul_currency=chartmogul_currency.upper(),
        org_currency=org_currency.upper(),
        multi_currency=multi_currency,
        processing_delay=processing_delay,
    )
    asyncio.run(_serve_sandbox(options))


async def _serve_sandbox(options: object) -> None:
    from cmsync.sandbox.runner import SandboxOptions, describe_sources, start_sandbox

    assert isinstance(options, SandboxOptions)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    running = await start_sandbox(options)
    info = running.info
    typer.echo(
        "cmsync sandbox is running (Ctrl-C to stop)\n"
        f"  ChartMogul  {info['chartmogul']['base_url']}/v1\n"
        f"  Salesforce  {info['salesforce']['instance_url']}"
        f"/services/data/v{info['salesforce']['api_version']}/\n"
        f"  CA bundle   {info['ca_bundle']}\n"
        f"  described in {running.sandbox_json}\n"
        f"  daemon config {running.config_file}\n"
        f"  scenario    {json.dumps(info['scenario'])}\n"
        f"  data sources {describe_sources(info['chartmogul']['data_sources'])}\n"
        f"  faults      {info['faults']} (seed {info['seed']})",
        err=True,
    )
    try:
        await stop.wait()
    finally:
        await running.stop()
        typer.echo("cmsync sandbox stopped", err=True)


def _register_plugins() -> None:
    from cmsync.admin.cli import register as register_admin
    from cmsync.demo import register as register_demo
    from cmsync.migrate_cli import register as register_migrate
    from cmsync.problems_cli import register as register_problems

    register_admin(app)
    register_demo(app)
    register_migrate(app)
    register_problems(app)


_register_plugins()
