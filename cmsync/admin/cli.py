"""The admin kit's commands, added to the ``cmsync`` CLI by ``register(app)``.

``cmsync salesforce metadata --out DIR`` writes the SFDX project; ``cmsync doctor`` checks both
services before a first sync (exit 1 on any error, 2 on an invalid configuration);
``cmsync systemd-unit`` prints the unit file shipped in the package. As in ``cmsync.cli``,
settings are loaded once at the top of a command and heavy modules are imported inside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cmsync.config import ConfigError, Settings, load_settings

__all__ = ["register"]

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML config file; CMSYNC_* environment variables override it.",
        envvar="CMSYNC_CONFIG",
    ),
]


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def metadata(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Directory for the SFDX project (created if needed)."),
    ],
    config: ConfigOption = None,
) -> None:
    """Write the Salesforce metadata cmsync needs: custom fields, object, permission set."""
    from cmsync.admin.mapping import MappingError
    from cmsync.admin.metadata import build_project, write_project

    settings = _settings(config)
    try:
        project = build_project(settings)
    except MappingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    written = write_project(project, out)
    fields = len(project.members["CustomField"])
    typer.echo(
        f"wrote {len(written)} files to {out} ({fields} custom fields, API {project.api_version})\n"
        f"deploy: cd {out} && sf project deploy start --manifest manifest/package.xml "
        "--target-org <alias>\n"
        "then:   sf org assign permset --name cmsync_Integration --on-behalf-of <integration user>"
    )


def doctor(config: ConfigOption = None) -> None:
    """Check ChartMogul and Salesforce before a sync: logins, fields, permissions, budget."""
    import asyncio

    from cmsync.admin.doctor import diagnose

    settings = _settings(config)
    report = asyncio.run(diagnose(settings))
    typer.echo(report.render())
    raise typer.Exit(report.exit_code)


def systemd_unit() -> None:
    """Print the systemd unit for running cmsync as a service."""
    from cmsync.admin.systemd import unit_text

    typer.echo(unit_text(), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``salesforce metadata``, ``doctor`` and ``systemd-unit`` to ``app``."""
    salesforce = typer.Typer(
        name="salesforce", help="Salesforce admin tools.", no_args_is_help=True
    )
    salesforce.command("metadata")(metadata)
    app.add_typer(salesforce, name="salesforce")
    app.command("doctor")(doctor)
    app.command("systemd-unit")(systemd_unit)
