"""Real ``cmsync`` processes against a sandbox: the daemon on fast schedules, ``once``, status.

The sandbox runs in the test process (``LoopThread``); cmsync runs as the operator runs it, in a
subprocess configured by the sandbox's ``cmsync.toml`` and ``CMSYNC_*`` variables. Nothing of
the test's own ``CMSYNC_*`` environment leaks into it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from state import Heartbeat, Store, StoreError
from tests.support.invariants import sync_env

__all__ = [
    "CMSYNC",
    "FAST",
    "cmsync_env",
    "heartbeat",
    "run_cmsync",
    "start_daemon",
    "status",
    "wait_for",
]

CMSYNC = [sys.executable, "-m", "cmsync"]
FAST = {
    "CMSYNC_SCHEDULE__CHARTMOGUL_POLL": "2",
    "CMSYNC_SCHEDULE__SALESFORCE_POLL": "2",
    "CMSYNC_SCHEDULE__DISPATCH": "1",
    "CMSYNC_SCHEDULE__CUSTOMERS": "3",
    "CMSYNC_SCHEDULE__LATE_ACTIVITIES": "3",
    "CMSYNC_SCHEDULE__COMMANDS": "0.5",
    "CMSYNC_SCHEDULE__JITTER": "0",
}


def cmsync_env(**extra: str) -> dict[str, str]:
    """This process's environment without its CMSYNC_* variables, plus FAST and ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CMSYNC_")}
    return {**base, **FAST, **extra}


def run_cmsync(
    *args: str, config: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``cmsync ARGS --config CONFIG`` to completion, output captured."""
    return subprocess.run(
        [*CMSYNC, *args, "--config", str(config)],
        capture_output=True, text=True, env=env or cmsync_env(**sync_env()), timeout=timeout,
    )  # fmt: skip


def start_daemon(
    config: Path, log: Path, *flags: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``cmsync run`` in the background, its output appended to ``log``."""
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [*CMSYNC, "run", "--config", str(config), *flags],
            env=env or cmsync_env(**sync_env()), stdout=handle, stderr=handle,
        )  # fmt: skip


def status(config: Path) -> dict[str, Any]:
    """``cmsync status --json``, parsed."""
    done = run_cmsync("status", "--json", config=config, timeout=30)
    assert done.stdout, done.stderr  # exit 0, 1 or 2 (healthy, degraded, down): the verdict
    result: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == result["verdict"]["exit_code"], done.stderr
    return result


def heartbeat(store_path: Path) -> Heartbeat | None:
    """The daemon's last heartbeat, read from the store (None before the first)."""
    if not store_path.exists():
        return None
    try:
        store = Store.open_readonly(store_path)
    except StoreError:  # being created by the daemon right now
        return None
    try:
        with store.snapshot() as q:
            return q.heartbeat()
    finally:
        store.close()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    pytest.fail(f"timed out waiting for {what}")
