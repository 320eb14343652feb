"""The ``aud`` claim of a JWT bearer assertion, derived from the login URL.

Salesforce accepts only https://login.salesforce.com (production and Developer Edition orgs),
https://test.salesforce.com (sandboxes) or an Experience Cloud site's URL as the audience,
never the My Domain URL the token is requested from (Salesforce Help, "OAuth 2.0 JWT Bearer
Flow for Server-to-Server Integration"); a wrong one is refused with ``invalid_grant``:
``audience is invalid``. The Salesforce CLI maps a login or instance URL back to one of the
two the same way (forcedotcom/sfdx-core, ``src/util/sfdcUrl.ts``, ``getJwtAudienceUrl`` and
``isSandboxUrl``): sandbox hosts are test.salesforce.com, enhanced-domain sandboxes
(``*.sandbox.my.salesforce.com``), ``cs<N>`` instances and sandbox pods such as
``usa2s.sfdc-....salesforce.com``; a legacy sandbox My Domain
(``mydomain--dev.my.salesforce.com``), which sfdx-core recognises by resolving its DNS name
to such a host, is recognised here by its ``--``.
Everything else is production. ``salesforce.jwt_audience`` overrides it, as sfdx-core's
``SF_AUDIENCE_URL`` does (an Experience Cloud site, or a host this cannot tell).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["PRODUCTION_AUDIENCE", "SANDBOX_AUDIENCE", "derive_jwt_audience", "is_sandbox_host"]

PRODUCTION_AUDIENCE = "https://login.salesforce.com"
SANDBOX_AUDIENCE = "https://test.salesforce.com"

_SANDBOX_HOSTS = (
    re.compile(r"cs\d+(\.my)?\.salesforce\.com"),  # a CS instance, or a My Domain on one
    re.compile(r"[a-z]{3}\d+s\.sfdc-.+\.(salesforce|force)\.com"),  # Hyperforce sandbox pods
)


def is_sandbox_host(host: str) -> bool:
    """Whether ``host`` is a Salesforce sandbox org's login or instance host."""
    host = host.casefold().rstrip(".")
    return (
        host == "test.salesforce.com"
        or ".sandbox." in host
        or "--" in host
        or any(pattern.search(host) for pattern in _SANDBOX_HOSTS)
    )


def derive_jwt_audience(login_url: str, override: str | None = None) -> str:
    """The audience to sign for ``login_url``: ``override`` if given, else login or test."""
    if override:
        return override.rstrip("/")
    host = urlsplit(login_url).hostname or ""
    return SANDBOX_AUDIENCE if is_sandbox_host(host) else PRODUCTION_AUDIENCE
