"""A faithful local Salesforce REST API: OAuth, SOQL, sObjects, Collections, limits, faults.

``SalesforceEmulator(ctx, config)`` is one org; ``.store`` seeds it, ``.create_app()`` serves
it (with the shared sandbox middlewares), ``.issue_token()`` hands out a session.
"""

from __future__ import annotations

from cmsync.sandbox.salesforce.config import SalesforceEmulatorConfig
from cmsync.sandbox.salesforce.emulator import SalesforceEmulator

__all__ = ["SalesforceEmulator", "SalesforceEmulatorConfig"]
