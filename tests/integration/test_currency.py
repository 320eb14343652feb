"""Currencies through cmsync's real pipeline (`cmsync once`'s code path) against the sandbox.

ChartMogul converts invoices into its account currency (a 10,000 cent EUR line showed as
10,908 in a USD account) and reports customers' MRR in it; exchange-rate drift moves a
customer's MRR without any movement (a churn of -780 undid a new_biz of +756). cmsync writes
the figures as ChartMogul reports them: a EUR-billed customer's Account holds dollars, and
after drift the customer sweep (the customer record is the authority for MRR) repairs the
figure, with no alert: nothing in the feed moved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cmsync.pipeline.once import run_once
from cmsync.sandbox.chartmogul.history import line_item_mrr
from cmsync.sandbox.chartmogul.rates import RateSchedule
from cmsync.sandbox.chartmogul.timefmt import to_ts
from cmsync.sandbox.runner import SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from tests.support.invariants import MATCHABLE, World, check_all, live_rows


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("currency")
    running = sandbox_loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=24)))
    try:
        yield World.of(running)
    finally:
        sandbox_loop.call(running.stop())


def _euro_customer(world: World) -> tuple[str, str, int]:
    """A linked EUR-billed customer paying now on one subscription: (uuid, Account Id, the
    MRR in EUR cents as billed)."""
    registry = world.sandbox.chartmogul.store.registry
    now = registry.now()
    accounts = world.scenario["accounts"]
    for seeded in world.scenario["customers"].values():
        if seeded["currency"] != "EUR" or seeded["link"] not in MATCHABLE:
            continue
        customer = registry.customers[seeded["uuid"]]
        if len(customer.subscriptions) != 1 or customer.timeline is None:
            continue
        [subscription] = customer.subscriptions.values()
        started = [i for i in subscription.line_items if (i.service_period_start or now) < now]
        current = max(started, key=lambda i: i.service_period_start or 0, default=None)
        if current is not None and customer.timeline.customer_mrr_at(now) > 0:
            return seeded["uuid"], accounts[seeded["account"]]["id"], line_item_mrr(current)
    raise AssertionError("the seeded company has no paying EUR customer")


def _account(world: World, account_id: str) -> dict[str, Any]:
    [row] = [r for r in live_rows(world.sandbox, "Account") if r["Id"] == account_id]
    return row


def _alerts(world: World, account_id: str) -> list[dict[str, Any]]:
    return [
        row
        for sobject in ("Task", "Case", "Opportunity")
        for row in live_rows(world.sandbox, sobject)
        if account_id in (row.get("WhatId"), row.get("AccountId"))
    ]


async def test_a_euro_customer_is_written_in_the_account_currency_and_drift_is_repaired(
    world: World,
) -> None:
    report = await run_once(world.settings)
    assert report.ok, report.summary()
    await check_all(world)  # every linked Account equals ChartMogul's figures

    uuid, account_id, euros = _euro_customer(world)
    now = world.sandbox.chartmogul.store.registry.now()
    dollars = RateSchedule("USD").convert(euros, "EUR", now)
    assert dollars == round(euros * 1.0908) and dollars != euros
    assert _account(world, account_id)["CM_MRR__c"] == dollars / 100
    assert _account(world, account_id)["CM_ARR__c"] == 12 * dollars / 100

    # Drift, from now on: through the sandbox's admin path, as an operator's test would.
    info = world.sandbox.info
    feed_before = [a.position for a in world.sandbox.chartmogul.store.registry.feed]
    alerts_before = _alerts(world, account_id)
    answer = await asyncio.to_thread(
        requests.post,
        info["chartmogul"]["admin_url"] + "/rates",
        json={"rates": {"EUR": 1.25}},
        verify=info["ca_bundle"],
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    drifted = RateSchedule("USD")
    drifted.change(to_ts(world.sandbox.ctx.clock.now()) - 1, {"EUR": 1_250_000})
    expected = drifted.convert(euros, "EUR", to_ts(world.sandbox.ctx.clock.now()))
    assert world.sandbox.chartmogul.store.registry.customers[uuid].timeline is not None
    assert [a.position for a in world.sandbox.chartmogul.store.registry.feed] == feed_before

    again = await run_once(world.settings)
    assert again.ok, again.summary()
    assert _account(world, account_id)["CM_MRR__c"] == expected / 100  # repaired by the sweep
    assert _alerts(world, account_id) == alerts_before  # no movement, so no alert
    await check_all(world)
