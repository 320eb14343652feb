"""Bad input: hundreds of malformed and hostile records, each refused by name, nothing else hurt.

Two sandboxes are seeded alike. One is synced as it is (the clean run). The other, after a
first pass, gets:

- over 200 malformed ChartMogul entries (``hostile.malformed``) spliced into the activity,
  customer and invoice listings through the emulator's test-only ``/__sandbox/inject``: each
  must be quarantined as a bad record under its own key, with the reason naming the field;
- well-formed customers whose names and emails are SOQL injection attempts, unicode (RTL,
  combining marks, emoji, NUL) or 100 kB long, matching nothing: each must stay unmatched (a
  pending match naming it) and be written nowhere;
- Salesforce Accounts named with SOQL metacharacters and unicode, with Contacts whose emails
  hold quotes, ``%`` and ``_`` (created through the Salesforce REST API), and ChartMogul
  customers billing them: matched by email and synced like any other, verbatim;
- a 100 kB plan id on a new activity of one linked customer: too long for the Account's
  ``CM_Plan__c`` (Salesforce would refuse the whole update, STRING_TOO_LONG), it must be cut
  to the field with an ellipsis, and the rest of the update written: no dead letter;
- a new contraction for a customer whose Account was deleted in Salesforce: the Account update
  and the alert are refused ENTITY_IS_DELETED, and must be dropped (with an audit line), not
  dead-lettered, and the customer left to be matched again.

Every pass must run every step (only the dispatch reports the dead letters), and at the end
every other Account and record must be exactly as the clean run left them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from cmsync.pipeline.once import run_once
from cmsync.pipeline.sync_pass import PassReport
from cmsync.sandbox.serve import LoopThread
from state import OutboxEntry, QuarantineKind, QuarantineStatus, Store
from tests.reliability.hostile import HUGE, NASTY, activity, customer, malformed
from tests.support.drive import (
    import_invoice,
    salesforce_state,
    start_world,
    sync_until_settled,
)
from tests.support.invariants import (
    World,
    check_cursors,
    check_no_duplicates,
    live_rows,
    read_truth,
)

SEED, ACCOUNTS = 51, 30
# Accounts named to break naive SOQL and text handling, each with a Contact whose email is
# valid (Salesforce checks) but full of metacharacters; a ChartMogul customer bills each.
HOSTILE_ACCOUNTS = (
    ("O'Brien' OR Name != '", "o'brien@hostile-one.example"),
    ("x' OR '1'='1", "x'or'1'='1@hostile-two.example"),
    ("100% _Under_ Score Co", "100%_under_@hostile-three.example"),
    ("Back\\slash\\ Holdings", "back.slash@hostile-four.example"),
    ("Robert'); DROP TABLE Account;--", "bobby'drop@hostile-five.example"),
    ("\u202eevil\u202c Corp", "rtl@hostile-six.example"),
    ("e\u0301\u0302\u0303 Combining GmbH", "combining@hostile-seven.example"),
    ("Émoji 🎉🔥 Co", "emoji@hostile-eight.example"),
    ("שלום عربي Ltd", "shalom@hostile-nine.example"),
)


@pytest.fixture
def clean(sandbox_loop: LoopThread, tmp_path: Path) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path / "clean", seed=SEED, accounts=ACCOUNTS) as world:
        asyncio.run(sync_until_settled(world))
        yield world


@pytest.fixture
def world(sandbox_loop: LoopThread, tmp_path: Path) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path / "hostile", seed=SEED, accounts=ACCOUNTS) as world:
        yield world


def _salesforce(world: World) -> Salesforce:
    """simple-salesforce on the sandbox org, as any integration would reach it."""
    info = world.sandbox.info
    session = requests.Session()
    session.verify = info["ca_bundle"]
    session.trust_env = False
    return Salesforce(
        instance_url=info["salesforce"]["instance_url"],
        session_id=info["salesforce"]["access_token"],
        version=info["salesforce"]["api_version"],
        session=session,
    )


def _store_rows(world: World) -> tuple[list[Any], list[OutboxEntry], set[str]]:
    """Open quarantine entries, dead letters, and customers still pending a match."""
    store = Store.open(world.store_path)
    try:
        with store.transaction() as tx:
            quarantined = tx.queries.quarantine(QuarantineStatus.OPEN, limit=100_000)
            dead = tx.queries.dead_letters(limit=100_000)
            pending = {p.customer_uuid for p in tx.pending_matches.oldest(100_000)}
    finally:
        store.close()
    return quarantined, dead, pending


def _check_pass(report: PassReport) -> None:
    """Every step ran; only the dispatch may fail, and only for dead letters."""
    for step in report.steps:
        if step.name == "dispatch":
            assert step.ok or "dead-lettered" in step.detail, report.summary()
        else:
            assert step.ok, report.summary()


def _pick_victims(world: World) -> tuple[str, str]:
    """Two linked, paying customers: one for the huge plan id, one to lose its Account."""
    truth = asyncio.run(read_truth(world.settings))
    paying = sorted(
        uuid
        for uuid in world.linked()
        if (c := truth.customers.get(uuid)) is not None and c.status == "Active" and c.mrr
    )
    assert len(paying) >= 2
    return paying[0], paying[1]


def test_hostile_records_are_refused_by_name_and_nothing_else_changes(
    clean: World, world: World
) -> None:
    report = asyncio.run(run_once(world.settings))
    assert report.ok, report.summary()
    huge, orphan = _pick_victims(world)
    linked = world.linked()
    sf = _salesforce(world)
    cm = world.sandbox.chartmogul.store
    ds = world.sandbox.info["chartmogul"]["data_source_uuid"]
    now = world.sandbox.ctx.clock.now().replace(microsecond=0) - timedelta(hours=1)

    # Salesforce: a deleted Account, and Accounts and Contacts with hostile names and emails.
    sf.Account.delete(linked[orphan])
    hostile_accounts: dict[str, str] = {}  # Account Id -> ChartMogul customer uuid
    for n, (name, email) in enumerate(HOSTILE_ACCOUNTS):
        account_id = sf.Account.create({"Name": name})["id"]
        sf.Contact.create({"LastName": name[:80], "Email": email, "AccountId": account_id})
        created = cm.create_customer(
            {"data_source_uuid": ds, "external_id": f"hostile-{n}", "name": name,
             "email": email, "company": name},
        )  # fmt: skip
        hostile_accounts[account_id] = created["uuid"]
        import_invoice(world, created["uuid"], f"hostile-{n}")

    # ChartMogul: well-formed records carrying hostile data, then the malformed ones.
    strangers = [f"cus_{uuid.uuid5(uuid.NAMESPACE_URL, value)}" for value in NASTY]
    bad = malformed()
    injected: dict[str, list[Any]] = {"activities": [], "customers": [], "invoices": []}
    for stranger, value in zip(strangers, NASTY, strict=True):
        injected["customers"].append(
            customer(stranger, name=value, email=value, company=value, external_id=value or "x")
        )
    stamp = now.isoformat()
    injected["activities"] += [
        activity("hostile-huge-plan", huge, type="expansion", date=stamp,
                 **{"plan-external-id": HUGE, "subscription-external-id": "hostile-huge-sub"}),
        activity("hostile-orphan", orphan, type="contraction", date=stamp,
                 **{"activity-mrr-movement": -100, "activity-mrr": 100,
                    "subscription-external-id": "hostile-orphan-sub"}),
    ]  # fmt: skip
    for entry in bad:
        injected[entry.kind].append(entry.raw)
    admin = world.sandbox.info["chartmogul"]["admin_url"] + "/inject"
    ca = world.sandbox.info["ca_bundle"]
    answer = requests.post(admin, json=injected, verify=ca, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {kind: len(entries) for kind, entries in injected.items()}
    assert len(bad) >= 200

    for _ in range(2):  # the second pass must neither fail nor add a row per record again
        _check_pass(asyncio.run(run_once(world.settings)))
    quarantined, dead, pending = _store_rows(world)

    # Each malformed entry: exactly one quarantine entry under its key, naming the problem.
    bad_records = Counter(q.record_key for q in quarantined if q.kind is QuarantineKind.BAD_RECORD)
    for entry in bad:
        assert bad_records[entry.quarantine_key] == 1, (entry.why, entry.quarantine_key)
    assert sum(bad_records.values()) == len(bad), "quarantined what was not malformed"
    reasons = {q.record_key: q.reason for q in quarantined}
    assert all(": " in reasons[e.quarantine_key] for e in bad)  # "<Record> <key>: <field>: ..."

    # Hostile but well-formed customers matching nothing: pending, and written nowhere.
    assert set(strangers) <= pending
    held = {a.get("CM_Customer_UUID__c") for a in _live(world, "Account")}
    assert not held & set(strangers)

    # No dead letter: the huge plan was cut to its field, the rest of the update written.
    assert [(row.target_key, row.last_error) for row in dead] == []
    huge_account = next(a for a in _live(world, "Account") if a["Id"] == linked[huge])
    assert huge_account["CM_Plan__c"] == HUGE[:254] + "…"
    assert huge_account["CM_Customer_UUID__c"] == huge
    # The deleted Account's writes were dropped, its link with them: the customer waits for a
    # new match.
    assert orphan in pending

    # Hostile Salesforce data was matched and synced verbatim.
    truth = asyncio.run(read_truth(world.settings))
    accounts = {a["Id"]: a for a in _live(world, "Account")}
    for (name, _), (account_id, cm_uuid) in zip(
        HOSTILE_ACCOUNTS, hostile_accounts.items(), strict=True
    ):
        account = accounts[account_id]
        assert account["Name"] == name
        assert account.get("CM_Customer_UUID__c") == cm_uuid, name
        assert account.get("CM_MRR__c") == truth.customers[cm_uuid].mrr / 100 > 0, name

    # Everything else: exactly as the clean run left it.
    victims = {_scenario_key(world, linked[huge]), _scenario_key(world, linked[orphan])}
    expected, got = salesforce_state(clean), salesforce_state(world)
    for state in (expected, got):
        for key in [k for k in state.accounts if k in victims or k.startswith("name:")]:
            del state.accounts[key]
        for key in [k for k, v in state.records.items() if _concerns(v, victims)]:
            del state.records[key]
    differences = got.differences(expected)
    assert not differences, "\n".join(differences[:20])
    check_no_duplicates(world)
    check_cursors(world, truth)


def _live(world: World, sobject: str) -> list[dict[str, Any]]:
    return live_rows(world.sandbox, sobject)


def _scenario_key(world: World, account_id: str) -> str:
    return next(k for k, a in world.scenario["accounts"].items() if a["id"] == account_id)


def _concerns(record: dict[str, Any], accounts: set[str]) -> bool:
    return bool({record.get("WhatId"), record.get("AccountId")} & accounts)
