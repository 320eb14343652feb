"""Late movements and page boundaries: cmsync's real pass (``run_once``) against the sandbox.

ChartMogul processes each data source with a delay (Import API data "within a few minutes",
help.chartmogul.com article 360002155580; PayPal hours behind) and dates activities by their
business date, so a movement can show up hours after movements dated later were read. And the
activities ``cursor`` names the next, unseen entry (the official Ruby client's recorded
traffic), so a client trusting it skips one entry per page: cmsync pages with ``start-after``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from cmsync.chartmogul.records import Activity
from cmsync.pipeline.once import run_once
from cmsync.pipeline.streams.activities import movement
from cmsync.sandbox.chartmogul.records import Customer, Subscription
from cmsync.sandbox.runner import SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import SignalRef, Store
from tests.support.invariants import (
    ALERT_KINDS,
    MATCHABLE,
    World,
    check_no_duplicates,
    live_rows,
    read_truth,
)

PAYPAL_DELAY = 3 * 3600  # the seeded PayPal source (cmsync.sandbox.scenario.model)


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Enough customers for a feed of several 200-entry pages and a few PayPal customers.
    options = SandboxOptions(directory=tmp_path_factory.mktemp("late"), accounts=260, seed=11)
    running = sandbox_loop.call(start_sandbox(options))
    try:
        yield World.of(running)
    finally:
        sandbox_loop.call(running.stop())


def _now(world: World) -> datetime:
    return world.sandbox.ctx.clock.now()


async def _once(world: World) -> None:
    report = await run_once(world.settings, clock=world.sandbox.ctx.clock.now)
    assert report.ok, report.summary()


def _applied(world: World, activities: list[Activity]) -> set[str]:
    store = Store.open(world.store_path)
    try:
        with store.transaction() as tx:
            refs = [SignalRef(a.customer_uuid, movement(a).key) for a in activities]
            return {ref.key for ref in tx.signals.applied(refs)}
    finally:
        store.close()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _paying_subscription(customer: Customer, now: int) -> Subscription | None:
    timeline = customer.timeline
    if timeline is None or timeline.customer_mrr_at(now) <= 0:
        return None
    for subscription in customer.subscriptions.values():
        if timeline.subscription_mrr_at(subscription.index, now) > 0:
            return subscription
    return None


def _contract(world: World, at: datetime) -> tuple[str, int]:
    """Halve the price of a linked PayPal customer's subscription from ``at`` (an import,
    held by PayPal's delay); the customer's uuid and its MRR before."""
    store = world.sandbox.chartmogul.store
    with store.lock:
        now = store.registry.now()
        for key, seeded in world.scenario["customers"].items():
            if seeded["data_source"] != "paypal" or seeded["link"] not in MATCHABLE:
                continue
            customer = store.registry.customers[seeded["uuid"]]
            subscription = _paying_subscription(customer, now)
            if subscription is None:
                continue
            last = max(subscription.line_items, key=lambda i: i.service_period_start or 0)
            assert last.plan is not None and customer.timeline is not None
            before = customer.timeline.customer_mrr_at(now)
            line: dict[str, Any] = {
                "type": "subscription", "subscription_external_id": subscription.external_id,
                "plan_uuid": last.plan.uuid, "service_period_start": _stamp(at),
                "service_period_end": _stamp(at + timedelta(days=30)),
                "amount_in_cents": last.amount_in_cents // 2, "quantity": last.quantity,
            }  # fmt: skip
            invoice = {"external_id": f"late-{key}", "date": _stamp(at), "currency": "USD",
                       "line_items": [line]}  # fmt: skip
            store.import_invoices(customer.uuid, [invoice])
            return customer.uuid, before
    raise AssertionError("the scenario has no paying linked PayPal customer")


def _new_business(world: World, at: datetime) -> None:
    """A movement dated ``at`` on the Import API source (no delay): shown at once."""
    store = world.sandbox.chartmogul.store
    ds = world.sandbox.seeded.data_source_uuid
    plan = store.registry.plan_by_external[(ds, "growth_monthly")]
    created = store.create_customer(
        {"data_source_uuid": ds, "external_id": "late-newbiz", "name": "Late Newbiz Ltd"}
    )
    line = {"type": "subscription", "subscription_external_id": "late-newbiz-sub",
            "plan_uuid": plan.uuid, "service_period_start": _stamp(at),
            "service_period_end": _stamp(at + timedelta(days=30)),
            "amount_in_cents": 9_900}  # fmt: skip
    store.import_invoices(
        str(created["uuid"]),
        [{"external_id": "late-newbiz-1", "date": _stamp(at), "currency": "USD",
          "line_items": [line]}],
    )  # fmt: skip


async def test_no_activity_is_skipped_at_a_page_boundary(world: World) -> None:
    await _once(world)
    truth = await read_truth(world.settings)
    assert len(truth.activities) > 2 * 200  # two page boundaries at least
    # Every activity of the feed was read and applied; a client that trusted the cursor
    # would have missed the first entry of every page after the first.
    applied = _applied(world, truth.activities)
    missing = [a for a in truth.activities if movement(a).key not in applied]
    assert not missing


async def test_a_contraction_shown_hours_late_still_raises_its_task_once(world: World) -> None:
    start = _now(world)
    uuid, before = _contract(world, start - timedelta(hours=1))
    _new_business(world, start - timedelta(minutes=30))  # a later-dated movement, read first
    await _once(world)
    truth = await read_truth(world.settings)
    assert truth.customers[uuid].mrr == before  # PayPal has not processed it yet
    assert not [a for a in truth.activities if a.customer_uuid == uuid and a.date >= start
                - timedelta(hours=2)]  # fmt: skip

    world.sandbox.ctx.clock.advance(PAYPAL_DELAY + 300)
    await _once(world)
    truth = await read_truth(world.settings)
    [late] = [a for a in truth.activities if a.customer_uuid == uuid and a.type == "contraction"
              and a.date >= start - timedelta(hours=2)]  # fmt: skip
    assert truth.customers[uuid].mrr < before
    assert _applied(world, [late]) == {movement(late).key}

    sync_key = world.settings.fields.sync_key
    key = movement(late).key
    wanted = {f"cmsync:{k}:{hashlib.sha256(key.encode()).hexdigest()[:40]}" for k in ALERT_KINDS}

    def alerts() -> list[dict[str, Any]]:
        return [r for r in live_rows(world.sandbox, "Task") if r.get(sync_key) in wanted]

    assert len(alerts()) == 1
    account = next(
        a for a in live_rows(world.sandbox, "Account") if a.get("CM_Customer_UUID__c") == uuid
    )
    assert account["CM_MRR__c"] == truth.customers[uuid].mrr / 100  # the fields, too

    # Read again on the next due re-read: a replay, nothing doubled.
    world.sandbox.ctx.clock.advance(3600)
    await _once(world)
    assert len(alerts()) == 1
    check_no_duplicates(world)
