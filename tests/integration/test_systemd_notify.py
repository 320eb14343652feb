"""The daemon under systemd's notify protocol (``Type=notify``, ``WatchdogSec``).

A fake notify socket stands in for systemd's: an AF_UNIX datagram socket bound by the test,
named to the daemon as ``$NOTIFY_SOCKET`` is (sd_notify(3): a path, or an abstract name
after ``@``). The real daemon (``Daemon.run``, what ``cmsync run`` runs) runs in this process
against the sandbox over its sockets, beating every few tenths of a second, and stops on a
real SIGTERM through the same handler ``cmsync run`` installs.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmsync.daemon import Daemon
from cmsync.daemon.sdnotify import Notifier, SystemdNotifier, notifier_from_environment
from cmsync.sandbox.runner import SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import Store
from tests.support.invariants import World
from tests.support.processes import FAST, cmsync_env, start_daemon
from tests.support.waiting import until

BEAT = 0.2  # seconds between heartbeats in these tests (5 in the daemon)


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    options = SandboxOptions(directory=tmp_path_factory.mktemp("notify"), accounts=4)
    running = sandbox_loop.call(start_sandbox(options))
    try:
        yield World.of(running, **FAST)
    finally:
        gc.collect()  # no lingering client response may hold a socket to the emulators
        sandbox_loop.call(running.stop())


class FakeSystemd:
    """The service manager's end: a bound datagram socket, and what arrived on it."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.setblocking(False)
        self.address = address
        self.messages: list[dict[str, str]] = []

    def drain(self) -> list[dict[str, str]]:
        """Every datagram received so far, each as its assignments."""
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.messages
            self.messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))

    def said(self, key: str) -> list[dict[str, str]]:
        return [m for m in self.drain() if key in m]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(str(tmp_path / "notify"))
    yield fake
    fake.close()


def _steps_run(path: Path) -> set[str]:
    store = Store.open_readonly(path)
    try:
        with store.snapshot() as q:
            return {run.job for run in q.latest_job_runs()}
    finally:
        store.close()


async def test_ready_after_the_first_refresh_watchdog_at_each_beat_stopping_at_sigterm(
    world: World, systemd: FakeSystemd, tmp_path: Path
) -> None:
    path = tmp_path / "cmsync.db"
    settings = world.settings.model_copy(
        update={"store": world.settings.store.model_copy(update={"path": path})}
    )
    notifier = notifier_from_environment({"NOTIFY_SOCKET": systemd.address})
    daemon = Daemon(settings, target_label="sandbox", grace=5.0, beat_every=BEAT, notifier=notifier)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)  # as `cmsync run` does
    task = asyncio.create_task(daemon.run(stop))
    try:
        await until(lambda: bool(systemd.said("READY")), 30, "READY=1")
        [ready] = systemd.said("READY")
        assert ready == {"READY": "1", "STATUS": "running against sandbox; jobs 7/7 up"}
        assert systemd.messages[0] is ready  # nothing before it: no ping before the start
        assert "load_context" in _steps_run(path)  # the first refresh ran before it

        await until(lambda: len(systemd.said("WATCHDOG")) >= 3, 10, "watchdog pings")
        assert all(m["WATCHDOG"] == "1" and "STATUS" in m for m in systemd.said("WATCHDOG"))

        # A beat that cannot be stored (another writer holds the store's lock) is no ping: a
        # daemon stuck there is what WatchdogSec restarts.
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            await asyncio.sleep(3 * BEAT)  # a beat already stored may still be on its way
            before = len(systemd.said("WATCHDOG"))
            await asyncio.sleep(6 * BEAT)
            assert len(systemd.said("WATCHDOG")) == before
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        await until(lambda: len(systemd.said("WATCHDOG")) > before, 15, "the pings again")

        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, 30)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        stop.set()
        if not task.done():
            await task
    stopping = systemd.said("STOPPING")
    assert len(stopping) == 1 and stopping[0]["STATUS"].startswith("stopping")
    assert systemd.drain()[-1] is stopping[0]  # no ping after it


@pytest.mark.slow  # a real beat is 5 s apart
def test_cmsync_run_notifies_the_socket_systemd_names(
    world: World, systemd: FakeSystemd, tmp_path: Path
) -> None:
    """``cmsync run`` as systemd starts it: ``$NOTIFY_SOCKET`` set, stopped by SIGTERM."""
    env = cmsync_env(NOTIFY_SOCKET=systemd.address, CMSYNC_STORE__PATH=str(tmp_path / "s.db"))
    daemon = start_daemon(world.sandbox.config_file, tmp_path / "daemon.log", env=env)
    try:
        deadline = time.monotonic() + 60
        while not systemd.said("WATCHDOG") and time.monotonic() < deadline:
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()
            time.sleep(0.1)
        assert systemd.messages[0]["READY"] == "1" and systemd.said("WATCHDOG")
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            assert daemon.wait(60) == 0
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck daemon fails the test
            daemon.kill()
            raise
    assert "STOPPING" in systemd.drain()[-1]


def test_an_abstract_socket_is_named_with_an_at_sign() -> None:
    systemd = FakeSystemd(f"@cmsync-test-{uuid.uuid4().hex}")
    try:
        notifier = notifier_from_environment({"NOTIFY_SOCKET": systemd.address})
        assert isinstance(notifier, SystemdNotifier)
        notifier.status("first   refresh\nof the org")  # one line, whatever it was given
        notifier.watchdog()
        assert systemd.drain() == [{"STATUS": "first refresh of the org"}, {"WATCHDOG": "1"}]
    finally:
        systemd.close()


def test_without_notify_socket_nothing_is_sent(caplog: pytest.LogCaptureFixture) -> None:
    for environ in ({}, {"NOTIFY_SOCKET": ""}):
        quiet = notifier_from_environment(environ)
        assert type(quiet) is Notifier
        quiet.ready("up")  # does nothing, and needs no socket
    gone = SystemdNotifier("/nonexistent/notify")
    gone.watchdog()
    gone.watchdog()  # said once, not at every beat; the daemon goes on
    assert [r.getMessage() for r in caplog.records].count(
        "cannot notify systemd at /nonexistent/notify: [Errno 2] No such file or directory"
    ) == 1
