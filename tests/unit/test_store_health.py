"""The daemon's store health: said once, then once a minute at most, then once when it ends;
and the note beside the store that ``cmsync status`` reads while the store takes no writes."""

from __future__ import annotations

import logging
import os
from collections import namedtuple
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cmsync.admin.findings import Severity
from cmsync.admin.store_checks import MB, check_store
from cmsync.daemon.store_health import StoreHealth
from cmsync.status import collect, render
from state import Store, StoreUnwritableError
from state.storehealth import StoreHealthNote, health_path, read_note, write_note
from tests.support.diskfaults import immutable, store_files

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FULL = "database or disk is full (SQLITE_FULL)"


class Clocks:
    def __init__(self) -> None:
        self.seconds = 0.0

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cmsync.health"]


def test_one_line_when_it_starts_one_a_minute_one_when_it_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    path, clocks = tmp_path / "cmsync.db", Clocks()
    health = StoreHealth(path, clock=clocks.wall, monotonic=clocks.monotonic)
    error = StoreUnwritableError(path, FULL)
    for _ in range(150):  # a failed write every second for two and a half minutes
        health.failed(error)
        clocks.seconds += 1
    lines = _lines(caplog)
    assert [line.split(":")[0] for line in lines] == [
        "store unwritable", "store still unwritable", "store still unwritable"
    ]  # fmt: skip
    assert FULL in lines[0] and str(path) in lines[0]
    assert all(not r.exc_info for r in caplog.records)  # never a traceback
    note = read_note(path)
    assert note is not None and note.reason == FULL and note.since == T0
    assert note.written_at == T0 + timedelta(seconds=120) and note.pid == os.getpid()
    health.wrote()
    health.wrote()
    assert _lines(caplog)[3:] == [
        f"store writable again ({path}): unwritable since 2026-03-01 12:00:00 UTC, "
        "150 writes refused"
    ]
    assert not health_path(path).exists() and health.up


def test_status_says_store_unwritable_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "cmsync.db"
    with Store.open(path, clock=lambda: T0) as store, store.transaction() as tx:
        tx.daemon.beat(4242, T0, "sandbox")
    now = T0 + timedelta(minutes=5)  # the heartbeat is long stale: the store refused it
    assert collect(path, now)["daemon"]["state"] == "stale"
    note = StoreHealthNote(FULL, T0 + timedelta(seconds=10), now - timedelta(seconds=30), 4242)
    assert write_note(path, note)
    status = collect(path, now)
    assert status["daemon"]["state"] == "store unwritable"
    assert status["store_health"]["reason"] == FULL and status["store_health"]["fresh"] is True
    text = render(status)
    assert "daemon    store unwritable (pid 4242" in text
    assert f"store     unwritable: {FULL} (since 2026-03-01T12:00:10+00:00" in text
    # The daemon that wrote it went away (killed while the disk was full): stale, the reason kept.
    later = collect(path, now + timedelta(minutes=10))
    assert later["daemon"]["state"] == "stale" and later["store_health"]["fresh"] is False


Usage = namedtuple("Usage", "total used free")


def test_the_doctor_checks_the_store_is_writable_and_has_room(tmp_path: Path) -> None:
    path = tmp_path / "cmsync.db"

    def disk(free: int) -> list[tuple[Severity, str, str]]:
        found = check_store(path, disk_usage=lambda _: Usage(10**12, 0, free))
        return [(f.severity, f.subject, f.message) for f in found]

    assert [s for s, *_ in disk(50 * 1024 * MB)] == [Severity.OK, Severity.OK]
    Store.open(path).close()
    [writable, room] = disk(60 * MB)
    assert writable[0] is Severity.OK and writable[2] == f"{path} takes writes"
    assert room[0] is Severity.WARNING and "60 MB free on the store's filesystem" in room[2]
    [_, floor] = disk(5 * MB)
    assert floor[0] is Severity.ERROR and "SQLite will refuse writes" in floor[2]
    with immutable(store_files(path)):
        [refused, _] = disk(50 * 1024 * MB)
    assert refused[0] is Severity.ERROR
    assert refused[2] == (
        f"{path} cannot be written: attempt to write a readonly database (SQLITE_READONLY)"
    )
