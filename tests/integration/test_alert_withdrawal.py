"""Alerts of movements ChartMogul regrouped away are withdrawn: a seeded sandbox, real
sockets, the passes ``cmsync once`` runs.

Source: Smart Activity Classification (help.chartmogul.com article 4416682609426): a
customer's movements within 60 minutes are grouped and retyped afterwards, so a churn
followed 30 minutes later by a purchase becomes a contraction (and an expansion). The
emulator's engine regroups the same way (``cmsync/sandbox/chartmogul/engine.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from cmsync.pipeline.once import run_once
from cmsync.sandbox.serve import LoopThread
from tests.support.drive import start_world, sync_until_settled
from tests.support.invariants import World, live_rows


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path_factory.mktemp("withdraw"), seed=13, accounts=40) as w:
        yield w


def _never_paid(world: World) -> list[tuple[str, str]]:
    registry = world.sandbox.chartmogul.store.registry
    source = world.sandbox.seeded.data_source_uuid  # the Import API source: no delay
    return [(uuid, account) for uuid, account in world.linked().items()
            if not registry.customers[uuid].activities
            and registry.customers[uuid].data_source.uuid == source]  # fmt: skip


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _buy(world: World, customer: str, tag: str, start: datetime, cents: int,
         sub: str | None = None) -> None:  # fmt: skip
    cm = world.sandbox.chartmogul.store
    source = cm.registry.customers[customer].data_source.uuid
    plan = next(p for p in cm.run(cm.sources.list_plans, {})["plans"]
                if p["interval_unit"] == "month" and p["data_source_uuid"] == source)  # fmt: skip
    invoice = {
        "external_id": f"{tag}-inv", "date": _ts(start), "currency": "USD",
        "line_items": [
            {"type": "subscription", "subscription_external_id": sub or f"{tag}-sub",
             "plan_uuid": plan["uuid"], "service_period_start": _ts(start),
             "service_period_end": _ts(start + timedelta(days=30)), "amount_in_cents": cents,
             "quantity": 1, "external_id": f"{tag}-li"}
        ],
        "transactions": [{"type": "payment", "date": _ts(start), "result": "successful",
                          "external_id": f"{tag}-tx"}],
    }  # fmt: skip
    cm.import_invoices(customer, [invoice])


def _tasks(world: World, account: str) -> list[dict[str, Any]]:
    return [t for t in live_rows(world.sandbox, "Task")
            if t.get("WhatId") == account and t.get("CM_Sync_Key__c")]  # fmt: skip


async def test_a_churn_regrouped_into_a_contraction_closes_its_task(world: World) -> None:
    """Read as a churn (a churn-risk Task), then the customer buys again 30 minutes after
    the cancellation: ChartMogul retypes the churn as a contraction. The Task is completed
    with a description naming the regrouping, and no second churn Task is raised."""
    await sync_until_settled(world)
    customer, account = _never_paid(world)[0]
    now = world.sandbox.ctx.clock.now().replace(microsecond=0)
    cm = world.sandbox.chartmogul.store
    _buy(world, customer, "wd1", now - timedelta(hours=6), 5_000)
    await sync_until_settled(world)
    cancel_at = now - timedelta(hours=3)
    sub = next(s for s in cm.registry.customers[customer].subscriptions.values()
               if s.external_id == "wd1-sub")  # fmt: skip
    cm.cancel_subscription(sub.uuid, cancel_at)
    await sync_until_settled(world)
    [churn_task] = _tasks(world, account)
    assert "churned" in churn_task["Subject"].lower() and churn_task["Status"] == "Not Started"

    _buy(world, customer, "wd2", cancel_at + timedelta(minutes=30), 2_000)
    kinds = [a.kind.value for a in cm.registry.customers[customer].activities]
    assert kinds == ["new_biz", "contraction", "expansion"]  # the churn regrouped away
    await sync_until_settled(world)
    [task] = _tasks(world, account)  # no second Task
    assert task["Id"] == churn_task["Id"] and task["Status"] == "Completed"
    assert "regrouped" in task["Description"] and "now a contraction" in task["Description"]
    mrr = world.settings.fields.account.mrr
    shown = next(a for a in live_rows(world.sandbox, "Account") if a["Id"] == account)
    assert shown[mrr] == 20.0


async def test_a_churn_undone_within_the_hour_vanishes_and_the_re_read_closes_its_task(
    world: World,
) -> None:
    """Read as a churn, then the same subscription is bought again 30 minutes after the
    cancellation: within the hour the change is undone, so ChartMogul shows no movement at
    all. The poller cannot tell; the next re-read of the alert horizon (the late_activities
    step) no longer finds the churn and completes its Task."""
    await sync_until_settled(world)
    fresh = _never_paid(world)
    assert len(fresh) >= 2
    (customer, account), (other, _) = fresh[:2]
    now = world.sandbox.ctx.clock.now().replace(microsecond=0)
    cm = world.sandbox.chartmogul.store
    # Dated after the test above's movements: the poller reads forward from its watermark.
    _buy(world, customer, "wd3", now - timedelta(minutes=140), 5_000)
    await sync_until_settled(world)
    cancel_at = now - timedelta(minutes=75)
    sub = next(s for s in cm.registry.customers[customer].subscriptions.values()
               if s.external_id == "wd3-sub")  # fmt: skip
    cm.cancel_subscription(sub.uuid, cancel_at)
    await sync_until_settled(world)
    [churn_task] = _tasks(world, account)
    assert "churned" in churn_task["Subject"].lower() and churn_task["Status"] == "Not Started"

    _buy(world, customer, "wd4", cancel_at + timedelta(minutes=30), 5_000, sub="wd3-sub")
    assert [a.kind.value for a in cm.registry.customers[customer].activities] == ["new_biz"]
    _buy(world, other, "wd5", now - timedelta(minutes=5), 3_000)  # the poller moves on
    await sync_until_settled(world)
    assert _tasks(world, account)[0]["Status"] == "Not Started"  # not judged yet

    world.sandbox.ctx.clock.advance(3600)  # the late_activities re-read falls due
    report = await run_once(world.settings, clock=world.sandbox.ctx.clock.now)
    assert report.ok, report.summary()
    await sync_until_settled(world)
    [task] = _tasks(world, account)
    assert task["Id"] == churn_task["Id"] and task["Status"] == "Completed"
    assert "no longer in ChartMogul's activities" in task["Description"]
