"""Secrets: a run with canary credentials leaves no trace of them anywhere an operator looks.

The sandbox's credentials are canaries (``canary.Canaries``): the ChartMogul API key, the
Salesforce consumer secret, password, security token and JWT signing key, plus a refused
"wrong" secret and every access token the org issued. Then cmsync runs as an operator runs it:

- the daemon (``cmsync run --log-json``), username-password flow, secrets in the environment,
  while the org expires sessions (the ``expiry`` profile: it logs in again and again);
- ``cmsync once -v``, JWT bearer flow, secrets in files;
- ``cmsync once -v`` with refused credentials (both services say no, and cmsync says why);
- ``cmsync status``, ``status --json`` and ``config``, with every secret in the environment;
- the dashboard over the store, its screen exported as SVG.

No canary may appear in any of their output, in the store's files (the database, its WAL and
shared memory), or on the screen. ``test_recorded_cassettes_hold_no_canary`` re-records the
replay cassettes against the canary sandbox (username-password flow), in a scratch copy of the
replay suite, and searches them too.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cmsync.cli import app as cli
from cmsync.sandbox.serve import LoopThread
from cmsync.status import collect
from state import StoreError
from tests.reliability.canary import Canaries, CanarySandbox, canary_sandbox
from tests.support.invariants import sync_env
from tests.support.processes import cmsync_env, run_cmsync, start_daemon, wait_for
from tui import Dashboard, DataSource

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox(sandbox_loop: LoopThread, tmp_path: Path) -> Iterator[CanarySandbox]:
    with canary_sandbox(sandbox_loop, tmp_path, Canaries(), seed=61, accounts=20) as sandbox:
        yield sandbox


def _leaks(needles: list[str], texts: Iterable[tuple[str, str]]) -> list[str]:
    """Which (place, needle) pairs leaked: ``texts`` are (place, text) pairs."""
    found = []
    for place, text in texts:
        found += [f"{place}: {needle[:24]}…" for needle in needles if needle in text]
    return found


def _daemon_cycle(sandbox: CanarySandbox, log: Path) -> None:
    """One full daemon cycle under session expiry, then a clean stop."""
    sandbox.ctx.faults.set_profile("expiry")
    env = cmsync_env(**sync_env(), **sandbox.secrets_env("password"))
    proc = start_daemon(sandbox.config("password"), log, "--log-json", env=env)
    try:

        def synced() -> bool:
            try:
                status = collect(sandbox.store_path, datetime.now(UTC))
            except StoreError:  # not there yet, or being created by the daemon
                return False
            jobs = status["jobs"]
            return (
                {"customers", "activities", "payments", "dispatch"} <= set(jobs)
                and all(j["result"] == "ok" for j in jobs.values())
                and status["outbox"]["pending"] == 0
                and status["outbox"]["in_flight"] == 0
            )

        wait_for(synced, 90, "a full daemon cycle")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
        sandbox.ctx.faults.set_profile("none")
    assert sandbox.ctx.faults.injected["token_expiry"] > 0  # it did log in again


async def _dashboard_screen(store: Path) -> str:
    source = DataSource(store)
    try:
        app = Dashboard(source, target_label="sandbox", refresh_every=None)
        async with app.run_test(size=(200, 60)) as pilot:
            await app.refresh_now().wait()
            await pilot.pause()
            svg = app.export_screenshot()
    finally:
        source.close()
    return html.unescape(svg).replace("\xa0", " ")


def test_no_canary_reaches_logs_store_status_config_or_dashboard(
    sandbox: CanarySandbox, tmp_path: Path
) -> None:
    outputs: list[tuple[str, str]] = []
    log = tmp_path / "daemon.log"
    _daemon_cycle(sandbox, log)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(line["msg"].startswith("cmsync daemon running") for line in lines)
    outputs.append(("daemon --log-json", log.read_text()))

    jwt = run_cmsync(
        "once", "-v", config=sandbox.config("jwt"),
        env=cmsync_env(**sync_env(), **sandbox.secret_files("jwt")),
    )  # fmt: skip
    assert jwt.returncode == 0, jwt.stdout + jwt.stderr
    assert "INFO" in jwt.stderr  # -v logged progress
    outputs.append(("once -v (jwt)", jwt.stdout + jwt.stderr))

    for service, says in (
        ("chartmogul", "No valid API key provided"),
        ("salesforce", "login by password flow refused"),
    ):
        refused = run_cmsync(
            "once", "-v", config=sandbox.config("password"),
            env=cmsync_env(**sync_env(), **sandbox.secrets_env("password", refused=service)),
        )  # fmt: skip
        said = refused.stdout + refused.stderr
        assert refused.returncode == 1 and says in said, said[-2000:]  # refused, and why
        outputs.append((f"once -v ({service} refused)", said))

    runner = CliRunner()
    env = {**sandbox.secrets_env("password"), **sandbox.secrets_env("jwt")}
    for args in (["status"], ["status", "--json"], ["config"]):
        done = runner.invoke(cli, [*args, "--config", str(sandbox.config("password"))], env=env)
        assert done.exit_code == (2 if args[0] == "status" else 0), done.output  # no daemon
        outputs.append((" ".join(args), done.output))
    assert '"password": "**********"' in outputs[-1][1]  # masked, not left out

    for path in sorted(sandbox.directory.glob("cmsync.db*")):
        outputs.append((path.name, path.read_bytes().decode("utf-8", "replace")))
    assert any(name == "cmsync.db" for name, _ in outputs)

    outputs.append(("dashboard", asyncio.run(_dashboard_screen(sandbox.store_path))))
    screen = re.sub(r"<[^>]+>", "", outputs[-1][1])
    assert "load_context: SalesforceAuthError" in screen  # the refused login, on screen

    assert sandbox.issued, "the org issued no session: nothing was tested"
    assert not _leaks(sandbox.needles(), outputs)


def test_recorded_cassettes_hold_no_canary(sandbox: CanarySandbox, tmp_path: Path) -> None:
    """Re-record the replay suite against the canary sandbox, in a scratch copy of it."""
    scratch = tmp_path / "scratch"
    shutil.copytree(ROOT / "tests" / "replay", scratch / "tests" / "replay")
    (scratch / "tests" / "__init__.py").write_text("")
    shutil.copy(ROOT / "pyproject.toml", scratch / "pyproject.toml")
    config = sandbox.config("password")
    env = cmsync_env(CMSYNC_RECORD_CONFIG=str(config), **sandbox.secrets_env("password"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/replay", "--record-mode=rewrite", "-q",
         "-p", "no:cacheprovider"],
        cwd=scratch, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cassettes = sorted((scratch / "cassettes").rglob("*.yaml"))
    assert cassettes, "nothing was recorded"
    texts = [(str(p.relative_to(scratch)), p.read_text()) for p in cassettes]
    assert not _leaks(sandbox.needles(), texts)
