"""`cmsync run` refuses to start on a field mapping the org cannot take, against the sandbox.

The org here lacks Account.CM_MRR__c (not deployed), holds Contact.CM_LTV__c as a text field
(cmsync writes a currency) and lets the integration user read but not edit Account.CM_Plan__c:
every Account update and every Contact enrichment would fail. Started anyway, the daemon
would dead-letter them on every sweep; instead its first refresh runs the doctor's describe
checks and exits 2 naming each setting, before anything is written.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cmsync.admin.doctor import diagnose
from cmsync.admin.org_gate import REFUSING
from cmsync.config import Settings, load_settings
from cmsync.daemon import Daemon
from cmsync.errors import FatalError
from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE
from cmsync.salesforce.schema import FieldSpec, FieldType
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import Store
from tests.support.processes import CMSYNC, cmsync_env


def _changed(sobject: str, name: str, **changes: object) -> tuple[str, FieldSpec]:
    spec = DEFAULT_CATALOGUE[sobject].field(name)
    assert spec is not None
    return sobject, replace(spec, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def unfit_org(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    options = SandboxOptions(
        directory=tmp_path_factory.mktemp("unfit-org"), accounts=3, seed=5,
        drop_fields=("Account.CM_MRR__c",),
        changed_fields=(
            _changed("Contact", "CM_LTV__c", type=FieldType.STRING, length=40),
            _changed("Account", "CM_Plan__c", updateable=False, createable=False),
        ),
    )  # fmt: skip
    running = sandbox_loop.call(start_sandbox(options))
    try:
        yield running
    finally:
        gc.collect()
        sandbox_loop.call(running.stop())


def _writes(sandbox: RunningSandbox) -> int:
    stats = sandbox.salesforce.stats.by_endpoint
    return sum(count for key, count in stats.items() if "composite" in key or "PATCH" in key)


async def _refusal(settings: Settings) -> str:
    daemon = Daemon(settings, target_label="sandbox", first_refresh_delays=(0.01, 0.01))
    with pytest.raises(FatalError) as err:
        await daemon.run(asyncio.Event())
    return str(err.value)


async def test_the_daemon_refuses_a_mapping_the_org_cannot_take(
    unfit_org: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(unfit_org.config_file)
    writes = _writes(unfit_org)
    message = await _refusal(settings)
    assert message.startswith("the first refresh failed: MappingRefusedError: the org cannot")
    assert (
        "fields.account.mrr (Account.CM_MRR__c): is missing, or hidden from the integration "
        "user; fix: deploy force-app/main/default/objects/Account/fields/CM_MRR__c.field-meta"
        ".xml from `cmsync salesforce metadata`" in message
    )
    assert "or set fields.account.mrr to the name of the org's own field" in message
    assert "fields.contact.ltv (Contact.CM_LTV__c): is string, but cmsync writes a currency" in (
        message
    )
    assert "fields.account.plan (Account.CM_Plan__c): the integration user may not edit it" in (
        message
    )
    assert "\n" not in message
    # Not transient: refused at once, never tried again; and nothing was written or queued.
    assert not [r for r in caplog.records if "trying again" in r.getMessage()]
    assert _writes(unfit_org) == writes
    store = Store.open(settings.store.path, create=False)
    try:
        with store.transaction() as tx:
            assert tx.queries.dead_letters() == []
    finally:
        store.close()


async def test_the_refusal_is_what_the_doctor_finds(unfit_org: RunningSandbox) -> None:
    """One definition: each refused field is one of the doctor's errors, by the same check."""
    settings = load_settings(unfit_org.config_file)
    message = await _refusal(settings)
    report = await diagnose(settings)
    blocking = {f.subject for f in report.errors if f.check in REFUSING}
    assert blocking == {"Account.CM_MRR__c", "Contact.CM_LTV__c", "Account.CM_Plan__c"}
    assert all(f"({subject})" in message for subject in blocking)


async def test_objects_of_a_disabled_job_are_not_held_against_it(
    unfit_org: RunningSandbox,
) -> None:
    settings = load_settings(unfit_org.config_file)
    enrichment = settings.enrichment.model_copy(update={"enabled": False})
    message = await _refusal(settings.model_copy(update={"enrichment": enrichment}))
    assert "fields.account.mrr" in message and "fields.contact.ltv" not in message


def test_cmsync_run_exits_2_with_one_line_naming_the_setting(
    unfit_org: RunningSandbox, tmp_path: Path
) -> None:
    env = cmsync_env(CMSYNC_STORE__PATH=str(tmp_path / "cmsync.db"))
    done = subprocess.run(
        [*CMSYNC, "run", "--config", str(unfit_org.config_file)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "fields.account.mrr (Account.CM_MRR__c): is missing" in error
