"""A heartbeat's age: by the monotonic clock on the same boot, never fresh from the future.

``state.liveness`` (pure), ``cmsync status`` over a real store file, the dashboard's judgement,
and the schema step that added the beat's monotonic reading and boot id to older stores.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cmsync import status
from state import Heartbeat, Store, head_revision
from state.liveness import MachineClock, beat_age
from tui.format import DaemonLiveness, liveness

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
BOOT = "6d1f0c5e-3a8b-4d7e-9f00-0123456789ab"
STALE = timedelta(seconds=30)


def _beat(at: datetime, *, monotonic: float | None = None, boot: str | None = None) -> Heartbeat:
    return Heartbeat(4242, at - timedelta(hours=1), at, "sandbox", None, monotonic, boot)


def test_on_the_same_boot_the_monotonic_clock_says_how_old_a_beat_is() -> None:
    here = MachineClock(1_000.0, BOOT)
    # The wall clock was stepped back an hour since the beat: its wall time is in the future.
    ahead = _beat(NOW + timedelta(hours=1), monotonic=997.0, boot=BOOT)
    assert beat_age(ahead, NOW, here).age == timedelta(seconds=3)
    assert liveness(ahead, NOW, STALE, here) is DaemonLiveness.RUNNING
    # Stepped forward a day: a live daemon's beat looks a day old by wall time, not by age.
    behind = _beat(NOW - timedelta(days=1), monotonic=999.0, boot=BOOT)
    assert liveness(behind, NOW, STALE, here) is DaemonLiveness.RUNNING
    # A killed daemon: its last beat is 40 s old by the monotonic clock, whatever its wall time.
    killed = _beat(NOW + timedelta(minutes=5), monotonic=960.0, boot=BOOT)
    assert beat_age(killed, NOW, here).by == "monotonic"
    assert liveness(killed, NOW, STALE, here) is DaemonLiveness.STALE


def test_elsewhere_a_beat_from_the_future_is_never_fresh() -> None:
    here = MachineClock(1_000.0, "another-boot")
    for beat in (
        _beat(NOW + timedelta(hours=1), monotonic=999.0, boot=BOOT),  # an earlier boot
        _beat(NOW + timedelta(hours=1)),  # written by a daemon that knew no monotonic clock
    ):
        age = beat_age(beat, NOW, here)
        assert age.age is None and age.by == "wall"
        assert liveness(beat, NOW, STALE, here) is DaemonLiveness.STALE
    recent = _beat(NOW - timedelta(seconds=4))
    assert beat_age(recent, NOW, None).age == timedelta(seconds=4)
    assert liveness(recent, NOW, STALE, None) is DaemonLiveness.RUNNING
    # A second ahead is two processes reading one clock a moment apart, not the future.
    assert beat_age(_beat(NOW + timedelta(seconds=1)), NOW, None).age == timedelta()


def _store_with_beat(
    path: Path, clock: datetime, monotonic: float | None, boot: str | None
) -> None:
    with Store.open(path, clock=lambda: clock) as store, store.transaction() as tx:
        tx.daemon.beat(4242, clock, "sandbox", monotonic=monotonic, boot_id=boot)


def test_status_calls_a_killed_daemon_with_a_beat_in_the_future_stale(tmp_path: Path) -> None:
    path = tmp_path / "cmsync.db"
    # The daemon beat, then was killed; the clock was stepped back an hour since.
    _store_with_beat(path, NOW + timedelta(hours=1), None, None)
    seen = status.collect(path, NOW, MachineClock(1_000.0, BOOT))["daemon"]
    assert seen["state"] == "stale" and seen["beat_age_seconds"] is None
    # Same boot: its monotonic reading says 2 minutes, so stale too, by the monotonic clock.
    _store_with_beat(path, NOW + timedelta(hours=1), 880.0, BOOT)
    seen = status.collect(path, NOW, MachineClock(1_000.0, BOOT))["daemon"]
    assert (seen["state"], seen["beat_age_seconds"], seen["beat_age_by"]) == (
        "stale", 120.0, "monotonic",
    )  # fmt: skip
    # And a live daemon after the same step: 2 s by the monotonic clock, running.
    _store_with_beat(path, NOW + timedelta(hours=1), 998.0, BOOT)
    seen = status.collect(path, NOW, MachineClock(1_000.0, BOOT))["daemon"]
    assert (seen["state"], seen["beat_age_seconds"]) == ("running", 2.0)


def test_a_store_of_schema_1_gets_the_heartbeat_columns(tmp_path: Path) -> None:
    path = tmp_path / "cmsync.db"
    _store_with_beat(path, NOW, None, None)
    with sqlite3.connect(path) as conn:  # the file as the pre-Alembic version 1 left it
        conn.execute("ALTER TABLE heartbeat DROP COLUMN beat_monotonic")
        conn.execute("ALTER TABLE heartbeat DROP COLUMN boot_id")
        conn.execute("DROP TABLE alembic_version")
        conn.execute("DROP TABLE store_info")
        conn.execute("DROP TABLE job_health")
        conn.execute("DROP TABLE alert_sent")
        conn.execute("ALTER TABLE audit DROP COLUMN keys")
        conn.execute("ALTER TABLE outbox DROP COLUMN merged_keys")
        conn.execute("UPDATE schema_version SET version = 1")
    _store_with_beat(path, NOW, 12.5, BOOT)  # the writer's open migrates (revision 0002)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (
            head_revision(),
        )
        row = conn.execute("SELECT beat_monotonic, boot_id FROM heartbeat").fetchone()
    assert row == (12.5, BOOT)
