"""The ``sandbox`` extra: what the sandbox, the demo and the benchmarks need beyond the daemon.

A plain install of the wheel runs the daemon and its tools (``run``, ``once``, ``doctor``,
``status``, ``tui``, ``config``); the emulators need a local certificate authority (trustme)
and ChartMogul's ordered activity feed (sortedcontainers), which come with
``pip install 'chartmogul-salesforce-sync[sandbox]'``. The commands that start the sandbox
call ``require_sandbox_extra`` first, so a missing extra is one line naming it, not a
traceback from deep inside an emulator.
"""

from __future__ import annotations

import importlib

import typer

__all__ = [
    "SANDBOX_EXTRA",
    "SANDBOX_PACKAGES",
    "MissingSandboxExtra",
    "exit_unless_sandbox_extra",
    "require_sandbox_extra",
]

SANDBOX_EXTRA = "chartmogul-salesforce-sync[sandbox]"
# The import names of the extra's distributions (pyproject.toml, [project.optional-dependencies]
# sandbox); a test keeps the two lists the same.
SANDBOX_PACKAGES = ("sortedcontainers", "trustme")


class MissingSandboxExtra(Exception):
    """A package of the ``sandbox`` extra is not installed."""

    def __init__(self, package: str) -> None:
        super().__init__(f"the sandbox needs the extra: pip install '{SANDBOX_EXTRA}'")
        self.package = package


def require_sandbox_extra() -> None:
    """Import the extra's packages, or raise ``MissingSandboxExtra`` naming the first absent."""
    for package in SANDBOX_PACKAGES:
        try:
            importlib.import_module(package)
        except ModuleNotFoundError as exc:
            if exc.name is not None and exc.name.partition(".")[0] != package:
                raise  # the package is there but broken: its own error says more
            raise MissingSandboxExtra(package) from None


def exit_unless_sandbox_extra() -> None:
    """For ``cmsync sandbox`` and ``cmsync demo``: exit 2 in one line naming the extra."""
    try:
        require_sandbox_extra()
    except MissingSandboxExtra as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
