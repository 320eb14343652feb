"""The fallback owner (``sync.fallback_owner``): a User Id or a username, resolved to an active
User Id once, at a pass's first refresh, for Tasks and Cases whose owner is inactive."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import literal

__all__ = ["UserFacts", "find_user", "resolve_fallback_owner"]

log = logging.getLogger("cmsync.owners")

_USER_ID = re.compile(r"005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?")


@dataclass(frozen=True)
class UserFacts:
    id: str
    username: str | None
    active: bool


async def find_user(gateway: SalesforceGateway, value: str) -> UserFacts | None:
    """The User that ``value`` names (an Id, else a username), or None."""
    column = "Id" if _USER_ID.fullmatch(value) else "Username"
    soql = f"SELECT Id, Username, IsActive FROM User WHERE {column} = {literal(value)}"  # noqa: S608
    records = (await gateway.query(soql)).get("records") or []
    if not records:
        return None
    row = records[0]
    return UserFacts(str(row["Id"]), row.get("Username"), row.get("IsActive") is True)


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
