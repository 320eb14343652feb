"""What an emulated org is configured with: its connected app, its user, its limits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["OrgKind", "SalesforceEmulatorConfig"]

# A production (or Developer Edition) org, or a sandbox org: they accept different JWT
# audiences (auth.py).
OrgKind = Literal["production", "sandbox"]

_VERSION = re.compile(r"\d{2}\.0")


@dataclass(frozen=True)
class SalesforceEmulatorConfig:
    """The org's API version, the connected app's credentials, the integration user, limits."""

    api_version: str = "62.0"
    client_id: str = "3MVG9sandboxconsumerkey"
    client_secret: str = "sandbox-consumer-secret"  # noqa: S105 (a placeholder for tests)
    username: str = "integration@cmsync-sandbox.example"
    password: str = "sandbox-password"  # noqa: S105 (a placeholder for tests)
    jwt_public_key_pem: bytes = b""  # the connected app's certificate or public key (PEM)
    token_ttl_seconds: int = 7200
    daily_api_limit: int = 100_000
    org_kind: OrgKind = "production"
    # The integration user holds "View Setup and Configuration" (needed by /limits).
    view_setup: bool = True
    # The integration user's "View and Edit Converted Leads" permission: without it (the
    # default, as for a new user) every update of a converted Lead is refused.
    edit_converted_leads: bool = False

    def __post_init__(self) -> None:
        if not _VERSION.fullmatch(self.api_version):
            raise ValueError(f"API version {self.api_version!r} is not like '62.0'")
        if self.token_ttl_seconds <= 0 or self.daily_api_limit <= 0:
            raise ValueError("token_ttl_seconds and daily_api_limit must be positive")
        if self.org_kind not in ("production", "sandbox"):
            raise ValueError(f"org kind {self.org_kind!r} is not production or sandbox")

    @property
    def major_version(self) -> int:
        return int(self.api_version.split(".")[0])
