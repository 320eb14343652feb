"""`cmsync tui` says when each job runs next, from the configuration the daemon runs with.

The store records runs, not plans: the schedule comes from the settings (``job_schedules``),
an interval job's next run at its last start plus its interval, the report job's at its
cron's next fire time after its last start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from cmsync.config import Settings, load_settings
from cmsync.daemon.schedules import job_schedules
from state import JobResult, Store
from tests.support.keys import RSA_PEM
from tests.tui.storefill import NOW
from tests.tui.test_panels import SIZE, plain, refreshed
from tui import Dashboard
from tui.widgets import JobsPanel

CONFIG = """
[chartmogul]
api_key_file = "{key}"
data_source_uuid = "ds_0f6b2d2a-1111-4a4a-9c9c-000000000001"

[salesforce]
auth_flow = "jwt"
client_id = "3MVG9example"
username = "integration@example.com"
private_key_file = "{pem}"

[schedule]
customers = 600
report_cron = "15 0 * * *"
"""


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [name for name in os.environ if name.startswith("CMSYNC_")]:
        monkeypatch.delenv(name)
    key, pem, config = tmp_path / "cm_key", tmp_path / "sf.pem", tmp_path / "cmsync.toml"
    key.write_text("cm-secret-key\n")
    pem.write_text(RSA_PEM)
    config.write_text(CONFIG.format(key=key, pem=pem))
    return load_settings(config)


def _ran(db_path: Path, job: str, ago: timedelta) -> None:
    with Store.open(db_path, clock=lambda: NOW - ago) as store, store.transaction() as tx:
        tx.jobs.finish(tx.jobs.start(job), JobResult.OK, "")


async def test_the_jobs_panel_shows_the_configured_next_runs(
    daemon: Store, db_path: Path, make_app: Callable[..., Dashboard], settings: Settings
) -> None:
    _ran(db_path, "customers", timedelta(minutes=1))
    _ran(db_path, "reports", timedelta(hours=11, minutes=45))
    app = make_app(schedules=job_schedules(settings))
    async with app.run_test(size=SIZE) as pilot:
        await refreshed(app, pilot)
        jobs = app.query_one(JobsPanel)
        assert plain(jobs.get_row("customers"))[4] == "in 9m 00s"  # 600 s after its start
        # Started at 00:15 by the cron; the next fire is tomorrow's 00:15, 12h 15m from noon.
        assert plain(jobs.get_row("reports"))[4] == "in 12h 15m"
