"""The Salesforce gateway replaying recorded exchanges (see conftest.py for re-recording).

The recorded login (JWT bearer) keeps neither the assertion nor the token; in replay a
throwaway key signs an assertion that is redacted before matching, as it was when recorded.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cmsync.config import SalesforceSettings, Settings
from cmsync.retry import RetryPolicy
from cmsync.salesforce.collections import CollectionsWriter
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.soql import soql
from tests.replay.conftest import HOSTS, SALESFORCE_INSTANCE, SALESFORCE_LOGIN


def _replay_settings(tmp_path: Path) -> SalesforceSettings:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "throwaway.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return SalesforceSettings(
        login_url=SALESFORCE_LOGIN,  # type: ignore[arg-type]
        client_id="3MVG9replayed",
        username="integration@cmsync-sandbox.example",
        private_key_file=pem,
    )


@pytest.fixture
async def gateway(
    record_settings: Settings | None, tmp_path: Path
) -> AsyncIterator[SalesforceGateway]:
    if record_settings is None:
        settings = _replay_settings(tmp_path)
    else:
        settings = record_settings.salesforce
        login = str(settings.login_url)
        HOSTS.add(login, SALESFORCE_LOGIN, "/services/oauth2/")
        # The sandbox serves the instance from its login origin; a real org has its own host,
        # which the recorded token answer names: CMSYNC_RECORD_INSTANCE tells it beforehand.
        HOSTS.add(os.environ.get("CMSYNC_RECORD_INSTANCE", login), SALESFORCE_INSTANCE)
    gw = SalesforceGateway(settings, policy=RetryPolicy(max_attempts=1))
    try:
        yield gw
    finally:
        await gw.close()


@pytest.mark.vcr
async def test_query_upsert_and_read_back(gateway: SalesforceGateway) -> None:
    count = await gateway.query("SELECT COUNT() FROM Account")
    assert count["totalSize"] > 0
    writer = CollectionsWriter(gateway)
    records = [
        {"CM_Sync_Key__c": f"cmsync-replay-task-{i}", "Subject": f"Replay task {i}"}
        for i in range(3)
    ]
    results = await writer.upsert("Task", "CM_Sync_Key__c", records)
    assert [r.success for r in results] == [True, True, True]
    keys = [r["CM_Sync_Key__c"] for r in records]
    found = await gateway.query(
        soql("SELECT Id, Subject FROM Task WHERE CM_Sync_Key__c IN {keys}", keys=keys)
    )
    assert found["totalSize"] == 3
    describe = await gateway.restful("sobjects/Account/describe/")
    names = {f["name"] for f in describe["fields"]}
    assert {"CM_Customer_UUID__c", "CM_MRR__c"} <= names
    assert gateway.budget.snapshot().used is not None
