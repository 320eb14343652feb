"""Customers linked late: what the suites found lost, kept as regressions.

The lifecycle enqueues effects only for linked customers, and only what a signal changes.
Two ways a customer's signals could be applied before its link, each of which lost effects
for good until fixed:

- the daemon's jobs run side by side, so its pollers could start before the first customer
  sweep had linked anyone: their alerts were dropped (now they sweep first themselves);
- a customer nothing matched (say a free-mail address) is matched later, by a new Contact or
  an operator: its stage, risk and plan were never written (now every sweep carries them).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cmsync.chartmogul import connect
from cmsync.pipeline.once import run_once
from cmsync.pipeline.sync_pass import SyncPass
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.serve import LoopThread
from state import Store
from tests.support.drive import start_world
from tests.support.invariants import World, check_all, read_truth


@pytest.fixture
def world(sandbox_loop: LoopThread, tmp_path: Path) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path / "sandbox", seed=6, accounts=30) as world:
        yield world


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def test_signals_polled_before_any_sweep_lose_no_alert(world: World) -> None:
    store = Store.open(world.store_path)
    try:
        async with connect(world.settings.chartmogul) as chartmogul:
            gateway = SalesforceGateway(world.settings.salesforce)
            try:
                sync = SyncPass(world.settings, store, chartmogul, gateway, _utc_now)
                for step in ("load_context", "activities", "payments"):  # no sweep yet
                    result = await sync.run_step(step)
                    assert result.ok, result.detail
            finally:
                await gateway.close()
    finally:
        store.close()
    report = await run_once(world.settings)  # the daemon's other jobs, in one pass
    assert report.ok, report.summary()
    await check_all(world)


async def test_a_customer_matched_late_gets_its_lifecycle_fields(world: World) -> None:
    first = await run_once(world.settings)
    assert first.ok, first.summary()
    truth = await read_truth(world.settings)
    uuid = next(
        c["uuid"]
        for c in world.scenario["customers"].values()
        if c["link"] == "freemail" and truth.customers[c["uuid"]].mrr
    )
    customer = truth.customers[uuid]
    sf = world.sandbox.salesforce.store
    account_id = sf.insert("Account", {"Name": "Matched Late Ltd"})
    sf.insert("Contact", {"LastName": "Late", "Email": customer.email, "AccountId": account_id})

    report = await run_once(world.settings)  # no new movement: only the link is new
    assert report.ok, report.summary()
    account = sf.get("Account", account_id)
    assert account.get("CM_Customer_UUID__c") == uuid
    assert account.get("CM_MRR__c") == customer.mrr / 100
    last = max((a for a in truth.activities if a.customer_uuid == uuid), key=lambda a: a.date)
    assert account.get("CM_Plan__c") == truth.plans[last.plan_external_id or ""]
    assert account.get("CM_Lifecycle_Stage__c") in {"New", "Active", "At Risk"}
