"""``cmsync once``: open everything, run one sync pass, close everything.

It takes the store's single-process lock, requeues outbox rows a killed process left in
flight (safe: every Salesforce write is an update or an upsert on an External ID), reads the
API budget, and runs ``SyncPass``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from cmsync.chartmogul import connect
from cmsync.config import Settings
from cmsync.lock import exclusive
from cmsync.pipeline.sync_pass import PassReport, SyncPass
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.storeio import in_store
from state import Store

__all__ = ["run_once"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def run_once(settings: Settings, *, clock: Callable[[], datetime] = _utc_now) -> PassReport:
    """One full pass against the configured services; the report says what happened."""
    with exclusive(settings.store.path):
        store = Store.open(settings.store.path)
        try:
            await in_store(store, lambda tx: tx.outbox.requeue_in_flight())
            async with connect(settings.chartmogul) as chartmogul:
                gateway = SalesforceGateway(
                    settings.salesforce, budget=ApiBudget(settings.sync.api_budget_share)
                )
                try:
                    return await SyncPass(settings, store, chartmogul, gateway, clock).run()
                finally:
                    await gateway.close()
        finally:
            store.close()
