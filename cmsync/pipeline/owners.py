"""The fallback owner (``sync.fallback_owner``): a User Id or a username, resolved to an active
User Id once, at a pass's first refresh, for Tasks and Cases whose owner is inactive."""

from __future__ import annotations

import logging

from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.users import find_user

__all__ = ["resolve_fallback_owner"]

log = logging.getLogger("cmsync.owners")


async def resolve_fallback_owner(gateway: SalesforceGateway, value: str | None) -> str | None:
    """The active User Id for ``value``; None (with a warning) for none, unknown or inactive."""
    if not value:
        return None
    user = await find_user(gateway, value)
    if user is None:
        log.warning(
            "sync.fallback_owner %r names no Salesforce user: Tasks and Cases of inactive "
            "owners will go to the integration user",
            value,
        )
        return None
    if not user.active:
        log.warning(
            "sync.fallback_owner %r (%s) is inactive: Tasks and Cases of inactive owners will "
            "go to the integration user",
            value,
            user.id,
        )
        return None
    return user.id
