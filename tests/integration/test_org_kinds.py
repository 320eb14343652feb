"""cmsync against a Salesforce sandbox org whose integration user lacks View Setup.

A sandbox org accepts only https://test.salesforce.com as the JWT audience (Salesforce Help,
"OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration"); the config `cmsync sandbox`
writes names it, since 127.0.0.1 cannot look like a sandbox host. Without "View Setup and
Configuration", /limits answers 403 (REST API Developer Guide, "Limits"): `cmsync once` and
the daemon's first refresh go on, the budget read from every answer's Sforce-Limit-Info.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator

import pytest

from cmsync.config import Settings, load_settings
from cmsync.daemon import Daemon
from cmsync.pipeline.once import run_once
from cmsync.salesforce.audience import SANDBOX_AUDIENCE
from cmsync.salesforce.errors import SalesforceAuthError
from cmsync.salesforce.gateway import SalesforceGateway
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import Store, System

HEADER_NOTE = "the API budget comes from the Sforce-Limit-Info header"


@pytest.fixture(scope="module")
def sandbox_org(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    options = SandboxOptions(
        directory=tmp_path_factory.mktemp("sandbox-org"),
        accounts=6,
        seed=5,
        org_kind="sandbox",
        view_setup=False,
    )
    running = sandbox_loop.call(start_sandbox(options))
    try:
        yield running
    finally:
        gc.collect()  # no lingering client response may hold a socket to the emulators
        sandbox_loop.call(running.stop())


@pytest.fixture
def settings(sandbox_org: RunningSandbox) -> Settings:
    return load_settings(sandbox_org.config_file)


async def test_once_logs_in_and_knows_its_budget_without_limits(settings: Settings) -> None:
    assert settings.salesforce.jwt_audience is not None
    assert str(settings.salesforce.jwt_audience).rstrip("/") == SANDBOX_AUDIENCE
    report = await run_once(settings)
    assert report.ok, report.summary()
    store = Store.open(settings.store.path, create=False)
    try:
        with store.transaction() as tx:
            budget = tx.daemon.budget(System.SALESFORCE)
    finally:
        store.close()
    assert budget is not None and budget.max == 100_000  # from Sforce-Limit-Info
    assert budget.used is not None and budget.used >= 1


async def test_the_derived_production_audience_is_refused_by_a_sandbox_org(
    settings: Settings,
) -> None:
    derived = settings.salesforce.model_copy(update={"jwt_audience": None})  # 127.0.0.1: login
    gateway = SalesforceGateway(derived)
    try:
        with pytest.raises(SalesforceAuthError, match="audience is invalid") as caught:
            await gateway.query("SELECT COUNT() FROM Account")
    finally:
        await gateway.close()
    assert caught.value.status == 400 and caught.value.code == "invalid_grant"
    assert derived.jwt_audience is None and str(derived.login_url).startswith("https://127.")


async def test_refresh_limits_falls_back_to_the_header_and_says_so_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = SalesforceGateway(settings.salesforce)
    try:
        assert await gateway.refresh_limits() == {}
        assert await gateway.refresh_limits() == {}
        assert gateway.budget.snapshot().max is None  # a refusal's header is not read
        await gateway.query("SELECT COUNT() FROM Account")
        snapshot = gateway.budget.snapshot()
    finally:
        await gateway.close()
    assert gateway.limits_refused
    assert snapshot.calls_by_cmsync == 3 and snapshot.max == 100_000  # known from the header
    notes = [r for r in caplog.records if HEADER_NOTE in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.WARNING


async def test_the_daemons_first_refresh_goes_on_without_limits(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    daemon = Daemon(settings, target_label="sandbox", grace=5.0, first_refresh_delays=())
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        async with asyncio.timeout(30):
            while not any("cmsync daemon running" in r.getMessage() for r in caplog.records):
                assert not task.done(), task.exception()
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    assert any(HEADER_NOTE in r.getMessage() for r in caplog.records)
    assert not any("first refresh failed" in r.getMessage() for r in caplog.records)
