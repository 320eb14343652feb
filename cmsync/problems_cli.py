"""The ``cmsync problems`` commands (see ``cmsync.problems``; imported only when one runs)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cmsync.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from cmsync.pipeline.translate import Translator
    from cmsync.problems import Asked, Voids
    from state import Store

__all__ = ["register"]

_KEY = re.compile(r"^(outbox|quarantine):\d+$")


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML config file; CMSYNC_* environment variables override it.",
        envvar="CMSYNC_CONFIG",
    ),
]
WaitOption = Annotated[
    float,
    typer.Option("--wait", min=0, help="Seconds to wait for a running daemon to answer."),
]


def _settings(config: Path | None) -> Settings:
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not settings.store.path.exists():
        typer.echo(f"error: no store at {settings.store.path}; run the daemon first", err=True)
        raise typer.Exit(2)
    return settings


def _voids(settings: Settings, translator: Translator) -> Voids:
    """The queued voids sent as the daemon's dispatcher sends them (its ChartMogul executor,
    the void rows only), through a ChartMogul client of its own."""
    from datetime import UTC, datetime

    from cmsync.chartmogul import connect
    from cmsync.pipeline.closed_won.effect import VOID_DEAL
    from cmsync.pipeline.dispatch.closed_won_send import ChartMogulExecutor

    def run(store: Store) -> None:
        async def send() -> None:
            async with connect(settings.chartmogul) as chartmogul:
                executor = ChartMogulExecutor(
                    store, chartmogul, settings, translator, clock=lambda: datetime.now(UTC)
                )
                await executor.drain(kinds=(VOID_DEAL,))

        asyncio.run(send())

    return run


def _act(settings: Settings, asked: Sequence[Asked], wait: float) -> None:
    from cmsync.pipeline.translate import Translator
    from cmsync.problems import ask
    from state import CommandStatus

    translator = Translator(settings.fields, settings.sync)
    voids = _voids(settings, translator)
    outcomes = ask(settings.store.path, asked, translator, voids=voids, wait=wait)
    for outcome in outcomes:
        mark = {CommandStatus.DONE: "ok", CommandStatus.FAILED: "FAILED"}.get(
            outcome.status, "queued"
        )
        verb = outcome.asked.kind.value.replace("_", " ")
        typer.echo(
            f"{mark:<7}{verb} {outcome.asked.target} (command {outcome.command_id}): "
            f"{outcome.result}"
        )
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


def _key(key: str) -> str:
    if not _KEY.match(key):
        typer.echo(
            f"error: {key!r} is not a problem key (outbox:<id> or quarantine:<id>, as "
            "`cmsync problems list` shows them)",
            err=True,
        )
        raise typer.Exit(2)
    return key


def list_problems(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the open problems grouped by cause, each with its records, reason and fix."""
    from cmsync.problems import read_groups
    from cmsync.status import render_group

    groups = [g.as_json() for g in read_groups(_settings(config).store.path)]
    if as_json:
        typer.echo(json.dumps(groups, indent=2))
        return
    if not groups:
        typer.echo("no open problems")
    for group in groups:
        typer.echo("\n".join(render_group(group)))


def retry(
    key: Annotated[str | None, typer.Argument(help="outbox:<id> or quarantine:<id>.")] = None,
    cause: Annotated[
        str | None,
        typer.Option("--cause", help="Every problem of a cause: its id, words or error code."),
    ] = None,
    config: ConfigOption = None,
    wait: WaitOption = 30.0,
) -> None:
    """Retry a problem (a dead letter is sent again; a quarantine entry is re-examined)."""
    from cmsync.problems import Asked, read_groups
    from state import CommandKind
    from state.problems import keys_of

    settings = _settings(config)
    if (key is None) == (cause is None):
        typer.echo("error: give either a KEY or --cause", err=True)
        raise typer.Exit(2)
    if cause is not None:
        keys = keys_of(read_groups(settings.store.path), cause)
        if not keys:
            typer.echo(f"error: no open problem has the cause {cause!r}", err=True)
            raise typer.Exit(2)
    else:
        keys = [_key(str(key))]
    _act(settings, [Asked(CommandKind.RETRY, k) for k in keys], wait)


def skip(
    key: Annotated[str, typer.Argument(help="outbox:<id> or quarantine:<id>.")],
    config: ConfigOption = None,
    wait: WaitOption = 30.0,
) -> None:
    """Give up on a dead letter, or close a quarantine entry without acting on it."""
    from cmsync.problems import Asked
    from state import CommandKind

    settings = _settings(config)
    _act(settings, [Asked(CommandKind.SKIP, _key(key))], wait)


def unlink(
    customer_uuid: Annotated[str, typer.Argument(help="The ChartMogul customer's UUID.")],
    config: ConfigOption = None,
    wait: WaitOption = 30.0,
) -> None:
    """Drop a customer's link: its Account's ChartMogul fields are cleared, and the next
    customer sweep matches it again (or leaves it pending)."""
    from cmsync.problems import Asked
    from state import CommandKind

    settings = _settings(config)
    _act(settings, [Asked(CommandKind.UNLINK, f"link:{customer_uuid}")], wait)


def relink(
    customer_uuid: Annotated[str, typer.Argument(help="The ChartMogul customer's UUID.")],
    account_id: Annotated[str, typer.Argument(help="The Salesforce Account Id.")],
    config: ConfigOption = None,
    wait: WaitOption = 30.0,
) -> None:
    """Link a customer to an Account (its CM_Customer_UUID__c is written through the outbox)."""
    from cmsync.problems import Asked
    from state import CommandKind

    settings = _settings(config)
    asked = Asked(CommandKind.RELINK, f"link:{customer_uuid}", {"account": account_id})
    _act(settings, [asked], wait)


def void(
    key: Annotated[str, typer.Argument(help="quarantine:<id> of an unwound deal.")],
    config: ConfigOption = None,
    wait: WaitOption = 30.0,
) -> None:
    """Void an unwound Closed-Won deal: delete its invoice in ChartMogul (its revenue goes)."""
    from cmsync.problems import Asked
    from state import CommandKind

    settings = _settings(config)
    _act(settings, [Asked(CommandKind.VOID, _key(key))], wait)


def keep(
    key: Annotated[str, typer.Argument(help="quarantine:<id> of an unwound deal.")],
    config: ConfigOption = None,
    wait: WaitOption = 30.0,
) -> None:
    """Keep an unwound Closed-Won deal's invoice: the problem closes and is not raised again."""
    from cmsync.problems import Asked
    from state import CommandKind

    settings = _settings(config)
    _act(settings, [Asked(CommandKind.KEEP, _key(key))], wait)


def register(app: typer.Typer) -> None:
    """Add ``cmsync problems list|retry|skip|unlink|relink|void|keep`` to ``app``."""
    problems = typer.Typer(
        name="problems",
        help="List the open problems by cause and act on them (as the dashboard does).",
        no_args_is_help=True,
    )
    problems.command("list")(list_problems)
    problems.command("retry")(retry)
    problems.command("skip")(skip)
    problems.command("unlink")(unlink)
    problems.command("relink")(relink)
    problems.command("void")(void)
    problems.command("keep")(keep)
    app.add_typer(problems, name="problems")
