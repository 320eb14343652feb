"""Salesforce users by Id or username: who owns what, and whether they are active."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import literal

__all__ = ["UserFacts", "find_user"]

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
