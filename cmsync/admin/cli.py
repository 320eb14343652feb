"""The admin kit's commands, added to the ``cmsync`` CLI by ``register(app)``.

``cmsync salesforce metadata --out DIR`` writes the SFDX project (no credentials needed, no
config file either: an admin runs it first); ``cmsync doctor`` checks both
services before a first sync (exit 1 on any error, 2 on an invalid configuration);
``cmsync systemd-unit`` prints the unit file shipped in the package. As in ``cmsync.cli``,
settings are loaded once at the top of a command and heavy modules are imported inside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

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


def _settings(config: Path | None, *, offline: bool = False) -> Settings:
    try:
        return load_settings(config, offline=offline)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def metadata(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Directory for the SFDX project (created if needed)."),
    ],
    config: ConfigOption = None,
    eca_contact_email: Annotated[
        str | None,
        typer.Option(
            "--eca-contact-email",
            help="Also generate the External Client App cmsync logs in through, with this "
            "contact email (Salesforce writes to it about the app).",
        ),
    ] = None,
    certificate: Annotated[
        Path | None,
        typer.Option(
            "--certificate",
            help="PEM certificate (cmsync.crt, never the key) to embed in the External Client "
            "App: enables its JWT bearer flow. Needs --eca-contact-email.",
        ),
    ] = None,
) -> None:
    """Write the Salesforce metadata cmsync needs: custom fields, object, permission set,
    and with --eca-contact-email the External Client App.

    Needs no credentials: with no --config, the default field mapping; a file may hold only
    the [fields] tables (and salesforce.api_version)."""
    from cmsync.admin.eca import EcaError, EcaOptions, read_certificate
    from cmsync.admin.mapping import MappingError
    from cmsync.admin.metadata import build_project, write_project

    def fail(message: str) -> NoReturn:
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2)

    # Run before any credential exists: only what is given is checked (OfflineSettings).
    settings = _settings(config, offline=True)
    eca = None
    if certificate is not None and eca_contact_email is None:
        fail("--certificate goes into the External Client App: add --eca-contact-email")
    try:
        if eca_contact_email is not None:
            pem = None
            if certificate is not None:
                try:
                    text = certificate.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    fail(f"--certificate {certificate}: {exc}")
                pem = read_certificate(text)
            eca = EcaOptions(eca_contact_email, pem)
        project = build_project(settings, eca=eca)
    except (MappingError, EcaError) as exc:
        fail(str(exc))
    written = write_project(project, out)
    fields = len(project.members["CustomField"])
    typer.echo(
        f"wrote {len(written)} files to {out} ({fields} custom fields, API {project.api_version})\n"
        f"deploy: cd {out} && sf project deploy start --manifest manifest/package.xml "
        "--target-org <alias>\n"
        "then:   sf org assign permset --name cmsync_Integration --on-behalf-of <integration user>"
    )
    if eca is not None:
        typer.echo(
            "External Client App cmsync: before the deploy, turn on Allow Access to OAuth "
            "Consumer Secrets via Metadata API where Setup > External Client App Settings "
            "offers it; after it, pre-authorize cmsync_Integration in the app's Policies and "
            "copy its consumer key into salesforce.client_id"
            + ("" if eca.certificate else "; no --certificate: upload cmsync.crt in Setup")
        )


def doctor(config: ConfigOption = None) -> None:
    """Check ChartMogul and Salesforce before a sync: logins, fields, permissions, budget."""
    import asyncio

    from cmsync.admin.doctor import Finding, Report, diagnose

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        if not exc.problems:  # no file, or not TOML: nothing to check setting by setting
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        # Each setting refused at load (a key that is not PEM, a secret in the file, a cron
        # of six fields) is a failed check with its fix, as the org's checks are.
        refused = Report.of(Finding.error("Configuration", s, m) for s, m in exc.problems)
        typer.echo(refused.render())
        raise typer.Exit(2) from None
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
