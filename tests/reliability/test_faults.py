"""Faults: every fault of the sandbox alone, then all mixed, over a full sync.

Each profile syncs a sandbox of its own, seeded alike, with ``run_once`` until a pass has
nothing left to do (retries made due between passes, at most ``PASSES`` passes), the profile
on throughout; a fault-free run does the same beside it. Then what cmsync wrote to Salesforce
must be the same in every sandbox, compared by natural keys (``tests.support.drive``): every
Account's synced fields, and each Task, Case and Opportunity by sync key with its fields; and
nothing may be doubled or left in the outbox. The scenario is dated by day, so sandboxes
started on the same UTC day hold the same data.

The customers cmsync creates for Closed-Won deals are sent side by side, so a fault decides
the order in which ChartMogul names them (uuid, integer id): sandboxes are compared up to those
names (``tests.support.drive.CustomerNames``), and each deal must have been imported once,
onto the customer its Account holds, which must be the same customer in every sandbox.

``throttle``, ``slow`` and ``timeouts`` cost seconds per hit (a backoff, a 1 s or 8 s hang), so
their runs are marked ``slow``. A spent daily API allocation is its own test: writes pause
(nothing dead), and resume once the sandbox's day rolls over.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cmsync.pipeline.once import run_once
from cmsync.sandbox.faults import FaultProfile
from cmsync.sandbox.serve import LoopThread
from tests.support.drive import (
    CustomerNames,
    SalesforceState,
    salesforce_state,
    start_world,
    sync_until_settled,
)
from tests.support.invariants import (
    World,
    check_all,
    check_no_duplicates,
    check_outbox,
    live_rows,
    outbox_counts,
)

SEED, ACCOUNTS, PASSES = 41, 24, 8
# Faults that cost seconds per hit (a backoff, a 1 s or 8 s hang) on a sync's ~250 requests:
# their runs take from 20 s to 2 min, so they are ``slow``; the others run by default.
SLOW_PROFILES = {"throttle", "slow", "timeouts"}
# The org's daily API allocation, and what other integrations used of it before cmsync ran:
# cmsync may drive usage up to half of it (sync.api_budget_share), so it has a few calls left.
ALLOCATION, OTHERS_USED = 100, 46
# The fault each profile injects: the run must really have met it.
PROFILE_FAULTS = {
    "throttle": "throttle",
    "errors": "server_error",
    "slow": "slow",
    "timeouts": "timeout",
    "drops": "drop",
    "lost": "lost_answer",
    "expiry": "token_expiry",
    "locks": "lock_row",
}


@dataclass
class Outcome:
    """One profile's sync: the faults it met, what it wrote, what went wrong."""

    profile: str
    injected: dict[str, int] = field(default_factory=dict)
    state: SalesforceState | None = None
    imports: dict[str, str] = field(default_factory=dict)  # deal -> its customer's name
    problems: list[str] = field(default_factory=list)


def _sync(world: World, profile: str) -> None:
    world.sandbox.ctx.faults.set_profile(profile)
    try:
        asyncio.run(sync_until_settled(world, passes=PASSES))
    finally:
        world.sandbox.ctx.faults.set_profile("none")


def imported_deals(world: World) -> dict[str, str]:
    """Each deal cmsync imported (by Opportunity name) -> its customer's canonical name.

    Asserts that each was imported once (one invoice under the Opportunity Id), onto the
    customer its Account holds, and that a customer created for it was created under the
    Account's Id: whatever the order of the creates, no deal went to another's customer.
    """
    customers = CustomerNames.of(world)
    deals = {o["Id"]: o for o in live_rows(world.sandbox, "Opportunity")}
    accounts = {a["Id"]: a for a in live_rows(world.sandbox, "Account")}
    uuid_field = world.settings.fields.account.customer_uuid
    cm = world.sandbox.chartmogul.store
    with cm.lock:
        invoices = [
            (i.external_id, i.customer.uuid, i.customer.external_id)
            for i in cm.registry.invoice_order
            if cm.registry.live_invoice(i) and i.external_id in deals
        ]
    counts = Counter(deal_id for deal_id, _, _ in invoices)
    assert all(n == 1 for n in counts.values()), f"a deal imported twice: {counts}"
    imports: dict[str, str] = {}
    for deal_id, uuid, external_id in invoices:
        deal = deals[deal_id]
        account = accounts[deal["AccountId"]]
        assert account.get(uuid_field) == uuid, (deal["Name"], account.get(uuid_field), uuid)
        if uuid in customers.created:
            assert external_id == account["Id"], (deal["Name"], external_id, account["Id"])
        imports[deal["Name"]] = customers.names[uuid]
    return imports


def _run(loop: LoopThread, directory: Path, profile: str) -> Outcome:
    outcome = Outcome(profile)
    with start_world(loop, directory, seed=SEED, accounts=ACCOUNTS) as world:
        try:
            _sync(world, profile)
            outcome.state = salesforce_state(world)
            outcome.imports = imported_deals(world)
            check_no_duplicates(world)
            check_outbox(world)
        except AssertionError as exc:
            outcome.problems.append(str(exc)[:3000])
        outcome.injected = dict(world.sandbox.ctx.faults.injected)
    return outcome


def _compare_with_a_fault_free_run(loop: LoopThread, tmp_path: Path, profiles: list[str]) -> None:
    """Sync one sandbox per profile and a fault-free one, side by side; compare them all.

    The syncs mostly wait (backoffs, hangs), so they run in threads at once: the whole takes
    about as long as the slowest profile.
    """
    day = datetime.now(UTC).date()
    names = ["none", *profiles]
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        runs = [pool.submit(_run, loop, tmp_path / name, name) for name in names]
        outcomes = {o.profile: o for o in (run.result() for run in runs)}
    if datetime.now(UTC).date() != day:
        pytest.skip("the runs crossed midnight UTC: their scenarios are different days'")
    expected = outcomes.pop("none")
    assert not expected.problems and expected.state is not None, expected.problems
    assert expected.imports, "the scenario imports no deal: the side-by-side creates go untested"
    report: list[str] = []
    for outcome in outcomes.values():
        kinds = [PROFILE_FAULTS[outcome.profile]] if outcome.profile in PROFILE_FAULTS else []
        if kinds and not outcome.injected.get(kinds[0]):
            outcome.problems.append(f"no {kinds[0]} was injected: {outcome.injected}")
        if outcome.profile == "flaky" and len(outcome.injected) < 3:
            outcome.problems.append(f"flaky injected too few kinds: {outcome.injected}")
        if outcome.state is not None:
            outcome.problems.extend(outcome.state.differences(expected.state)[:10])
        if outcome.imports != expected.imports:
            outcome.problems.append(f"deals imported {outcome.imports} != {expected.imports}")
        report.extend(f"{outcome.profile}: {problem}" for problem in outcome.problems)
    assert not report, "\n".join(report)


def test_each_fault_alone_and_all_mixed_end_as_a_fault_free_sync(
    sandbox_loop: LoopThread, tmp_path: Path
) -> None:
    profiles = [name for name in PROFILE_FAULTS if name not in SLOW_PROFILES]
    _compare_with_a_fault_free_run(sandbox_loop, tmp_path, [*profiles, "flaky"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_faults_that_cost_seconds_each_end_as_a_fault_free_sync(
    sandbox_loop: LoopThread, tmp_path: Path
) -> None:
    _compare_with_a_fault_free_run(sandbox_loop, tmp_path, sorted(SLOW_PROFILES))


@pytest.fixture
def world(sandbox_loop: LoopThread, tmp_path: Path) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path / "sandbox", seed=SEED, accounts=ACCOUNTS) as world:
        yield world


def test_a_spent_daily_allocation_pauses_writes_until_the_day_rolls_over(world: World) -> None:
    """Other integrations spent most of the org's day; cmsync's share runs out mid-sync.

    Writes pause at the share (Salesforce never has to refuse a call), nothing goes dead, a
    second pass the same day still sends nothing, and the first pass of the next day, with
    a fresh allocation, completes the sync.
    """
    sandbox = world.sandbox
    sandbox.ctx.faults.set_profile(FaultProfile("busy org", daily_api_limit=ALLOCATION))
    for _ in range(OTHERS_USED):  # the org's other integrations, earlier today
        assert sandbox.salesforce.allowance.spend()
    for _ in range(2):
        report = asyncio.run(run_once(world.settings))
        dispatch = [s for s in report.steps if s.name == "dispatch"]
        assert not dispatch[-1].ok and "paused" in dispatch[-1].detail, report.summary()
        counts = outbox_counts(world.store_path)
        assert counts.pending > 0 and counts.dead == 0 and counts.in_flight == 0, counts
    assert sandbox.salesforce.stats.by_status[403] == 0  # cmsync stopped itself in time
    paused_writes = world.write_calls().total()

    clock = sandbox.ctx.clock
    now = clock.now()
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    clock.advance((midnight - now).total_seconds() + 1)  # a new day: a new allocation
    reports = asyncio.run(sync_until_settled(world, passes=3))
    assert reports[0].ok, reports[0].summary()
    assert world.write_calls().total() > paused_writes
    sandbox.ctx.faults.set_profile("none")
    asyncio.run(check_all(world))


def test_the_comparison_is_blind_to_customer_names_only(world: World) -> None:
    """Two Accounts holding each other's customer differ, although the names are renamed.

    The canonical names hide which uuid ChartMogul gave a created customer, never which
    customer an Account holds: swapping two deals' customers on their Accounts (what a mix-up
    of the side-by-side creates would leave) shows on both Accounts and fails the import check.
    """
    asyncio.run(sync_until_settled(world, passes=PASSES))
    before = salesforce_state(world)
    created = CustomerNames.of(world).created
    uuid_field, url_field = (
        world.settings.fields.account.customer_uuid,
        world.settings.fields.account.url,
    )
    store = world.sandbox.salesforce.store
    with store.lock:
        first, second = [r for r in store.table("Account") if r.values.get(uuid_field) in created][
            :2
        ]
        for name in (uuid_field, url_field):
            first.values[name], second.values[name] = second.values[name], first.values[name]
    keys = {a["id"]: key for key, a in world.scenario["accounts"].items()}
    differences = salesforce_state(world).differences(before)
    assert [d.split(":")[0] for d in differences] == [
        f"Account {key}" for key in sorted([keys[first.id], keys[second.id]])
    ], differences
    with pytest.raises(AssertionError):
        imported_deals(world)
