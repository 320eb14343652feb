"""The daemon's start describes each sObject once, and a fresh describe sees the org as it is.

The start reads the mapped objects' describes for two purposes, the mapping gate
(``admin.org_gate``) and the field limits writes are fitted to (``field_limits``); the
gateway keeps each describe for the process, so the sandbox serves one describe request per
object. The doctor asks afresh: a field the operator deploys after the start is in its
answer, and the kept describe is renewed by it. The real daemon (``Daemon.run``, what
``cmsync run`` runs) runs in this process against the sandbox over its sockets; the
sandbox's access log says which object each describe request named.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmsync.admin.needs import needs
from cmsync.admin.sf_checks import check_object
from cmsync.config import Settings, load_settings
from cmsync.daemon import Daemon
from cmsync.salesforce.field_limits import WRITTEN_OBJECTS
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.salesforce.schema import FieldSpec, FieldType
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from tests.support.waiting import until

_DESCRIBE = re.compile(r" GET /services/data/v[\d.]+/sobjects/(\w+)/describe/? ")


@pytest.fixture(scope="module")
def sandbox(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    options = SandboxOptions(directory=tmp_path_factory.mktemp("describe-once"), accounts=4)
    running = sandbox_loop.call(start_sandbox(options))
    try:
        yield running
    finally:
        gc.collect()  # no lingering client response may hold a socket to the emulators
        sandbox_loop.call(running.stop())


def _described(caplog: pytest.LogCaptureFixture) -> Counter[str]:
    """Describe requests the sandbox served, by sObject."""
    return Counter(
        match.group(1)
        for record in caplog.records
        if record.name == "cmsync.sandbox.access"
        and (match := _DESCRIBE.search(record.getMessage())) is not None
    )


async def test_the_start_describes_each_sobject_once(
    sandbox: RunningSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cmsync.sandbox.access")
    loaded = load_settings(sandbox.config_file)
    settings: Settings = loaded.model_copy(
        update={"store": loaded.store.model_copy(update={"path": tmp_path / "cmsync.db"})}
    )
    daemon = Daemon(settings, target_label="sandbox", grace=5.0)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        # Started: the mapping gate and the first refresh (the field limits) are behind it.
        await until(
            lambda: task.done() or (daemon._scheduler is not None and daemon._scheduler.running),
            30,
            "the daemon to start",
        )
        assert not task.done(), task.exception()
    finally:
        stop.set()
        await task
    described = _described(caplog)
    gated = {need.name for need in needs(settings)}
    assert set(described) == gated | set(WRITTEN_OBJECTS)  # both users were served
    assert set(described.values()) == {1}, described


async def test_a_fresh_describe_sees_a_field_deployed_since(sandbox: RunningSandbox) -> None:
    settings = load_settings(sandbox.config_file)
    gateway = SalesforceGateway(settings.salesforce)
    org = sandbox.salesforce.store
    before = org.catalogue
    deployed = FieldSpec("CM_Deployed_Later__c", FieldType.STRING, "Deployed later", length=20)
    try:
        kept = await gateway.describe("Account")
        org.catalogue = before.replace_sobject(before["Account"].with_field(deployed))

        def names(describe: object) -> set[str]:
            assert isinstance(describe, dict)
            return {f["name"] for f in describe["fields"]}

        assert deployed.name not in names(await gateway.describe("Account"))  # the kept one
        assert await gateway.describe("Account") is kept
        # The doctor reads afresh, and what it read is kept from then on.
        [account] = [need for need in needs(settings) if need.name == "Account"]
        await check_object(gateway, account)
        assert deployed.name in names(await gateway.describe("Account"))
        gateway.forget_describes()
        assert deployed.name in names(await gateway.describe("Account"))
    finally:
        org.catalogue = before
        await gateway.close()
