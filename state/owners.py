"""Tasks and Cases whose owner is a deactivated user (pure decisions).

Salesforce refuses a Task or Case given to an inactive user with ``INACTIVE_OWNER_OR_USER``
(SOAP API Developer Guide, "StatusCode"). That is no reason to lose the alert: ``reassign``
re-plans the row for the configured fallback owner, or without an owner at all (Salesforce then
makes the integration user the owner), and the dispatcher sends it again at once. Only a row
that already went to the fallback owner, or had no owner to take away, cannot be helped.
"""

from __future__ import annotations

from state.records import OutboxEntry
from state.vanished import Repoint

__all__ = ["INACTIVE_OWNER", "OWNER_FIELD", "reassign"]

INACTIVE_OWNER = "INACTIVE_OWNER_OR_USER"
OWNER_FIELD = "OwnerId"


def reassign(row: OutboxEntry, fallback: str | None) -> Repoint | str:
    """The row re-planned past its inactive owner, or why it cannot be."""
    owner = row.payload.get(OWNER_FIELD)
    payload = dict(row.payload)
    if fallback and owner != fallback:
        payload[OWNER_FIELD] = fallback
        why = f"owner {owner or '(kept)'} is inactive: assigned to the fallback owner {fallback}"
    elif owner is not None:
        del payload[OWNER_FIELD]
        why = (
            f"owner {owner} is inactive and no active fallback owner is set "
            "(sync.fallback_owner): left to the integration user"
        )
    else:
        return "the record's owner is inactive and no fallback owner can take it"
    return Repoint(row.id, row.target_key, payload, why)
