"""`cmsync run` as an operator runs it: a real process on a schedule, against the sandbox.

The sandbox runs in this test process (LoopThread); the daemon in a subprocess with fast
schedules from the environment. `cmsync status --json` is how the test watches it, as an
operator would.
"""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from cmsync.config import load_settings
from cmsync.daemon import JOBS, Daemon
from cmsync.errors import FatalError
from cmsync.sandbox.faults import FaultProfile
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import CommandKind, QuarantineKind, QuarantineStatus, Store
from tests.support.processes import CMSYNC, cmsync_env, start_daemon, wait_for


@pytest.fixture(scope="module")
def sandbox(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    directory = tmp_path_factory.mktemp("daemon")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=40, seed=8))
    )
    try:
        yield running
    finally:
        gc.collect()  # no lingering client response may hold a socket to the emulators
        sandbox_loop.call(running.stop())


def _config(sandbox: RunningSandbox) -> str:
    return str(sandbox.options.directory / "cmsync.toml")


def _env() -> dict[str, str]:
    return cmsync_env()


def _status(sandbox: RunningSandbox) -> dict[str, Any]:
    done = subprocess.run(
        [*CMSYNC, "status", "--json", "--config", _config(sandbox)],
        capture_output=True, text=True, env=_env(), timeout=30,
    )  # fmt: skip
    if not done.stdout:  # exit 2 and no report: no store yet
        raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
    result: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == result["verdict"]["exit_code"]  # 0, 1 or 2
    return result


_wait = wait_for


def _running(sandbox: RunningSandbox) -> bool:
    """The daemon is up (``status`` exits 2 until the daemon has made the store)."""
    try:
        return bool(_status(sandbox)["daemon"]["state"] == "running")
    except subprocess.CalledProcessError:
        return False


def _start(sandbox: RunningSandbox, log: Path) -> subprocess.Popen[bytes]:
    return start_daemon(Path(_config(sandbox)), log, "--log-json", env=_env())


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def _store(sandbox: RunningSandbox) -> Path:
    return sandbox.options.directory / "cmsync.db"


def test_a_dry_run_shows_the_plan_and_writes_nothing(sandbox: RunningSandbox) -> None:
    writes = {k: v for k, v in sandbox.salesforce.stats.by_endpoint.items() if "composite" in k}
    cm_before = sandbox.chartmogul.stats.snapshot()["requests"]
    done = subprocess.run(
        [*CMSYNC, "once", "--dry-run", "--config", _config(sandbox)],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "would write: create=" in done.stdout
    assert "  update  Account 001" in done.stdout and "CM_MRR__c: None -> " in done.stdout
    after = {k: v for k, v in sandbox.salesforce.stats.by_endpoint.items() if "composite" in k}
    assert after == writes  # Salesforce: read, never written
    cm_after = sandbox.chartmogul.stats.snapshot()["requests"]
    assert not [k for k in cm_after if not k.startswith("GET") and cm_after[k] != cm_before.get(k)]
    assert not _store(sandbox).exists()  # the pass ran on a copy


def test_the_daemon_runs_its_schedule_and_reports_it(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    # Every job of JOBS that runs on start (reconcile waits an interval, reports its cron).
    steps = {
        step
        for spec in JOBS
        if spec.every is not None and spec.name != "reconcile"
        for step in spec.steps
    }
    assert {"customers", "activities", "late_activities", "payments", "dispatch"} <= steps
    proc = _start(sandbox, tmp_path / "daemon.log")
    try:

        def synced() -> bool:
            if not _store(sandbox).exists():
                return False
            status = _status(sandbox)
            jobs = status["jobs"]
            return (
                status["daemon"]["state"] == "running"
                and steps <= set(jobs)
                and all(j["result"] == "ok" for j in jobs.values())
                and status["outbox"]["pending"] == 0
            )

        _wait(synced, 60, "a full cycle with an empty outbox")
        second = subprocess.run(
            [*CMSYNC, "run", "--config", _config(sandbox)],
            capture_output=True, text=True, env=_env(), timeout=30,
        )  # fmt: skip
        assert second.returncode == 2 and "another cmsync process" in second.stderr
        for job in ("activities", "late_activities"):
            before = _status(sandbox)["jobs"][job]["started_at"]
            _wait(
                lambda job=job, before=before: (
                    _status(sandbox)["jobs"][job]["started_at"] != before
                ),
                20,
                f"the next scheduled {job}",
            )
    finally:
        assert _stop(proc) == 0
    status = _status(sandbox)
    assert status["daemon"]["state"] == "stopped"
    lines = [json.loads(line) for line in (tmp_path / "daemon.log").read_text().splitlines()]
    assert any(line["msg"].startswith("cmsync daemon running") for line in lines)


EXPIRING = FaultProfile("every session expires", token_expiry=1.0)


@pytest.mark.slow  # ~10 s: the same retries are tested in process below; CI runs -m slow
def test_a_first_refresh_that_meets_expired_sessions_is_tried_again(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    # Every Salesforce call revokes the session it presents, so the gateway's one renewal
    # per call meets an expired session again: transient, so the daemon must try again.
    log = tmp_path / "daemon.log"
    sandbox.ctx.faults.set_profile(EXPIRING)
    proc = _start(sandbox, log)
    try:
        _wait(lambda: "trying again" in log.read_text(), 30, "a first refresh that failed")
        assert proc.poll() is None
        sandbox.ctx.faults.set_profile("none")
        _wait(lambda: _running(sandbox), 30, "the daemon running after another first refresh")
    finally:
        sandbox.ctx.faults.set_profile("none")
        assert _stop(proc) == 0
    failed = [
        line["msg"]
        for line in map(json.loads, log.read_text().splitlines())
        if line["msg"].startswith("the first refresh failed")
    ]
    assert failed and all("SessionExpiredError" in msg for msg in failed)


async def test_a_first_refresh_that_keeps_failing_stops_the_daemon_loudly(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(sandbox.config_file)
    daemon = Daemon(settings, target_label="sandbox", first_refresh_delays=(0.01, 0.01))
    sandbox.ctx.faults.set_profile(EXPIRING)
    try:
        with pytest.raises(FatalError, match="the first refresh failed: SessionExpiredError"):
            await daemon.run(asyncio.Event())
    finally:
        sandbox.ctx.faults.set_profile("none")
    retries = [r for r in caplog.records if "trying again" in r.getMessage()]
    assert len(retries) == 2  # three attempts in all, then the error


async def test_a_first_refresh_refused_outright_is_not_tried_again(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(sandbox.config_file)
    wrong = settings.model_copy(
        update={"chartmogul": settings.chartmogul.model_copy(update={"api_key": SecretStr("x")})}
    )
    daemon = Daemon(wrong, target_label="sandbox", first_refresh_delays=(0.01, 0.01))
    with pytest.raises(FatalError, match="the first refresh failed: ChartMogulAuthError"):
        await daemon.run(asyncio.Event())
    assert not [r for r in caplog.records if "trying again" in r.getMessage()]


def _synced(sandbox: RunningSandbox) -> None:
    """A first pass has made the store, unless an earlier test's daemon did."""
    if _store(sandbox).exists():
        return
    done = subprocess.run(
        [*CMSYNC, "once", "--config", _config(sandbox)],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_resolved_match_is_carried_out_by_the_daemon(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    _synced(sandbox)  # the ambiguous match is the first pass's quarantine
    store = Store.open(_store(sandbox), create=False)
    try:
        with store.transaction() as tx:
            entry = next(
                q for q in tx.queries.quarantine(QuarantineStatus.OPEN)
                if q.kind is QuarantineKind.AMBIGUOUS_MATCH
            )  # fmt: skip
            chosen = entry.candidates[0]
            linked = {link.account_id for link in tx.links.by_accounts(entry.candidates).values()}
            assert chosen not in linked, "the scenario's shared email sits on unlinked Accounts"
            command = tx.commands.add(
                CommandKind.RESOLVE_MATCH, f"quarantine:{entry.id}", {"account": chosen}
            )
    finally:
        store.close()
    proc = _start(sandbox, tmp_path / "daemon.log")
    try:

        def written() -> bool:
            account = sandbox.salesforce.store.get("Account", chosen)
            return account.get("CM_Customer_UUID__c") == entry.record_key

        _wait(written, 40, "the resolved customer's figures on the chosen Account")
    finally:
        assert _stop(proc) == 0
    store = Store.open(_store(sandbox), create=False)
    try:
        with store.transaction() as tx:
            done = tx.commands.get(command)
            link = tx.links.get(entry.record_key)
    finally:
        store.close()
    assert done is not None and done.status.value == "done"
    assert link is not None and link.account_id == chosen


def test_sigterm_during_a_dispatch_loses_nothing(sandbox: RunningSandbox, tmp_path: Path) -> None:
    proc = _start(sandbox, tmp_path / "daemon.log")
    try:
        _wait(lambda: _running(sandbox), 30, "the daemon")
        # Everything must be sent again, to a slow Salesforce: the stop lands mid-dispatch.
        store = Store.open(_store(sandbox), create=False)
        try:
            with store.transaction() as tx:
                links = list(tx.links.by_accounts(_account_ids(sandbox)).values())
                tx.last_written.forget(_refs(links))
        finally:
            store.close()
        sandbox.ctx.faults.set_profile(FaultProfile("slow-sf", slow=1.0, slow_seconds=2.0))
        _wait(lambda: _in_flight(sandbox), 30, "a dispatch in flight")
    finally:
        started = time.monotonic()
        assert _stop(proc) == 0
        stopped_in = time.monotonic() - started
        sandbox.ctx.faults.set_profile("none")
    assert stopped_in < 25  # the batch in flight finished; nothing waited for more
    assert not _in_flight(sandbox)  # handed back, not lost
    once = subprocess.run(
        [*CMSYNC, "once", "--config", _config(sandbox)],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert once.returncode == 0, once.stdout + once.stderr
    status = _status(sandbox)
    assert status["outbox"] == {"pending": 0, "retrying": 0, "in_flight": 0, "dead": 0}
    for link in links:
        account = sandbox.salesforce.store.get("Account", link.account_id)
        assert account.get("CM_Customer_UUID__c") == link.customer_uuid


def _account_ids(sandbox: RunningSandbox) -> list[str]:
    scenario = json.loads((sandbox.options.directory / "scenario.json").read_text())
    return [a["id"] for a in scenario["accounts"].values()]


def _refs(links: list[Any]) -> list[Any]:
    from state import RecordRef

    return [RecordRef("Account", link.account_id) for link in links]


def _in_flight(sandbox: RunningSandbox) -> bool:
    return bool(_status(sandbox)["outbox"]["in_flight"])
