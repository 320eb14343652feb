"""The ChartMogul -> Salesforce pipeline end to end: a seeded sandbox, real sockets, `once`.

Ground truth comes from the sandbox itself: ``scenario.json`` says how each customer can be
matched, ChartMogul (read with cmsync's client) says what each Account should hold, and the
Salesforce emulator's request stats count the write calls.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cmsync.chartmogul import connect
from cmsync.chartmogul.records import Activity, Customer
from cmsync.config import Settings, load_settings
from cmsync.pipeline.once import run_once
from cmsync.pipeline.translate import STAGE_LABELS
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import QuarantineKind, QuarantineStatus, Store

HORIZON_DAYS = 90  # alerts for the last quarter of the scenario's history
MATCHABLE = {"linked", "external_id", "contact_email", "domain"}
UNMATCHABLE = {"no_email", "freemail", "cm_only"}
WRITES = ("POST", "PATCH", "DELETE")


@dataclass
class World:
    sandbox: RunningSandbox
    settings: Settings
    scenario: dict[str, Any]

    def write_calls(self) -> Counter[str]:
        stats = self.sandbox.salesforce.stats.by_endpoint
        return Counter(
            {
                k: v
                for k, v in stats.items()
                if k.split(" ", 1)[0] in WRITES and "/oauth2/" not in k  # logins write nothing
            }
        )


def _settings(directory: Path) -> Settings:
    os.environ["CMSYNC_SYNC__ALERT_HORIZON_DAYS"] = str(HORIZON_DAYS)
    try:
        return load_settings(directory / "cmsync.toml")
    finally:
        del os.environ["CMSYNC_SYNC__ALERT_HORIZON_DAYS"]


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("pipeline")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=60, seed=4))
    )
    scenario = json.loads((directory / "scenario.json").read_text())
    try:
        yield World(running, _settings(directory), scenario)
    finally:
        sandbox_loop.call(running.stop())


@pytest.fixture(scope="module")
def world_for_kills(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """A sandbox of its own: the killed runs must start from an empty store."""
    directory = tmp_path_factory.mktemp("pipeline-kills")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=60, seed=5))
    )
    scenario = json.loads((directory / "scenario.json").read_text())
    try:
        yield World(running, _settings(directory), scenario)
    finally:
        sandbox_loop.call(running.stop())


@dataclass
class Truth:
    customers: dict[str, Customer]
    activities: list[Activity]
    plans: dict[str, str]  # external id -> name


async def _truth(settings: Settings) -> Truth:
    async with connect(settings.chartmogul) as cm:
        customers = {c.uuid: c async for p in cm.customer_pages() for c in p.entries}
        activities = [a async for p in cm.activity_pages() for a in p.entries]
        plans = {
            p.external_id or p.uuid: p.name async for page in cm.plan_pages() for p in page.entries
        }
    return Truth(customers, activities, plans)


@pytest.fixture
async def gateway(world: World) -> AsyncIterator[SalesforceGateway]:
    gw = SalesforceGateway(world.settings.salesforce)
    try:
        yield gw
    finally:
        await gw.close()


async def _rows(gateway: SalesforceGateway, soql: str) -> list[dict[str, Any]]:
    return [r async for page in gateway.query_pages(soql) for r in page]


def _expected_stage_labels(status: str | None) -> set[str]:
    if status == "Cancelled":
        return {"Churned"}
    if status in ("Active", "Past Due"):
        return {"New", "Active", "At Risk"}
    return {"Lead", "Trial", None}  # type: ignore[arg-type]


async def _check_invariants(world: World, gateway: SalesforceGateway) -> None:
    truth = await _truth(world.settings)
    horizon = datetime.now(UTC) - timedelta(days=HORIZON_DAYS)
    accounts = {
        r["Id"]: r
        for r in await _rows(
            gateway,
            "SELECT Id, CM_Customer_UUID__c, CM_MRR__c, CM_ARR__c, CM_Status__c, CM_Plan__c, "
            "CM_Lifecycle_Stage__c, CM_URL__c FROM Account",
        )
    }
    linked: dict[str, str] = {}  # customer uuid -> account id
    for key, customer in world.scenario["customers"].items():
        uuid, kind = customer["uuid"], customer["link"]
        holders = [a for a in accounts.values() if a["CM_Customer_UUID__c"] == uuid]
        if kind in MATCHABLE:
            account_id = world.scenario["accounts"][customer["account"]]["id"]
            assert [a["Id"] for a in holders] == [account_id], (key, kind)
            linked[uuid] = account_id
        else:
            assert holders == [], (key, kind)  # ambiguous and unmatchable: nothing written
    for uuid, account_id in linked.items():
        account, customer = accounts[account_id], truth.customers[uuid]
        assert account["CM_MRR__c"] == customer.mrr / 100, uuid
        assert account["CM_ARR__c"] == customer.arr / 100, uuid
        assert account["CM_Status__c"] == customer.status, uuid
        assert account["CM_URL__c"] == customer.chartmogul_url, uuid
        assert account["CM_Lifecycle_Stage__c"] in _expected_stage_labels(customer.status), uuid
        assert account["CM_Lifecycle_Stage__c"] in set(STAGE_LABELS.values()) | {None}
        mine = [a for a in truth.activities if a.customer_uuid == uuid]
        if mine and customer.mrr:
            last = max(mine, key=lambda a: a.date)
            assert account["CM_Plan__c"] == truth.plans.get(last.plan_external_id or ""), uuid

    # One Opportunity per expansion day, one alert per churn-risk movement, nothing twice.
    recent = [a for a in truth.activities if a.customer_uuid in linked and a.date >= horizon]
    expansion_days = {
        (a.customer_uuid, a.subscription_external_id, a.date.date())
        for a in recent
        if a.type == "expansion"
    }
    opps = await _rows(
        gateway, "SELECT CM_Sync_Key__c FROM Opportunity WHERE CM_Sync_Key__c != null"
    )
    assert len(opps) == len({o["CM_Sync_Key__c"] for o in opps}) == len(expansion_days)
    risky = [a for a in recent if a.type in ("contraction", "churn")]
    alerts = await _rows(
        gateway, "SELECT CM_Sync_Key__c, Subject FROM Task WHERE CM_Sync_Key__c LIKE 'cmsync:%'"
    )
    churn_alerts = [
        t
        for t in alerts
        if t["Subject"].startswith("Churn risk: ") and "Failed payment" not in t["Subject"]
    ]
    assert len(alerts) == len({t["CM_Sync_Key__c"] for t in alerts})
    assert len(churn_alerts) == len(risky)


async def test_a_pass_links_writes_and_alerts_exactly_once(
    world: World, gateway: SalesforceGateway
) -> None:
    report = await run_once(world.settings)
    assert report.ok, report.summary()
    await _check_invariants(world, gateway)

    store = Store.open(world.settings.store.path)
    try:
        with store.transaction() as tx:
            open_items = tx.queries.quarantine(QuarantineStatus.OPEN)
    finally:
        store.close()
    ambiguous = {q.record_key for q in open_items if q.kind is QuarantineKind.AMBIGUOUS_MATCH}
    expected = {c["uuid"] for c in world.scenario["customers"].values() if c["link"] == "ambiguous"}
    assert expected and ambiguous == expected
    assert all(len(q.candidates) == 2 for q in open_items if q.record_key in expected)

    before = world.write_calls()
    again = await run_once(world.settings)
    assert again.ok, again.summary()
    assert world.write_calls() == before  # a second pass over the same data writes nothing


def test_killed_passes_then_a_full_one_end_in_the_same_state(
    world_for_kills: World, tmp_path: Path
) -> None:
    """SIGKILL `cmsync once` at random points, several times; the run that finishes must
    leave Salesforce exactly as one uninterrupted pass would: nothing lost, nothing doubled."""
    world = world_for_kills
    config = world.sandbox.options.directory / "cmsync.toml"
    env = {**os.environ, "CMSYNC_SYNC__ALERT_HORIZON_DAYS": str(HORIZON_DAYS)}
    command = [sys.executable, "-m", "cmsync", "once", "--config", str(config)]
    rng = random.Random(7)
    killed = 0
    for _ in range(5):
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.3, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=30)
    assert killed >= 3  # most runs really were cut short
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr

    import asyncio

    async def check() -> None:
        gateway = SalesforceGateway(world.settings.salesforce)
        try:
            await _check_invariants(world, gateway)
        finally:
            await gateway.close()

    asyncio.run(check())
