"""A churn-risk Task's due date counts from Salesforce's date, not from this machine's clock.

``ActivityDate`` is a date in the org; a VM clock a day off would date every Task a day off.
cmsync reads the org's clock from the ``Date`` header of its answers (RFC 9110 §6.6.1; see
``state.serverclock``), and a Task raised by a pass is due ``sync.due_days`` after the org's
today. The sandbox dates its answers by its emulated clock, which the test moves ahead of this
machine's by 30 hours, so the two dates always differ. A seeded sandbox, real sockets, the
passes ``cmsync once`` runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from cmsync.sandbox.serve import LoopThread
from tests.integration.test_alert_withdrawal import _buy, _never_paid, _tasks
from tests.support.drive import start_world, sync_until_settled
from tests.support.invariants import World

AHEAD = timedelta(hours=30)


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path_factory.mktemp("due"), seed=23, accounts=8) as w:
        yield w


async def test_a_task_is_due_days_after_the_orgs_today(world: World) -> None:
    await sync_until_settled(world)
    clock = world.sandbox.ctx.clock
    clock.advance(AHEAD.total_seconds())
    customer, account = _never_paid(world)[0]
    now = clock.now().replace(microsecond=0)
    _buy(world, customer, "due", now - timedelta(hours=6), 5_000)
    await sync_until_settled(world)
    cm = world.sandbox.chartmogul.store
    sub = next(s for s in cm.registry.customers[customer].subscriptions.values()
               if s.external_id == "due-sub")  # fmt: skip
    cm.cancel_subscription(sub.uuid, now - timedelta(hours=3))
    await sync_until_settled(world)
    [task] = _tasks(world, account)
    assert "churned" in task["Subject"].lower()
    org_today = clock.now().astimezone(UTC).date()
    assert org_today != datetime.now(UTC).date()  # this machine's today is another day
    due = date.fromisoformat(str(task["ActivityDate"]))
    assert due == org_today + timedelta(days=world.settings.sync.due_days)
