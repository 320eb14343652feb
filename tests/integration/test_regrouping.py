"""cmsync against ChartMogul's regrouping, free customers and back-dated history: a seeded
sandbox, real sockets, the passes ``cmsync once`` runs.

Sources: Smart Activity Classification (help article 4416682609426: movements of one customer
within 60 minutes are grouped, two subscriptions bought 30 minutes apart are one new_biz, and
can be retyped afterwards); Free Customer Handling (help article 15384089786524); ChartMogul
rebuilds a customer's history with new activities when back-dated data arrives (Ruby client
cassettes: activity 2625523271 became 2625867087 after a churn was added).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from cmsync.sandbox.serve import LoopThread
from state import QuarantineKind, QuarantineStatus, Store
from tests.support.drive import start_world, sync_until_settled
from tests.support.invariants import World, live_rows


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path_factory.mktemp("regroup"), seed=13, accounts=40) as w:
        yield w


@pytest.fixture(scope="module")
def never_paid(world: World) -> list[tuple[str, str]]:
    """(customer UUID, Account Id) of matchable customers with no billing yet."""
    registry = world.sandbox.chartmogul.store.registry
    # Import API customers only: the seeded PayPal source shows its imports hours late.
    source = world.sandbox.seeded.data_source_uuid
    found = [(uuid, account) for uuid, account in world.linked().items()
             if not registry.customers[uuid].activities
             and registry.customers[uuid].data_source.uuid == source]  # fmt: skip
    assert len(found) >= 3
    return found


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _buy(world: World, customer: str, tag: str, start: datetime, cents: int,
         sub: str | None = None) -> None:  # fmt: skip
    cm = world.sandbox.chartmogul.store
    source = cm.registry.customers[customer].data_source.uuid  # plans are per data source
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


def _now(world: World) -> datetime:
    return world.sandbox.ctx.clock.now().replace(microsecond=0)


def _records(world: World, sobject: str, account: str) -> list[dict[str, Any]]:
    field = "AccountId" if sobject == "Opportunity" else "WhatId"
    return [r for r in live_rows(world.sandbox, sobject) if r.get(field) == account]


def _stage(world: World, account: str) -> Any:
    name = world.settings.fields.account.stage
    return next(a for a in live_rows(world.sandbox, "Account") if a["Id"] == account).get(name)


def _quarantined(world: World) -> list[Any]:
    store = Store.open(world.store_path)
    try:
        with store.transaction() as tx:
            return [q for q in tx.queries.quarantine(QuarantineStatus.OPEN)
                    if q.kind is not QuarantineKind.AMBIGUOUS_MATCH]  # fmt: skip
    finally:
        store.close()


def _kinds(world: World, customer: str) -> list[str]:
    activities = world.sandbox.chartmogul.store.registry.customers[customer].activities
    return [a.kind.value for a in activities]


async def test_two_purchases_30_minutes_apart_raise_no_expansion_opportunity(
    world: World, never_paid: list[tuple[str, str]]
) -> None:
    """cmsync reads the feed between the two purchases: the second comes as a new_biz for
    an account already New, which converges quietly (no Opportunity, nothing quarantined)."""
    await sync_until_settled(world)
    customer, account = never_paid[0]
    first = _now(world) - timedelta(hours=2)
    _buy(world, customer, "rg1", first, 5_000)
    await sync_until_settled(world)
    assert _stage(world, account) == "New"
    _buy(world, customer, "rg2", first + timedelta(minutes=30), 2_000)
    await sync_until_settled(world)
    assert _kinds(world, customer) == ["new_biz", "new_biz"]
    # cmsync's Opportunities carry its sync key; the Account may have deals of its own
    assert [o for o in _records(world, "Opportunity", account) if o.get("CM_Sync_Key__c")] == []
    assert _stage(world, account) == "New"
    mrr = world.settings.fields.account.mrr
    shown = next(a for a in live_rows(world.sandbox, "Account") if a["Id"] == account)
    assert shown[mrr] == 70.0
    assert _quarantined(world) == []


async def test_a_free_customer_gets_no_churn_task(
    world: World, never_paid: list[tuple[str, str]]
) -> None:
    """A paying customer given a 100% discount: ChartMogul keeps it Active (Free Customer
    Handling) and types the fall a contraction; cmsync raises no churn Task."""
    customer, account = never_paid[1]
    start = _now(world) - timedelta(days=3)
    _buy(world, customer, "fr1", start, 5_000, sub="fr-sub")
    await sync_until_settled(world)
    _buy(world, customer, "fr2", _now(world) - timedelta(hours=1), 0, sub="fr-sub")
    await sync_until_settled(world)
    assert _kinds(world, customer) == ["new_biz", "contraction"]
    subjects = [t.get("Subject", "") for t in _records(world, "Task", account)]
    assert not [s for s in subjects if "churned" in s.lower()]
    assert _stage(world, account) in ("New", "Active", "At Risk")
    assert _quarantined(world) == []


async def test_a_back_dated_churn_before_an_expansion_converges_without_quarantine(
    world: World, never_paid: list[tuple[str, str]]
) -> None:
    """A subscription cancelled back-dated before a later purchase: ChartMogul rebuilds the
    history (the purchase becomes a reactivation). Nothing is quarantined, no churn Task is
    raised for a churn the customer has come back from, and the stage follows ChartMogul."""
    customer, account = never_paid[2]
    _buy(world, customer, "bd1", _now(world) - timedelta(days=5), 5_000)
    await sync_until_settled(world)
    _buy(world, customer, "bd2", _now(world) - timedelta(hours=1), 3_000)
    await sync_until_settled(world)
    assert _kinds(world, customer) == ["new_biz", "expansion"]
    cm = world.sandbox.chartmogul.store
    subscription = cm.registry.customers[customer].subscriptions
    first = next(s for s in subscription.values() if s.external_id == "bd1-sub")
    cm.cancel_subscription(first.uuid, _now(world) - timedelta(days=3))
    assert _kinds(world, customer) == ["new_biz", "churn", "reactivation"]
    await sync_until_settled(world)
    assert _quarantined(world) == []
    assert _stage(world, account) in ("New", "Active")
    subjects = [t.get("Subject", "") for t in _records(world, "Task", account)]
    assert not [s for s in subjects if "churned" in s.lower()]
    assert len(_records(world, "Opportunity", account)) == 1  # the expansion, once
