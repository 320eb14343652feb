"""The doctor's store history check: does the store know cmsync's newest Salesforce writes?

A store restored from an old backup (or an old VM snapshot) has forgotten writes the org still
holds: its cursors re-read what was already synced, and its links, alerts and imported deals
stop at the backup's day. The signal is one cheap SOQL query: the newest Account carrying
cmsync's customer UUID field that the integration user modified (``ORDER BY LastModifiedDate
DESC LIMIT 1``; cmsync is that user's only writer of Accounts, and only cmsync sets the UUID),
against the store's own newest write (its last audit entry, or its creation time when it has
written nothing). A store that knows less than the org by more than ``TOLERANCE`` (room for
the two clocks, which the login check measures separately) is a warning: cmsync still runs,
but an operator should know the store went back in time.
"""

from __future__ import annotations

from contextlib import closing
from datetime import datetime, timedelta

from cmsync.admin.findings import Finding
from cmsync.config import Settings
from cmsync.salesforce.errors import SalesforceError
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import literal
from cmsync.salesforce.users import find_user
from state import ReadOnlyStore, SchemaTooOldError, StoreError
from state.sftime import parse_datetime

__all__ = ["AREA", "TOLERANCE", "newest_cmsync_write", "store_finding"]

AREA = "Store history"
TOLERANCE = timedelta(minutes=5)


async def newest_cmsync_write(
    gateway: SalesforceGateway, settings: Settings, user_id: str
) -> tuple[str, datetime] | None:
    """The Account cmsync (``user_id``) modified last and when, or None if it wrote none."""
    uuid_field = settings.fields.account.customer_uuid
    soql = (
        f"SELECT Id, LastModifiedDate FROM Account WHERE LastModifiedById = {literal(user_id)} "  # noqa: S608
        f"AND {uuid_field} != null ORDER BY LastModifiedDate DESC LIMIT 1"
    )
    records = (await gateway.query(soql)).get("records") or []
    if not records:
        return None
    return str(records[0]["Id"]), parse_datetime(str(records[0]["LastModifiedDate"]))


def _store_knows(settings: Settings) -> tuple[datetime | None, Finding | None]:
    """The store's newest write (or creation) time, or a finding when it cannot be read."""
    path = settings.store.path
    try:
        with closing(ReadOnlyStore.open(path)) as store:
            created = store.created_at()
            with store.snapshot() as q:
                newest = q.recent_audit(1)
    except SchemaTooOldError as exc:
        return None, Finding.warning(AREA, str(path), str(exc))
    except StoreError as exc:
        return None, Finding.error(AREA, str(path), str(exc))
    return (newest[0].at if newest else created), None


async def store_finding(gateway: SalesforceGateway, settings: Settings) -> Finding | None:
    """A warning when the org holds cmsync writes newer than the store knows; None when there
    is no store yet (the first `cmsync run` makes it) or nothing to compare."""
    path = settings.store.path
    if not path.exists():
        return None
    known, problem = _store_knows(settings)
    if problem is not None or known is None:
        return problem
    username = settings.salesforce.username
    if not username:  # the client credentials flow names no user to filter on
        return None
    try:
        user = await find_user(gateway, username)
        newest = None if user is None else await newest_cmsync_write(gateway, settings, user.id)
    except SalesforceError as exc:
        return Finding.warning(AREA, str(path), f"cmsync's newest write not read: {exc}")
    if newest is None:
        return Finding.ok(AREA, str(path), "Salesforce holds no Account cmsync modified")
    account_id, at = newest
    if at <= known + TOLERANCE:
        return Finding.ok(
            AREA, str(path), f"knows cmsync's writes up to {known:%Y-%m-%d %H:%M} UTC, as recent "
            "as the org's"
        )  # fmt: skip
    return Finding.warning(
        AREA,
        str(path),
        f"Salesforce holds a cmsync write newer than the store knows: Account {account_id} "
        f"modified by {username} at {at:%Y-%m-%d %H:%M:%S} UTC, while the store's newest write "
        f"dates from {known:%Y-%m-%d %H:%M:%S} UTC: was it restored from an older backup?",
        "if a newer copy of the store exists, stop cmsync and put that one back; otherwise "
        "cmsync resumes from the backup's cursors and re-reads what came since: run `cmsync "
        "once` and check `cmsync problems list` for what it could not match again",
    )
