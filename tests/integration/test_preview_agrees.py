"""The dry run's preview and reconciliation judge "Salesforce already holds this" alike.

Against the whole sandbox over loopback TLS: an Account holds values that cmsync's pending
writes spell differently (an empty text Salesforce keeps as null, a date-time in another
offset, an integral amount answered as an integer). The preview, reading the Account as the
dry run does, calls the write ``unchanged``, and reconciliation's diff over the same answer
finds no drift. Before the one rule (``state.samevalue``), the preview showed the empty text
as a change from null that reconciliation did not see.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce

from cmsync.pipeline.dispatch.preview import build_preview
from cmsync.pipeline.reconcile_diff import diff_fields
from cmsync.retry import RetryPolicy
from cmsync.salesforce.budget import ApiBudget
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.runner import RunningSandbox
from state import OutboxItem, Store, System
from tests.support.invariants import load_world_settings

HELD = {
    "CM_Plan__c": None,
    "CM_Last_Activity__c": "2024-03-05T10:00:00.000Z",
    "CM_MRR__c": 12,
    "CM_Status__c": "Active",
}
WANT = {
    "CM_Plan__c": "",  # Salesforce keeps an empty text as null
    "CM_Last_Activity__c": "2024-03-05T12:00:00.000+02:00",  # the same instant
    "CM_MRR__c": 12.0,
    "CM_Status__c": "Active",
}


@pytest.fixture(scope="module")
def sf(full_sandbox: RunningSandbox) -> Iterator[Salesforce]:
    session = requests.Session()
    session.verify = str(full_sandbox.tls.ca_bundle)
    session.trust_env = False  # a REQUESTS_CA_BUNDLE in the environment would otherwise win
    info = full_sandbox.info["salesforce"]
    yield Salesforce(
        instance_url=info["instance_url"],
        session_id=full_sandbox.salesforce.issue_token(),
        version=info["api_version"],
        session=session,
    )
    session.close()
    gc.collect()  # no response caught in a traceback may keep a socket to the emulator


@pytest.fixture
async def gateway(full_sandbox: RunningSandbox) -> AsyncIterator[SalesforceGateway]:
    settings = load_world_settings(full_sandbox.options.directory).salesforce
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
    gw = SalesforceGateway(settings, policy=policy, budget=ApiBudget(share=1.0))
    try:
        yield gw
    finally:
        await gw.close()
        gc.collect()


async def test_the_preview_and_reconciliation_agree_on_values_spelt_differently(
    full_sandbox: RunningSandbox, sf: Salesforce, gateway: SalesforceGateway, tmp_path: Path
) -> None:
    account = sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 1")["records"][0]["Id"]
    sf.Account.update(account, HELD)
    columns = ", ".join(WANT)
    held = sf.query(f"SELECT Id, {columns} FROM Account WHERE Id = '{account}'")["records"][0]  # noqa: S608
    assert held["CM_Plan__c"] is None
    assert held["CM_Last_Activity__c"] == "2024-03-05T10:00:00.000+0000"  # as Salesforce says it

    with Store.open(tmp_path / "cmsync.db") as store:
        with store.transaction() as tx:
            tx.outbox.enqueue(
                [OutboxItem("agree|account", "update", System.SALESFORCE, "Account", account,
                            WANT, "agree")]
            )  # fmt: skip
        preview = await build_preview(store, gateway)

    assert [(p.key, p.action, dict(p.changes)) for p in preview.records] == [
        (account, "unchanged", {})
    ]
    assert diff_fields(WANT, held) == ()

    # One field Salesforce does not hold: both see it, and only it.
    moved = WANT | {"CM_Status__c": "Past Due"}
    with Store.open(tmp_path / "moved.db") as store:
        with store.transaction() as tx:
            tx.outbox.enqueue(
                [OutboxItem("agree|moved", "update", System.SALESFORCE, "Account", account,
                            moved, "agree")]
            )  # fmt: skip
        preview = await build_preview(store, gateway)
    assert [dict(p.changes) for p in preview.records] == [{"CM_Status__c": ("Active", "Past Due")}]
    assert [d.field for d in diff_fields(moved, held)] == ["CM_Status__c"]
