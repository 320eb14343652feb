"""cmsync follows ChartMogul's "Past Due": a failed payment of the current billing period
puts the Account's status at Past Due, its stage At Risk, and churns nothing; a successful
payment after it brings it back to Active. A seeded sandbox, real sockets, the passes
``cmsync once`` runs.

Source: help.chartmogul.com article 212811009 ("Past Due" means a past-due payment in the
most recent billing period); a Past Due customer is still a paying one (it keeps its MRR).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from cmsync.sandbox.serve import LoopThread
from tests.integration.test_alert_withdrawal import _buy, _never_paid, _tasks, _ts
from tests.support.drive import start_world, sync_until_settled
from tests.support.invariants import World, live_rows


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path_factory.mktemp("pastdue"), seed=19, accounts=30) as w:
        yield w


def _account(world: World, account: str) -> dict[str, Any]:
    return next(a for a in live_rows(world.sandbox, "Account") if a["Id"] == account)


async def test_a_failed_payment_of_the_current_period_is_past_due_not_churn(world: World) -> None:
    """The renewal invoice comes with a failed payment (as a billing system imports it)."""
    await sync_until_settled(world)
    customer, account = _never_paid(world)[0]
    now = world.sandbox.ctx.clock.now().replace(microsecond=0)
    _buy(world, customer, "pd", now - timedelta(days=34), 5_000)
    await sync_until_settled(world)
    fields = world.settings.fields.account
    cm = world.sandbox.chartmogul.store
    first = next(i for i in cm.registry.customers[customer].invoices if i.external_id == "pd-inv")
    line = first.line_items[0]
    start = now - timedelta(days=4)
    renewal = {
        "external_id": "pd-renewal", "date": _ts(start), "currency": "USD",
        "line_items": [
            {"type": "subscription", "subscription_external_id": "pd-sub",
             "plan_uuid": line.plan.uuid if line.plan else "", "service_period_start": _ts(start),
             "service_period_end": _ts(start + timedelta(days=30)), "amount_in_cents": 5_000,
             "quantity": 1, "external_id": "pd-renewal-li"}
        ],
        "transactions": [{"type": "payment", "date": _ts(start), "result": "failed",
                          "external_id": "pd-fail"}],
    }  # fmt: skip
    cm.import_invoices(customer, [renewal])
    await sync_until_settled(world)
    shown = _account(world, account)
    assert shown[fields.status] == "Past Due"
    assert shown[fields.stage] == "At Risk" and shown[fields.mrr] == 50.0
    subjects = [t.get("Subject", "") for t in _tasks(world, account)]
    assert [s for s in subjects if "failed payment" in s.lower()]
    assert not [s for s in subjects if "churned" in s.lower()]

    invoice = next(i for i in cm.registry.customers[customer].invoices
                   if i.external_id == "pd-renewal")  # fmt: skip
    recovered = {"type": "payment", "date": _ts(now), "result": "successful",
                 "external_id": "pd-ok"}  # fmt: skip
    cm.run(cm.invoices.add_transaction, invoice.uuid, recovered)
    await sync_until_settled(world)
    shown = _account(world, account)
    assert shown[fields.status] == "Active" and shown[fields.stage] in ("New", "Active")
