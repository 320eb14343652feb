"""Containment per field: a value that does not fit its Salesforce field never sinks the rest
of the record's write, against the sandbox over real sockets (``cmsync once``'s code path).

- a 9,000-character customer name (so a ``CM_URL__c`` far over its 255) and a
  10,000-character plan name (``CM_Plan__c``): cut with an ellipsis, the audit saying so, and
  the Account still gets its MRR, ARR and UUID;
- an org whose restricted ``CM_Lifecycle_Stage__c`` lacks "Active" (only describe says so:
  the catalogue has it): the stage is left out of those Accounts' writes, their figures go,
  and the refusal is one problem listing the Accounts, however many passes meet it;
- a negative MRR (an invoice line of a negative amount): never written, quarantined as a bad
  record naming the figure;
- a Salesforce Website of ``javascript:alert(1)`` on a won deal's Account: the ChartMogul
  customer is created without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cmsync.pipeline.once import run_once
from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE, PicklistValue
from cmsync.sandbox.runner import SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import QuarantineKind, QuarantineStatus, Store
from state.fieldfit import ELLIPSIS
from tests.support.drive import start_world, sync_until_settled
from tests.support.invariants import World, live_rows, read_truth

SEED, ACCOUNTS = 29, 8


def _ts(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"))


def _bill(world: World, customer: str, plan_uuid: str, tag: str, cents: int) -> None:
    """A monthly subscription on ``plan_uuid``, invoiced and paid an hour ago."""
    start = world.sandbox.ctx.clock.now().replace(microsecond=0) - timedelta(hours=1)
    world.sandbox.chartmogul.store.import_invoices(
        customer,
        [{
            "external_id": f"{tag}-inv", "date": _ts(start), "currency": "USD",
            "line_items": [{
                "type": "subscription", "subscription_external_id": f"{tag}-sub",
                "plan_uuid": plan_uuid, "service_period_start": _ts(start),
                "service_period_end": _ts(start + timedelta(days=30)),
                "amount_in_cents": cents, "quantity": 1, "external_id": f"{tag}-li",
            }],
            "transactions": [{"type": "payment", "date": _ts(start), "result": "successful",
                              "external_id": f"{tag}-tx"}],
        }],
    )  # fmt: skip


def _paying(world: World) -> list[str]:
    truth = asyncio.run(read_truth(world.settings))
    return sorted(
        uuid
        for uuid in world.prompt_linked()
        if (c := truth.customers.get(uuid)) is not None and c.status == "Active" and c.mrr
    )


def _store(world: World) -> Store:
    return Store.open(world.store_path)


def _accounts(world: World) -> dict[str, dict[str, Any]]:
    return {a["Id"]: a for a in live_rows(world.sandbox, "Account")}


@pytest.fixture
def world(sandbox_loop: LoopThread, tmp_path: Path) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path / "fields", seed=SEED, accounts=ACCOUNTS) as world:
        asyncio.run(sync_until_settled(world))
        yield world


def test_over_long_values_are_cut_and_the_account_still_gets_its_figures(world: World) -> None:
    victim = _paying(world)[0]
    account_id = world.linked()[victim]
    cm = world.sandbox.chartmogul.store
    cm.run(cm.customers.update, victim, {"name": "N" * 9_000, "company": "C" * 9_000})
    ds = cm.registry.customers[victim].data_source.uuid
    plan = cm.create_plan(
        {"data_source_uuid": ds, "name": "P" * 10_000, "interval_count": 1,
         "interval_unit": "month", "external_id": "huge-plan"}
    )  # fmt: skip
    _bill(world, victim, plan["uuid"], "huge", 4_900)

    asyncio.run(sync_until_settled(world))
    truth = asyncio.run(read_truth(world.settings)).customers[victim]
    account = _accounts(world)[account_id]
    assert (account["CM_MRR__c"], account["CM_ARR__c"]) == (truth.mrr / 100, truth.arr / 100)
    assert account["CM_Customer_UUID__c"] == victim
    assert truth.chartmogul_url is not None and len(truth.chartmogul_url) > 9_000
    assert account["CM_URL__c"] == truth.chartmogul_url[:254] + ELLIPSIS
    assert account["CM_Plan__c"] == "P" * 254 + ELLIPSIS

    store = _store(world)
    try:
        with store.transaction() as tx:
            assert tx.queries.dead_letters() == []
            said = " | ".join(
                e.reason or "" for e in tx.queries.audit_after(0, limit=100_000)
                if e.record_id == account_id
            )  # fmt: skip
    finally:
        store.close()
    assert f"CM_URL__c cut from {len(truth.chartmogul_url)} to 255 characters" in said
    assert "CM_Plan__c cut from 10000 to 255 characters" in said


def _without_active() -> Any:
    spec = DEFAULT_CATALOGUE["Account"].field("CM_Lifecycle_Stage__c")
    assert spec is not None and spec.restricted_picklist
    kept = tuple(p for p in spec.picklist_values if p.value != "Active")
    assert all(isinstance(p, PicklistValue) for p in kept) and len(kept) < len(spec.picklist_values)
    return replace(spec, picklist_values=kept)


@pytest.fixture
def narrow_org(sandbox_loop: LoopThread, tmp_path: Path) -> Iterator[World]:
    options = SandboxOptions(
        directory=tmp_path / "narrow", seed=SEED, accounts=ACCOUNTS,
        changed_fields=(("Account", _without_active()),),
    )  # fmt: skip
    running = sandbox_loop.call(start_sandbox(options), timeout=120)
    try:
        yield World.of(running)
    finally:
        sandbox_loop.call(running.stop())


def test_a_picklist_value_the_org_lacks_is_left_out_and_reported_once(narrow_org: World) -> None:
    world = narrow_org
    reports = asyncio.run(sync_until_settled(world))
    assert all(r.ok for r in reports), reports[-1].summary()
    asyncio.run(run_once(world.settings))  # one more pass: still one problem

    truth = asyncio.run(read_truth(world.settings))
    accounts = _accounts(world)
    paying = {
        account for uuid, account in world.linked().items()
        if (c := truth.customers.get(uuid)) is not None and c.status == "Active" and c.mrr
    }  # fmt: skip
    for account_id in paying:  # every figure went, whatever became of the stage
        account = accounts[account_id]
        assert account.get("CM_Lifecycle_Stage__c") != "Active"
        assert account["CM_MRR__c"] > 0 and account["CM_Customer_UUID__c"]

    store = _store(world)
    try:
        with store.transaction() as tx:
            assert tx.queries.dead_letters() == []
            problems = [
                q for q in tx.queries.quarantine(QuarantineStatus.OPEN, limit=1_000)
                if q.kind is QuarantineKind.FIELD_LIMIT
            ]  # fmt: skip
    finally:
        store.close()
    assert len(problems) == 1
    (problem,) = problems
    assert problem.record_key == "Account.CM_Lifecycle_Stage__c:not_in_picklist"
    listed = set(problem.payload["records"])
    assert listed and listed <= paying
    assert problem.payload["count"] == len(listed)
    assert "'Active'" in problem.reason and "Fix: add 'Active' to the Account." in problem.reason


def test_a_negative_mrr_is_refused_and_reported_not_written(world: World) -> None:
    victim = _paying(world)[0]
    account_id = world.linked()[victim]
    before = _accounts(world)[account_id]["CM_MRR__c"]
    cm = world.sandbox.chartmogul.store
    ds = cm.registry.customers[victim].data_source.uuid
    plans = cm.run(cm.sources.list_plans, {"data_source_uuid": ds})["plans"]
    monthly = next(p for p in plans if p["interval_unit"] == "month")
    _bill(world, victim, monthly["uuid"], "credit", -1_000_000)

    for _ in range(2):
        report = asyncio.run(run_once(world.settings))
        assert report.ok, report.summary()
    account = _accounts(world)[account_id]
    assert account["CM_MRR__c"] == before >= 0
    assert account.get("CM_ARR__c", 0) >= 0

    store = _store(world)
    try:
        with store.transaction() as tx:
            bad = [
                q for q in tx.queries.quarantine(QuarantineStatus.OPEN, limit=1_000)
                if q.kind is QuarantineKind.BAD_RECORD
            ]  # fmt: skip
    finally:
        store.close()
    customer = [q for q in bad if q.record_key == f"Customer:{victim}"]
    assert len(customer) == 1, [(q.record_key, q.reason) for q in bad]
    assert "negative MRR or ARR cannot be true" in customer[0].reason
    assert "mrr" in customer[0].reason
