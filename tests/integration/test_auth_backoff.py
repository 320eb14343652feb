"""The daemon while its credentials are revoked: it backs off, says once what to fix, and
resumes by itself (the daemon in process, the sandbox over real sockets, short backoffs).

Before the credential gates, a revoked integration made the daemon ask for a token about once
a second (83 token requests and 298 log lines in 73 s) without naming the key file.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from cmsync.config import Settings, load_settings
from cmsync.daemon import Daemon
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from cmsync.status import collect
from state.authgate import AuthBackoff
from tests.support.waiting import until

TOKEN = "POST /services/oauth2/token"
BACKOFF = AuthBackoff(initial=1.0, cap=2.0, jitter=0.1)
REVOKED_FOR = 4.0  # seconds
FAST = {
    "chartmogul_poll": 1.0,
    "salesforce_poll": 1.0,
    "dispatch": 0.5,
    "customers": 2.0,
    "late_activities": 2.0,
    "commands": 0.5,
    "report_retry": 1.0,  # a report refused meanwhile is tried again, not tomorrow
    "jitter": 0.0,
}


@pytest.fixture(scope="module")
def sandbox(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("auth-backoff")
    running = sandbox_loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=8)))
    try:
        yield running
    finally:
        gc.collect()
        sandbox_loop.call(running.stop())


def _settings(sandbox: RunningSandbox) -> Settings:
    settings = load_settings(sandbox.config_file)
    schedule = settings.schedule.model_copy(update=FAST)
    return settings.model_copy(update={"schedule": schedule})


def _admin(sandbox: RunningSandbox, method: str, site: str, body: Any = None) -> None:
    url = getattr(sandbox, f"{site}_site").url + "/__sandbox/revoke"
    with requests.Session() as http:
        http.verify, http.trust_env = sandbox.info["ca_bundle"], False
        http.request(method, url, json=body, timeout=10).raise_for_status()


def _attempts_allowed(seconds: float) -> int:
    """How many logins the schedule allows in ``seconds`` after the first refusal (at the
    shortest jittered waits), the first included."""
    attempts, elapsed = 1, 0.0
    while True:
        elapsed += BACKOFF.delay(attempts, 0.999)
        if elapsed > seconds:
            return attempts
        attempts += 1


def _said(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


@pytest.mark.slow  # ~7 s; the funnels' own gates are tested in seconds in tests/sandbox
async def test_revoked_credentials_back_off_say_what_to_fix_and_recover(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(sandbox)
    daemon = Daemon(settings, target_label="sandbox", grace=5, auth_backoff=BACKOFF)
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    sf_stats = sandbox.salesforce.stats
    try:
        await until(lambda: daemon._scheduler is not None, 30, "the daemon's first refresh")
        await until(lambda: all(h.up for h in daemon.health.values()), 10, "clean runs")
        caplog.clear()
        tokens_before = sf_stats.by_endpoint[TOKEN]
        sf_before = sum(sf_stats.by_endpoint.values())
        cm_before = sum(sandbox.chartmogul.stats.by_endpoint.values())

        # The certificate replaced in Salesforce and the API key deleted in ChartMogul.
        rotated = {"error": "invalid_grant", "error_description": "invalid assertion"}
        await asyncio.to_thread(_admin, sandbox, "POST", "salesforce", rotated)
        await asyncio.to_thread(_admin, sandbox, "POST", "chartmogul")
        revoked_at = time.monotonic()
        await until(
            lambda: len(_said(caplog, "refused cmsync's credentials")) == 2, 5, "both refusals"
        )
        first_refusal = time.monotonic()
        await asyncio.sleep(REVOKED_FOR - (first_refusal - revoked_at))
        measured_at = time.monotonic()
        held_back = daemon.health["dispatch"].failures
        tokens = sf_stats.by_endpoint[TOKEN] - tokens_before
        sf_calls = sum(sf_stats.by_endpoint.values()) - sf_before
        cm_calls = sum(sandbox.chartmogul.stats.by_endpoint.values()) - cm_before
        status = collect(settings.store.path, datetime.now(UTC))
        health = {name: h.reason for name, h in daemon.health.items() if not h.up}
        await asyncio.to_thread(_admin, sandbox, "DELETE", "salesforce")
        await asyncio.to_thread(_admin, sandbox, "DELETE", "chartmogul")
        await until(
            lambda: len(_said(caplog, "accepts cmsync's credentials again")) == 2,
            BACKOFF.cap + 5, "both recoveries",
        )  # fmt: skip
        await until(lambda: all(h.up for h in daemon.health.values()), 10, "clean runs again")
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)

    # Bounded by the backoff, not by the schedules (a call a second and more before).
    allowed = _attempts_allowed(measured_at - first_refusal)
    assert 1 <= tokens <= allowed < REVOKED_FOR, (tokens, allowed)
    assert held_back > tokens  # the dispatcher's runs went on, held back without a login
    assert sf_calls <= tokens + 4  # the calls that met the ended sessions, then logins only
    assert cm_calls <= allowed + 8  # the requests in flight when the key went, then probes

    # One warning per system, naming the setting and its file, with the server's reason.
    sf_warning, cm_warning = (
        _said(caplog, f"{system} refused cmsync's credentials")
        for system in ("Salesforce", "ChartMogul")
    )
    key_file = sandbox.info["salesforce"]["private_key_file"]
    assert len(sf_warning) == 1 and len(cm_warning) == 1
    assert f"salesforce.private_key_file ({key_file})" in sf_warning[0].getMessage()
    assert "invalid assertion" in sf_warning[0].getMessage()
    api_key_file = str(settings.chartmogul.api_key_file)
    assert f"chartmogul.api_key_file ({api_key_file})" in cm_warning[0].getMessage()
    assert "No valid API key provided" in cm_warning[0].getMessage()
    # No traceback, and no line per held-back run: only the jobs' own first failure lines.
    assert not [r for r in caplog.records if r.exc_info]
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("cmsync")
    ]
    others = [
        m for m in warnings
        if "cmsync's credentials" not in m and not m.startswith("job ")
    ]  # fmt: skip
    assert not others, others
    assert len(warnings) <= 2 + 2 * 2 * len(daemon.health)  # refused, fails, runs again

    # Health said so: the held-back runs, in the store (``cmsync status``) and in memory.
    failing = [
        job["detail"] for job in status["jobs"].values() if job["result"] == "error"
    ]  # fmt: skip
    assert any(
        "Salesforce authentication failing: " in d and "check salesforce.private_key_file" in d
        for d in failing
    ), failing
    assert any("ChartMogul authentication failing: " in d for d in failing), failing
    assert all("next attempt in" in r or "under way" in r for r in health.values()), health
    assert health, "the jobs were failing while the credentials were refused"
