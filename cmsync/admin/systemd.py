"""The systemd unit for running cmsync as a service, shipped as package data.

``cmsync.service`` sits beside this module (the repository's top level is fixed, so the unit
lives in the package and the wheel carries it); ``cmsync systemd-unit`` prints it.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["UNIT_NAME", "unit_text"]

UNIT_NAME = "cmsync.service"


def unit_text() -> str:
    """The unit file's text, as installed with the package."""
    return resources.files("cmsync.admin").joinpath(UNIT_NAME).read_text(encoding="utf-8")
