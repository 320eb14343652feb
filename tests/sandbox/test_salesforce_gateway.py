"""cmsync's Salesforce gateway against the emulator: login, renewal, collections, budget, polling.

The gateway is built from the ``cmsync.toml`` the sandbox writes (JWT bearer flow), exactly as
the daemon builds it; simple-salesforce runs in its worker threads, the emulator in its own
thread, so every call crosses a real TLS socket.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from cmsync.config import load_settings
from cmsync.retry import RetryPolicy
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.collections import CollectionsWriter
from cmsync.salesforce.errors import (
    BudgetExhaustedError,
    SalesforcePermanentError,
    SessionExpiredError,
)
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.incremental import changed_records
from cmsync.salesforce.soql import soql
from cmsync.sandbox.faults import FaultProfile
from state.incremental import Watermark

if TYPE_CHECKING:
    from cmsync.sandbox.runner import RunningSandbox

FAST = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)


@pytest.fixture
async def gateway(full_sandbox: RunningSandbox) -> AsyncIterator[SalesforceGateway]:
    settings = load_settings(full_sandbox.config_file)
    gw = SalesforceGateway(settings.salesforce, policy=FAST)
    try:
        yield gw
    finally:
        await gw.close()
        full_sandbox.ctx.faults.set_profile("none")
        gc.collect()  # no response object may keep a socket to the emulator alive


def _calls(sandbox: RunningSandbox, method: str, path_start: str) -> int:
    """Requests the emulator counted whose route pattern starts with ``path_start``."""
    prefix = f"{method} /services/data/v{{version}}/{path_start}"
    return sum(n for k, n in sandbox.salesforce.stats.by_endpoint.items() if k.startswith(prefix))


async def test_jwt_login_and_query(
    gateway: SalesforceGateway, full_sandbox: RunningSandbox
) -> None:
    result = await gateway.query("SELECT COUNT() FROM Account")
    assert result["totalSize"] == full_sandbox.seeded.counts["accounts"]
    assert gateway.logins == 1
    snapshot = gateway.budget.snapshot()
    assert snapshot.max == 100_000 and snapshot.used is not None and snapshot.used >= 1


async def test_an_expired_session_is_renewed_once(
    gateway: SalesforceGateway, full_sandbox: RunningSandbox
) -> None:
    await gateway.query("SELECT Id FROM User LIMIT 1")
    full_sandbox.ctx.clock.advance(3 * 3600)  # past the 2-hour token lifetime
    await gateway.query("SELECT Id FROM User LIMIT 1")
    assert gateway.logins == 2
    # A token that expires on every call: renewed once, then the expiry surfaces.
    full_sandbox.ctx.faults.set_profile(FaultProfile("always-expire", token_expiry=1.0))
    with pytest.raises(SessionExpiredError):
        await gateway.query("SELECT Id FROM User LIMIT 1")
    assert gateway.logins == 3


async def test_450_records_are_three_calls_with_results_mapped_to_inputs(
    gateway: SalesforceGateway, full_sandbox: RunningSandbox
) -> None:
    writer = CollectionsWriter(gateway)
    records = [
        {
            "CM_Sync_Key__c": f"gw-test-{i:04d}",
            "Subject": f"Check account {i}",
            "Status": "Not Started",
        }
        for i in range(450)
    ]
    bad = {7, 222, 449}
    for i in bad:
        records[i]["Subject"] = "x" * 300  # STRING_TOO_LONG: refused for this record only
    before = _calls(full_sandbox, "PATCH", "composite/sobjects/")
    results = await writer.upsert("Task", "CM_Sync_Key__c", records)
    after = _calls(full_sandbox, "PATCH", "composite/sobjects/")
    assert after - before == 3 == writer.calls
    assert [r.index for r in results] == list(range(450))
    assert {r.index for r in results if not r.success} == bad
    failed = results[7]
    assert not failed.transient and failed.errors and failed.errors[0].code
    assert all(r.created for i, r in enumerate(results) if i not in bad)
    again = await writer.upsert("Task", "CM_Sync_Key__c", records[:5])
    assert [r.created for r in again] == [False] * 5  # upsert on the key: no duplicate


async def test_a_whole_request_refusal_fails_each_record(gateway: SalesforceGateway) -> None:
    results = await CollectionsWriter(gateway).upsert(
        "Task", "No_Such_Field__c", [{"No_Such_Field__c": "a", "Subject": "x"}]
    )
    assert len(results) == 1 and not results[0].success and not results[0].transient


async def test_a_malformed_query_is_permanent(gateway: SalesforceGateway) -> None:
    with pytest.raises(SalesforcePermanentError) as caught:
        await gateway.query("SELECT Id FROM Account WHERE")
    assert caught.value.code == "MALFORMED_QUERY"


async def test_budget_exhaustion_pauses_until_the_day_rolls_over(
    full_sandbox: RunningSandbox,
) -> None:
    settings = load_settings(full_sandbox.config_file)
    gateway = SalesforceGateway(settings.salesforce, policy=FAST, budget=ApiBudget(share=1.0))
    allowance = full_sandbox.salesforce.allowance
    # An allocation with exactly one call left today.
    full_sandbox.ctx.faults.set_profile(FaultProfile("tiny", daily_api_limit=allowance.used + 1))
    try:
        await gateway.query("SELECT Id FROM User LIMIT 1")
        with pytest.raises(BudgetExhaustedError):
            await gateway.query("SELECT Id FROM User LIMIT 1")
        assert gateway.budget.pace() == "paused" and not gateway.budget.fits(1)
        now = full_sandbox.ctx.clock.now()
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=5, microsecond=0)
        full_sandbox.ctx.clock.advance((midnight - now).total_seconds())
        await gateway.refresh_limits()
        assert gateway.budget.fits(1) and gateway.budget.pace() != "paused"
    finally:
        full_sandbox.ctx.faults.set_profile("none")
        await gateway.close()


async def test_changed_records_reads_each_change_once(
    gateway: SalesforceGateway, full_sandbox: RunningSandbox
) -> None:
    lookback = timedelta(minutes=5)
    clock = full_sandbox.ctx.clock

    async def read(watermark: Watermark) -> tuple[list[str], Watermark]:
        ids: list[str] = []
        current = watermark
        async for page, current in changed_records(  # noqa: B007 (the last one is kept)
            gateway, "Contact", ["Email"], where=None, watermark=watermark,
            lookback=lookback, now=clock.now(),
        ):  # fmt: skip
            ids.extend(r["Id"] for r in page)
        return ids, current

    first, watermark = await read(Watermark())
    assert len(first) == len(set(first)) == full_sandbox.seeded.counts["contacts"]
    repeat, watermark = await read(watermark)
    assert repeat == []  # the overlap window re-read everything recent, and dropped it
    clock.advance(2)
    changed = first[:3]
    for record_id in changed:
        await gateway.restful(
            f"sobjects/Contact/{record_id}", method="PATCH", json={"Title": "CFO"}
        )
    clock.advance(2)
    later, _ = await read(watermark)
    assert sorted(later) == sorted(changed)


async def test_soql_helper_round_trips_hostile_values(gateway: SalesforceGateway) -> None:
    hostile = "o'brien\\' OR Name != '' --@example.com"
    query = soql("SELECT Id FROM Contact WHERE Email = {email}", email=hostile)
    assert (await gateway.query(query))["totalSize"] == 0
    since = datetime(2020, 1, 1, tzinfo=UTC)
    query = soql("SELECT COUNT() FROM Contact WHERE CreatedDate > {since}", since=since)
    assert (await gateway.query(query))["totalSize"] > 0
