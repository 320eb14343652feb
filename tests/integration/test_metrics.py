"""The metrics, scraped from the real daemon's listener over a socket and read from its
node_exporter textfile, against what the store holds after a pass.

The daemon (``Daemon.run``, what ``cmsync run`` runs) runs in this process against the
sandbox over its sockets with the listener on a loopback port the system picks and the
textfile rewritten every few tenths of a second. Once its first pass has written, the
figures a scrape and the textfile give (jobs' failures in a row and last success, the outbox
by status, the open quarantine, the writes per system, object and operation) must equal the
store's own, read beside them with plain SQL.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from cmsync.config import MetricsSettings, Settings, load_settings
from cmsync.daemon import Daemon
from cmsync.errors import FatalError
from cmsync.monitoring import MetricsExposure, StoreCollector, metrics_registry
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from tests.support.waiting import until

FAST = {
    "chartmogul_poll": 0.5,
    "customers": 1.0,
    "late_activities": 60.0,
    "salesforce_poll": 1.0,
    "dispatch": 0.3,
    "commands": 0.5,
    "jitter": 0.0,
}

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]
RAN = ("customers", "chartmogul", "salesforce", "dispatch")  # the jobs a first pass runs


@pytest.fixture(scope="module")
def sandbox(sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("metrics")
    running = sandbox_loop.call(start_sandbox(SandboxOptions(directory=directory, accounts=6)))
    try:
        yield running
    finally:
        gc.collect()
        sandbox_loop.call(running.stop())


def _settings(sandbox: RunningSandbox, tmp_path: Path) -> Settings:
    settings = load_settings(sandbox.config_file)
    return settings.model_copy(
        update={
            "schedule": settings.schedule.model_copy(update=FAST),
            "store": settings.store.model_copy(update={"path": tmp_path / "cmsync.db"}),
            "metrics": MetricsSettings(
                listen="127.0.0.1:0", textfile=tmp_path / "cmsync.prom", textfile_every=0.2
            ),
        }
    )


def _figures(text: str) -> Figures:
    found: Figures = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _from_store(path: Path) -> Figures:
    """What the metrics must say, read from the store with SQL of its own."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        figures: Figures = {}
        for job, failures in conn.execute("SELECT job, failures FROM job_health"):
            figures[("cmsync_job_failures_in_a_row", (("job", job),))] = failures
        for status in ("pending", "retrying", "in_flight", "dead"):
            figures[("cmsync_outbox_rows", (("status", status),))] = 0
        for status, count in conn.execute("SELECT status, count(*) FROM outbox GROUP BY status"):
            if status in ("pending", "retrying", "in_flight", "dead"):
                figures[("cmsync_outbox_rows", (("status", status),))] = count
        (open_,) = conn.execute("SELECT count(*) FROM quarantine WHERE status = 'open'").fetchone()
        figures[("cmsync_quarantine_open", ())] = open_
        rows = conn.execute("SELECT system, object, action, count(*) FROM audit GROUP BY 1, 2, 3")
        for system, obj, action, count in rows:
            labels = (("object", obj), ("operation", action), ("system", system))
            figures[("cmsync_writes_total", labels)] = count
        return figures
    finally:
        conn.close()


def _succeeded(path: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT job FROM job_health WHERE last_success_at IS NOT NULL")
        return {job for (job,) in rows}
    finally:
        conn.close()


def _compared(scraped: Figures) -> Figures:
    wanted = (
        "cmsync_job_failures_in_a_row",
        "cmsync_outbox_rows",
        "cmsync_quarantine_open",
        "cmsync_writes_total",
    )
    return {key: value for key, value in scraped.items() if key[0] in wanted}


async def test_a_scrape_and_the_textfile_say_what_the_store_holds(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    settings = _settings(sandbox, tmp_path)
    path, textfile = settings.store.path, tmp_path / "cmsync.prom"
    daemon = Daemon(settings, target_label="sandbox", grace=5, beat_every=0.2)
    stop = asyncio.Event()
    umask = os.umask(0o077)  # as the systemd unit runs cmsync
    running = asyncio.create_task(daemon.run(stop))

    def written() -> bool:
        if daemon.metrics.address is None or not path.exists():
            return False
        figures = _from_store(path)
        writes = sum(v for k, v in figures.items() if k[0] == "cmsync_writes_total")
        health = [k for k in figures if k[0] == "cmsync_job_failures_in_a_row"]
        return writes > 0 and len(health) == 7 and _succeeded(path) >= set(RAN)

    try:
        await until(written, 30, "the first pass's writes and every job's health")
        assert daemon.metrics.address is not None
        host, port = daemon.metrics.address
        scraped: Figures = {}
        async with aiohttp.ClientSession() as session:
            for _ in range(100):  # a figure read between two writes of the daemon: read again
                before = _from_store(path)
                async with session.get(f"http://{host}:{port}/metrics") as answer:
                    assert answer.status == 200
                    assert answer.content_type == "text/plain"
                    scraped = _figures(await answer.text())
                if before == _from_store(path) == _compared(scraped):
                    break
                await asyncio.sleep(0.1)
        assert _compared(scraped) == before
        assert scraped[("cmsync_store_readable", ())] == 1
        for job in RAN:
            assert ("cmsync_job_last_success_timestamp_seconds", (("job", job),)) in scraped
            assert scraped[("cmsync_job_last_duration_seconds", (("job", job),))] > 0
        lags = [k for k in scraped if k[0] == "cmsync_cursor_lag_seconds"]
        assert lags, "no cursor lag"
        budget = {k[1]: v for k, v in scraped.items() if k[0] == "cmsync_api_budget_used_calls"}
        assert budget.get((("system", "salesforce"),), 0) > 0

        def textfile_agrees() -> bool:
            if not textfile.exists():
                return False
            figures = _figures(textfile.read_text(encoding="utf-8"))
            return _compared(figures) == _from_store(path)

        await until(textfile_agrees, 10, "the textfile saying what the store holds")
        leftovers = [p.name for p in os.scandir(tmp_path) if p.name.endswith(".tmp")]
        assert not leftovers, "a temporary file was left behind"
        # Readable by node_exporter's user, though the daemon runs with UMask=0077.
        assert stat.S_IMODE(os.stat(textfile).st_mode) == 0o644
    finally:
        os.umask(umask)
        stop.set()
        await asyncio.wait_for(running, 30)
    # The listener goes with the daemon.
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session:
            await session.get(f"http://{host}:{port}/metrics")


def test_a_textfile_that_cannot_be_written_is_said_once_and_written_when_it_can(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing directory (node_exporter not installed yet, say): one warning, not one per
    write; the figures go out once the directory exists, and that is said too."""
    textfile = tmp_path / "textfile" / "cmsync.prom"
    collector = StoreCollector(tmp_path / "no-store-yet.db")
    registry, _ = metrics_registry(collector)
    exposure = MetricsExposure(MetricsSettings(textfile=textfile), registry)
    assert not exposure.write_textfile() and not exposure.write_textfile()
    assert [r.getMessage() for r in caplog.records] == [
        f"metrics: cannot write {textfile}: No such file or directory"
    ]
    textfile.parent.mkdir()
    assert exposure.write_textfile()
    assert caplog.records[-1].getMessage() == f"metrics: {textfile} written again"
    # No store yet: the file says so rather than nothing.
    assert _figures(textfile.read_text(encoding="utf-8")) == {("cmsync_store_readable", ()): 0}


def test_a_listener_port_already_taken_stops_the_start_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = MetricsSettings(listen=f"127.0.0.1:{port}")
        exposure = MetricsExposure(settings, CollectorRegistry())
        with pytest.raises(FatalError) as refused:
            exposure.start()
    assert str(refused.value) == (
        f"metrics.listen 127.0.0.1:{port}: cannot listen: Address already in use; choose a "
        "free port or leave metrics.listen unset"
    )
