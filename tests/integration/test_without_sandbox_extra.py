"""The daemon without the ``sandbox`` extra: a plain install runs every operator's command.

trustme and sortedcontainers come only with ``chartmogul-salesforce-sync[sandbox]``. Here
cmsync runs in subprocesses where importing them fails as it does when they are not installed
(a finder at the head of ``sys.meta_path`` answers ``ModuleNotFoundError``), while the
sandbox it talks to runs in this test process, which has the extra. ``test_the_wheel_...``
(slow) installs the built wheel into a fresh venv without the extra and runs it for real.
"""

from __future__ import annotations

import gc
import json
import shutil
import signal
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmsync.sandbox.runner import SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from cmsync.sandbox_extra import SANDBOX_EXTRA, SANDBOX_PACKAGES
from tests.support.invariants import World, sync_env
from tests.support.processes import cmsync_env, heartbeat, wait_for

MISSING = f"the sandbox needs the extra: pip install '{SANDBOX_EXTRA}'"

# Installed first in each subprocess: the extra's packages cannot be imported, as on a plain
# install. ``cmsync.sandbox_extra`` sees exactly the ``ModuleNotFoundError`` it would see then.
WITHOUT_EXTRA = f"""
import importlib.abc, sys

class WithoutSandboxExtra(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {SANDBOX_PACKAGES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, WithoutSandboxExtra())
"""

CLI = WITHOUT_EXTRA + "\nfrom cmsync.cli import app\napp()\n"

# Every module of the shipped packages but the sandbox's and the demo's parts (the demo's
# package itself only registers its command) and the scripts that run on import.
IMPORT_ALL = (
    WITHOUT_EXTRA
    + """
import importlib, json, pkgutil
import cmsync, state, tui

def needs_the_extra(name):
    return (
        name == "cmsync.sandbox"
        or name.startswith(("cmsync.sandbox.", "cmsync.demo."))
        or name.partition(".")[0] in ("trustme", "sortedcontainers")
    )

def walk(package):
    # pkgutil.walk_packages imports every package it meets, the sandbox's too: walk by hand
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if info.name in ("cmsync.__main__", "state.migrations.env"):
            continue  # scripts: they run on import
        if needs_the_extra(info.name):
            continue
        module = importlib.import_module(info.name)
        yield info.name
        if info.ispkg:
            yield from walk(module)

imported = [name for package in (cmsync, state, tui) for name in walk(package)]
loaded = sorted(name for name in sys.modules if needs_the_extra(name))
print(json.dumps({"imported": imported, "loaded": loaded}))
"""
)


def _without_extra(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, env=cmsync_env(**sync_env()), timeout=timeout,
    )  # fmt: skip


def _cmsync(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return _without_extra(CLI, *args, timeout=timeout)


@pytest.fixture(scope="module")
def world(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A small seeded company (a first pass over it takes a second or two)."""
    directory = tmp_path_factory.mktemp("without-extra")
    running = sandbox_loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=8)))
    try:
        yield World.of(running)
    finally:
        gc.collect()  # no lingering client response may hold a socket to the emulators
        sandbox_loop.call(running.stop())


@pytest.fixture(scope="module")
def config(world: World) -> Path:
    return world.sandbox.options.directory / "cmsync.toml"


def test_every_module_of_the_daemon_imports_without_the_extra() -> None:
    done = _without_extra(IMPORT_ALL)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"cmsync.daemon", "cmsync.status", "cmsync.cli", "tui.app"} <= set(result["imported"])
    assert result["loaded"] == []  # nothing pulled the sandbox or the demo's parts in


def test_help_lists_every_command_without_the_extra() -> None:
    done = _cmsync("--help")
    assert done.returncode == 0, done.stderr
    for command in ("run", "once", "status", "doctor", "tui", "config", "sandbox", "demo"):
        assert command in done.stdout


@pytest.mark.parametrize(
    "command", [("sandbox", "--quiet"), ("demo", "--headless", "--duration", "1")]
)
def test_the_sandbox_and_the_demo_name_the_extra_they_need(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    done = _cmsync(*command, "--dir", str(tmp_path / "sandbox"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == MISSING + "\n"
    assert not (tmp_path / "sandbox").exists()  # refused before doing anything


def test_config_once_doctor_and_status_run_without_the_extra(world: World, config: Path) -> None:
    shown = _cmsync("config", "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["store"]["path"]

    once = _cmsync("once", "--config", str(config), timeout=120)
    assert once.returncode == 0, once.stdout + once.stderr
    assert world.write_calls(), "the pass wrote nothing to Salesforce"

    doctor = _cmsync("doctor", "--config", str(config))
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr

    status = _cmsync("status", "--json", "--config", str(config))
    assert status.returncode == 2, status.stderr  # `once` ran, no daemon: down
    assert json.loads(status.stdout)["daemon"]


def test_the_daemon_runs_without_the_extra_and_stops_on_sigterm(
    config: Path, tmp_path: Path
) -> None:
    log = tmp_path / "daemon.log"
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-c", CLI, "run", "--config", str(config)],
            env=cmsync_env(**sync_env()), stdout=handle, stderr=handle,
        )  # fmt: skip
    try:
        store = _store_path(config)
        wait_for(lambda: heartbeat(store) is not None, 60, "the daemon's first heartbeat")
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _store_path(config: Path) -> Path:
    shown = _cmsync("config", "--config", str(config))
    return Path(json.loads(shown.stdout)["store"]["path"])


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built wheel installed with its own dependencies only, in a fresh venv."""
    root = Path(__file__).resolve().parents[2]
    work = tmp_path_factory.mktemp("plain-install")
    # Built from a copy of what the wheel ships: no build/ left in (or reused from) the checkout.
    source = work / "source"
    for part in ("cmsync", "state", "tui"):
        shutil.copytree(root / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(root / part, source / part)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(work),
         str(source)],
        check=True, timeout=300,
    )  # fmt: skip
    (wheel,) = work.glob("chartmogul_salesforce_sync-*.whl")
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)], check=True, timeout=600
    )
    return work / "venv" / "bin"


@pytest.mark.slow
def test_the_wheel_installed_without_extras_runs_once_and_names_the_extra(
    plain_install: Path, config: Path, tmp_path: Path
) -> None:
    python = plain_install / "python"
    for package in SANDBOX_PACKAGES:
        probe = subprocess.run([str(python), "-c", f"import {package}"], capture_output=True)
        assert probe.returncode != 0, f"{package} came with a plain install"
    cmsync = str(plain_install / "cmsync")
    env = cmsync_env(**sync_env())
    refused = subprocess.run(
        [cmsync, "sandbox", "--dir", str(tmp_path / "s")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert (refused.returncode, refused.stderr) == (2, MISSING + "\n")
    once = subprocess.run(
        [cmsync, "once", "--config", str(config)],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    assert once.returncode == 0, once.stdout + once.stderr
