"""A yearly plan bought on 29 February ends its first cycle on 28 February a year on.

The first-cycle sweep (``cmsync.pipeline.streams.cycles``) takes an account from New to Active once
one billing period of its plan has passed since the customer's start. The period is
``state.periods``': before it, a yearly plan's period was ``replace(year=...)``, which raised
on a leap day and failed the sweep for every account. A seeded sandbox, real sockets, the
passes ``cmsync once`` runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from cmsync.sandbox.serve import LoopThread
from state import Store
from tests.integration.test_alert_withdrawal import _never_paid, _ts
from tests.support.drive import start_world, sync_until_settled
from tests.support.invariants import World, live_rows

LEAP_DAY = datetime(2024, 2, 29, 9, tzinfo=UTC)
RENEWALS = (LEAP_DAY, datetime(2025, 2, 28, 9, tzinfo=UTC), datetime(2026, 2, 28, 9, tzinfo=UTC))


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path_factory.mktemp("leapday"), seed=29, accounts=8) as w:
        yield w


def _annual_invoices(world: World, customer: str) -> list[dict[str, object]]:
    cm = world.sandbox.chartmogul.store
    source = cm.registry.customers[customer].data_source.uuid
    plan = next(p for p in cm.run(cm.sources.list_plans, {})["plans"]
                if p["interval_unit"] == "year" and p["data_source_uuid"] == source)  # fmt: skip
    ends = (*RENEWALS[1:], datetime(2027, 2, 28, 9, tzinfo=UTC))
    return [
        {"external_id": f"leap-inv-{n}", "date": _ts(start), "currency": "USD",
         "line_items": [
             {"type": "subscription", "subscription_external_id": "leap-sub",
              "plan_uuid": plan["uuid"], "service_period_start": _ts(start),
              "service_period_end": _ts(end), "amount_in_cents": 120_000, "quantity": 1,
              "external_id": f"leap-li-{n}"}],
         "transactions": [{"type": "payment", "date": _ts(start), "result": "successful",
                           "external_id": f"leap-tx-{n}"}]}
        for n, (start, end) in enumerate(zip(RENEWALS, ends, strict=True))
    ]  # fmt: skip


async def test_a_leap_day_customer_on_a_yearly_plan_becomes_active(world: World) -> None:
    customer, account = _never_paid(world)[0]  # bought before cmsync's first read of the feed
    world.sandbox.chartmogul.store.import_invoices(customer, _annual_invoices(world, customer))

    reports = await sync_until_settled(world)

    failed = [s for r in reports for s in r.steps if not s.ok]
    assert not failed, [(s.name, s.error) for s in failed]
    with Store.open(world.store_path) as store, store.transaction() as tx:
        state = tx.accounts.get(customer)
    assert state is not None and state.customer_since is not None
    assert state.customer_since.date() == LEAP_DAY.date()
    assert state.lifecycle_state == "active"  # its first year ended on 28 February 2025
    shown = next(a for a in live_rows(world.sandbox, "Account") if a["Id"] == account)
    assert shown[world.settings.fields.account.stage] == "Active"
