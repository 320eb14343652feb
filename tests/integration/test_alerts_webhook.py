"""Alerts out: the real daemon in process against the sandbox, posting to a local HTTP
receiver that stands in for an incoming webhook (Slack's, or any endpoint that takes a JSON
POST).

ChartMogul's invoice listing answers 503 for a while (the emulator's outage answer, as in
``test_job_health``), so the ``chartmogul`` job fails run after run. The receiver refuses the
first POST it gets (500): the alert is not recorded as sent and goes out again at the next
check. Then: one alert for the job failing ``failures_in_a_row`` times however long it keeps
failing, none again from a restarted daemon (the store remembers what was said), and one
recovery message once the listing answers again.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from cmsync.config import AlertSettings, Settings, load_settings
from cmsync.daemon import Daemon
from cmsync.monitoring import AlertSender
from cmsync.sandbox.faults import Fault, FaultInjector
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import JobHealthRecord, Store
from tests.support.waiting import until

FAST = {
    "chartmogul_poll": 0.2,
    "customers": 60.0,
    "late_activities": 60.0,
    "salesforce_poll": 60.0,
    "dispatch": 1.0,
    "commands": 0.5,
    "jitter": 0.0,
    "job_timeout": 0.5,  # a run the outage holds up is cut short here and counted as failed
}
FAILING = "job chartmogul failing: "
RECOVERED = "job chartmogul runs again"


class InvoiceListingDown(FaultInjector):
    """While ``down``, ChartMogul's full invoice listing (the payments step) answers 503."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def request_fault(self, key: str, applicable: frozenset[Fault]) -> Fault | None:
        listing = key.startswith("GET /v1/invoices") and "customer_uuid=" not in key
        if self.down and listing and "external_id=" not in key:
            return Fault.SERVER_ERROR
        return None

    def server_error_status(self, key: str) -> int:
        return 503


class Receiver:
    """An incoming webhook's end: every JSON body POSTed, and the answer given to each."""

    def __init__(self) -> None:
        self.refuse = 1  # the next POSTs answered 500
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.headers.append(dict(request.headers))
        if self.refuse:
            self.refuse -= 1
            self.refused.append(body)
            return web.Response(status=500, text="internal_error")
        self.accepted.append(body)
        return web.Response(text="ok")  # what Slack answers a message it took

    def texts(self, part: str) -> list[str]:
        return [b["text"] for b in self.accepted if part in b["text"]]


@pytest.fixture(scope="module")
def sandbox(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("alerts")
    running = sandbox_loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=4)))
    try:
        yield running
    finally:
        gc.collect()
        sandbox_loop.call(running.stop())


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/services/T000/B000/XXXX", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield hook, f"http://127.0.0.1:{port}/services/T000/B000/XXXX"
    finally:
        await runner.cleanup()


def _settings(sandbox: RunningSandbox, tmp_path: Path, url: str) -> Settings:
    settings = load_settings(sandbox.config_file)
    return settings.model_copy(
        update={
            "schedule": settings.schedule.model_copy(update=FAST),
            "store": settings.store.model_copy(update={"path": tmp_path / "cmsync.db"}),
            "alerts": AlertSettings(
                webhook_url=SecretStr(url), failures_in_a_row=2, check_every=0.1
            ),
        }
    )


async def test_a_failing_job_is_alerted_once_not_again_after_a_restart_and_its_recovery_once(
    sandbox: RunningSandbox, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    settings = _settings(sandbox, tmp_path, url)
    outage, usual = InvoiceListingDown(), sandbox.ctx.faults
    sandbox.ctx.faults = outage
    try:
        daemon = Daemon(settings, target_label="sandbox", grace=2, beat_every=0.2)
        stop = asyncio.Event()
        running = asyncio.create_task(daemon.run(stop))
        try:
            await until(lambda: hook.texts(FAILING), 20, "the alert for the failing job")
            assert daemon.alerts is not None
            checks = daemon.alerts.checks
            await until(lambda: daemon.alerts is not None and daemon.alerts.checks > checks + 3,
                        5, "more checks while the job still fails")  # fmt: skip
            assert daemon.health["chartmogul"].failures >= 2
        finally:
            stop.set()
            await asyncio.wait_for(running, 20)
        # The first POST was refused, so the alert went out again at the next check; once.
        assert [b["text"] for b in hook.refused] == hook.texts(FAILING)
        [alert] = hook.texts(FAILING)
        assert alert.startswith("cmsync alert (sandbox, pid ")
        assert "job chartmogul failing: " in alert and "failed runs in a row; last error: " in alert
        assert all("Authorization" not in h for h in hook.headers)
        with Store.open(settings.store.path) as store, store.transaction() as tx:
            assert "job:chartmogul" in tx.daemon.alerts_sent()

        # A restart while it still fails: the new daemon knows the alert was sent.
        again = Daemon(settings, target_label="sandbox", grace=2, beat_every=0.2)
        stop = asyncio.Event()
        running = asyncio.create_task(again.run(stop))
        try:
            await until(lambda: again.alerts is not None and again.alerts.checks >= 5,
                        10, "the restarted daemon's checks")  # fmt: skip
            assert again.health["chartmogul"].failures >= 2
            assert len(hook.texts(FAILING)) == 1
            outage.down = False
            await until(lambda: hook.texts(RECOVERED), 10, "the recovery message")
            checks = again.alerts.checks if again.alerts is not None else 0
            await until(lambda: again.alerts is not None and again.alerts.checks > checks + 3,
                        5, "more checks after the recovery")  # fmt: skip
        finally:
            stop.set()
            await asyncio.wait_for(running, 20)
    finally:
        sandbox.ctx.faults = usual
    assert len(hook.texts(FAILING)) == 1
    [recovery] = hook.texts(RECOVERED)
    assert recovery.startswith("cmsync resolved (sandbox, pid ")
    assert recovery.endswith(": job chartmogul runs again")
    with Store.open(settings.store.path) as store, store.transaction() as tx:
        assert "job:chartmogul" not in tx.daemon.alerts_sent()


async def test_another_cmsync_beating_on_the_same_store_is_alerted_and_its_end_said(
    sandbox: RunningSandbox, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    """A second daemon on the same store where the lock does not hold (another host on a
    shared disk): its beats, written into the store beside the running daemon's, are met by
    the daemon's own next beat; the alert says whose they are, and clears once they stop."""
    hook, url = receiver
    hook.refuse = 0
    settings = _settings(sandbox, tmp_path, url)
    daemon = Daemon(settings, target_label="sandbox", grace=2, beat_every=0.2)
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    other = "another cmsync beats on this store (pid 4242, target production)"
    try:
        await until(lambda: daemon.alerts is not None and daemon.alerts.checks >= 2, 20,
                    "the daemon's first checks")  # fmt: skip
        assert not hook.texts("another cmsync")
        started = datetime.now(UTC)
        with Store.open(settings.store.path) as store:
            deadline = asyncio.get_running_loop().time() + 10
            while not hook.texts(other):  # the other daemon beats as a daemon does
                with store.transaction() as tx:
                    tx.daemon.beat(4242, started, "production")
                assert asyncio.get_running_loop().time() < deadline, "no alert for the other"
                await asyncio.sleep(0.1)
        await until(lambda: hook.texts("only this cmsync beats"), 10, "the all-clear")
    finally:
        stop.set()
        await asyncio.wait_for(running, 20)
    [alert] = hook.texts(other)
    assert alert.endswith(": two daemons on one store double every write; stop one")
    [clear] = hook.texts("only this cmsync beats")
    assert clear.startswith("cmsync resolved (sandbox")


async def test_a_webhook_that_hangs_is_cut_short_logged_without_its_url_and_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The POST's timeout bounds a check; nothing is recorded as sent, so the next check
    sends it again; the log says what failed, never the URL (whoever holds it can post)."""
    answering, release = False, asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        if not answering:
            await release.wait()  # held until the test ends: the sender gives up first
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hooks/secret-token", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks/secret-token"
    settings = AlertSettings(webhook_url=SecretStr(url), timeout_seconds=0.3)
    sender = AlertSender(settings, target="production")
    try:
        with Store.open(tmp_path / "cmsync.db") as store:
            with store.transaction() as tx:
                tx.daemon.put_health([JobHealthRecord("dispatch", 3, None, "dispatch: 503")])
            assert await sender.check(store) == 0
            with store.transaction() as tx:
                assert tx.daemon.alerts_sent() == {}
            answering = True
            assert await sender.check(store) == 1
            with store.transaction() as tx:
                assert list(tx.daemon.alerts_sent()) == ["job:dispatch"]
    finally:
        release.set()
        await sender.close()
        await runner.cleanup()
    [line] = [r.getMessage() for r in caplog.records if r.name == "cmsync.alerts"]
    assert line == (
        "alerts: posting the raised message for job:dispatch failed (TimeoutError); trying "
        "again at the next check"
    )
    assert "secret-token" not in caplog.text
