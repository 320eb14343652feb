"""Inactive owners and validation rules under a running sync, through ``cmsync once``.

Salesforce refuses a Task or Case given to a deactivated user with ``INACTIVE_OWNER_OR_USER``,
and a write a validation rule rejects with ``FIELD_CUSTOM_VALIDATION_EXCEPTION`` and the rule's
own message (SOAP API Developer Guide, "StatusCode"; Salesforce Help, "Validation Rules"). cmsync
must

- give a churn-risk Task whose Account owner was deactivated to ``sync.fallback_owner``, or
  leave it to the integration user when that is unset, and never dead-letter it;
- dead-letter an Account update a rule refuses, with the rule's message shown by ``cmsync
  status``, while every other Account's update lands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from cmsync.pipeline.once import run_once
from cmsync.sandbox.serve import LoopThread
from cmsync.status import collect, render
from state import AuditEntry, OutboxEntry, Store
from tests.support.drive import import_invoice, start_world, sync_until_settled
from tests.support.invariants import World, live_rows, read_truth

SEED, ACCOUNTS = 29, 12
FALLBACK = "fallback.owner@cmsync-test.example"


@contextmanager
def _world(loop: LoopThread, directory: Path, **overrides: str) -> Iterator[World]:
    with start_world(loop, directory, seed=SEED, accounts=ACCOUNTS, **overrides) as world:
        asyncio.run(sync_until_settled(world))
        yield world


def _paying(world: World) -> list[tuple[str, str]]:
    truth = asyncio.run(read_truth(world.settings))
    return sorted(
        (uuid, account)
        for uuid, account in world.prompt_linked().items()
        if (c := truth.customers.get(uuid)) is not None and c.mrr and c.status == "Active"
    )


def _dead_and_audit(world: World) -> tuple[list[OutboxEntry], list[AuditEntry]]:
    store = Store.open(world.store_path)
    try:
        with store.transaction() as tx:
            return tx.queries.dead_letters(1000), tx.queries.recent_audit(1000)
    finally:
        store.close()


def _alert_tasks(world: World, account: str, before: set[str]) -> list[dict[str, Any]]:
    return [
        t
        for t in live_rows(world.sandbox, "Task")
        if t.get("WhatId") == account and t["Id"] not in before and t.get("CM_Sync_Key__c")
    ]


def _deactivated_owner_alert(world: World) -> tuple[list[dict[str, Any]], str]:
    """A failed payment for a customer whose Account owner was just deactivated."""
    (uuid, account), *_ = _paying(world)
    sf = world.sandbox.salesforce.store
    owner = sf.get("Account", account).get("OwnerId")
    assert isinstance(owner, str) and owner != sf.user_id
    sf.update("User", owner, {"IsActive": False})
    before = {t["Id"] for t in live_rows(world.sandbox, "Task")}
    import_invoice(world, uuid, "owner-gone", failed=True)
    reports = asyncio.run(sync_until_settled(world))
    assert all(r.ok for r in reports), reports[-1].summary()
    return _alert_tasks(world, account, before), owner


def _pass_with_dead_letters(world: World) -> None:
    """A pass whose only failure is dead letters. (Its report, errors and all, is dropped here:
    a failed step's error holds a response whose socket must close before the sandbox stops.)
    """
    report = asyncio.run(run_once(world.settings))
    for step in report.steps:
        assert step.ok or "dead-lettered" in step.detail, report.summary()


@pytest.mark.parametrize("fallback", [True, False], ids=["fallback", "no-fallback"])
def test_a_churn_task_for_a_deactivated_owner_lands_without_a_dead_letter(
    sandbox_loop: LoopThread, tmp_path: Path, fallback: bool
) -> None:
    overrides = {"CMSYNC_SYNC__FALLBACK_OWNER": FALLBACK} if fallback else {}
    with _world(sandbox_loop, tmp_path / "owners", **overrides) as world:
        sf = world.sandbox.salesforce.store
        stand_in = sf.insert(
            "User", {"LastName": "Fallback", "Email": FALLBACK, "Username": FALLBACK}
        )
        tasks, gone = _deactivated_owner_alert(world)
        assert tasks, "no churn-risk Task was written"
        expected = stand_in if fallback else sf.user_id
        assert {t["OwnerId"] for t in tasks} == {expected}
        dead, audit = _dead_and_audit(world)
        assert dead == []
        assert any(a.action == "reassigned" and gone in a.reason for a in audit)


def test_a_rule_refused_update_is_a_dead_letter_with_its_message_and_the_rest_lands(
    sandbox_loop: LoopThread, tmp_path: Path
) -> None:
    with _world(sandbox_loop, tmp_path / "rules") as world:
        (ruled_uuid, ruled), (free_uuid, free), *_ = _paying(world)
        message = "Partner accounts take no MRR from billing"
        admin = world.sandbox.info["salesforce"]["admin_url"] + "/reject"
        answer = requests.post(
            admin,
            json={"ids": [ruled], "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                  "message": message},
            verify=world.sandbox.info["ca_bundle"],
            timeout=30,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        for uuid in (ruled_uuid, free_uuid):
            import_invoice(world, uuid, f"rule-{uuid[-6:]}")
        for _ in range(2):  # the refused record dies again on each pass; the rest settles
            _pass_with_dead_letters(world)

        truth = asyncio.run(read_truth(world.settings)).customers
        sf = world.sandbox.salesforce.store
        assert sf.get("Account", free).get("CM_MRR__c") == truth[free_uuid].mrr / 100
        assert sf.get("Account", ruled).get("CM_MRR__c") != truth[ruled_uuid].mrr / 100
        dead, _ = _dead_and_audit(world)
        assert {d.target_key for d in dead} == {ruled}
        assert all(d.last_error == f"FIELD_CUSTOM_VALIDATION_EXCEPTION: {message}" for d in dead)
        shown = render(collect(world.store_path, world.sandbox.ctx.clock.now()))
        assert f"dead      Account {ruled}: FIELD_CUSTOM_VALIDATION_EXCEPTION: {message}" in shown
