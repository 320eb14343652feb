"""``cmsync migrate``: bring the store to this cmsync's schema revision, without a sync.

The daemon does the same at its start (``Store.open``); this command is for an operator who
wants the upgrade done (and its copy made) before starting it, or whom the dashboard or
``cmsync status`` told to run it. It takes the store's lock, so it refuses to run under a
daemon, which might be an older binary that must not write to the upgraded file.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from cmsync.config import ConfigError, load_settings
from cmsync.errors import FatalError

__all__ = ["migrate", "register"]

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML config file; CMSYNC_* environment variables override it.",
        envvar="CMSYNC_CONFIG",
    ),
]


def migrate(config: ConfigOption = None) -> None:
    """Bring the store to this cmsync's schema revision (a copy of the file is kept first)."""
    from cmsync.lock import exclusive
    from state import Store, StoreError

    try:
        path = load_settings(config).store.path
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not path.exists():
        typer.echo(f"error: no store at {path}; `cmsync run` creates it", err=True)
        raise typer.Exit(2)
    # The store's own line ("migrated from ... to ...; the file as it was is kept at ...").
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    try:
        with exclusive(path), Store.open(path, create=False) as store:
            prepared = store.prepared
    except (FatalError, StoreError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    assert prepared is not None
    if prepared.migrated:
        typer.echo(f"store {path}: migrated from revision {prepared.found} to {prepared.head}")
    else:
        typer.echo(f"store {path}: already at revision {prepared.head}, nothing to do")


def register(app: typer.Typer) -> None:
    """Add ``migrate`` to ``app``."""
    app.command("migrate")(migrate)
