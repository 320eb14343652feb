"""`cmsync doctor` against the sandbox over real TLS: healthy, a field not deployed, a wrong
data source, refused credentials, unreachable services, and the command end to end.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import AnyHttpUrl, SecretStr
from typer.testing import CliRunner

from cmsync.admin.cli import register
from cmsync.admin.doctor import Severity, diagnose
from cmsync.config import Settings, load_settings

if TYPE_CHECKING:
    from cmsync.sandbox.runner import RunningSandbox
    from cmsync.sandbox.serve import LoopThread

DROPPED = "Account.CM_MRR__c"
OBJECTS = {"Account", "Contact", "Lead", "Opportunity", "Task", "Case", "CM_Metric_Snapshot__c"}


@pytest.fixture(scope="module")
def dropped_sandbox(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """A sandbox whose org lacks Account.CM_MRR__c, as if the admin had not deployed it."""
    from cmsync.sandbox.runner import SandboxOptions, start_sandbox

    options = SandboxOptions(
        directory=tmp_path_factory.mktemp("doctor-dropped"), accounts=3, drop_fields=(DROPPED,)
    )
    running = sandbox_loop.call(start_sandbox(options))
    try:
        yield running
    finally:
        sandbox_loop.call(running.stop())


@pytest.fixture(scope="module")
def sandbox_org(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """A Salesforce sandbox org whose integration user lacks View Setup and Configuration."""
    from cmsync.sandbox.runner import SandboxOptions, start_sandbox

    options = SandboxOptions(
        directory=tmp_path_factory.mktemp("doctor-sandbox-org"),
        accounts=3,
        org_kind="sandbox",
        view_setup=False,
    )
    running = sandbox_loop.call(start_sandbox(options))
    try:
        yield running
    finally:
        sandbox_loop.call(running.stop())


@pytest.fixture
def settings(full_sandbox: RunningSandbox) -> Settings:
    return load_settings(full_sandbox.config_file)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_healthy_sandbox_passes(settings: Settings, full_sandbox: RunningSandbox) -> None:
    report = await diagnose(settings)
    assert report.exit_code == 0 and report.errors == () and report.warnings == ()
    subjects = {f.subject for f in report.findings}
    assert OBJECTS | {"login", "ping", "plans", "DailyApiRequests"} <= subjects
    [source] = report.about(full_sandbox.seeded.data_source_uuid)
    assert "cmsync sandbox billing" in source.message


async def test_converted_leads_are_reported_as_enriched_through_their_contact(
    settings: Settings,
) -> None:
    """Salesforce refuses updates of converted Leads (CANNOT_UPDATE_CONVERTED_LEAD, Salesforce
    Help article 000384333): the doctor says cmsync goes through the Contact instead."""
    report = await diagnose(settings)
    [finding] = report.about("converted Leads")
    assert (finding.severity, finding.area) == (Severity.OK, "Salesforce")
    assert finding.message.startswith("converted Leads are enriched through their Contact")
    assert "'View and Edit Converted Leads', nothing changes" in finding.message


async def test_a_field_not_deployed_is_named_with_its_fix(dropped_sandbox: RunningSandbox) -> None:
    report = await diagnose(load_settings(dropped_sandbox.config_file))
    [error] = report.errors
    assert error.subject == DROPPED and "missing" in error.message
    assert error.fix is not None
    assert "force-app/main/default/objects/Account/fields/CM_MRR__c.field-meta.xml" in error.fix
    assert "fields.account.mrr" in error.fix
    assert report.exit_code == 1
    assert {f.subject for f in report.findings if f.severity is Severity.OK} >= OBJECTS - {
        "Account"
    }


async def test_a_wrong_data_source_is_named(
    settings: Settings, full_sandbox: RunningSandbox
) -> None:
    wrong = "ds_00000000-0000-0000-0000-000000000000"
    chartmogul = settings.chartmogul.model_copy(update={"data_source_uuid": wrong})
    report = await diagnose(settings.model_copy(update={"chartmogul": chartmogul}))
    [error] = report.errors
    assert error.subject == wrong and "not found" in error.message
    assert full_sandbox.seeded.data_source_uuid in error.message  # what to use instead
    assert error.fix is not None and "chartmogul.data_source_uuid" in error.fix
    assert report.exit_code == 1


async def test_refused_credentials_are_findings_not_tracebacks(settings: Settings) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    wrong = settings.model_copy(
        update={
            "salesforce": settings.salesforce.model_copy(update={"private_key": SecretStr(pem)}),
            "chartmogul": settings.chartmogul.model_copy(
                update={"api_key": SecretStr("not-the-key-0123456789")}
            ),
        }
    )
    report = await diagnose(wrong)
    assert {f.subject for f in report.errors} == {"login", "API key"}
    [login] = report.about("login")
    assert "refused" in login.message and login.fix is not None
    assert "certificate" in login.fix and "pre-authorized" in login.fix
    [api_key] = report.about("API key")
    assert api_key.fix is not None and "chartmogul.api_key" in api_key.fix
    assert not OBJECTS & {f.subject for f in report.findings}  # nothing checked after a refusal
    assert "not-the-key-0123456789" not in report.render()
    assert report.exit_code == 1


async def test_unreachable_services_are_findings(settings: Settings) -> None:
    nowhere = AnyHttpUrl(f"https://127.0.0.1:{_closed_port()}")
    report = await diagnose(
        settings.model_copy(
            update={
                "salesforce": settings.salesforce.model_copy(update={"login_url": nowhere}),
                "chartmogul": settings.chartmogul.model_copy(update={"base_url": nowhere}),
            }
        )
    )
    assert {(f.area, f.subject) for f in report.errors} == {
        ("ChartMogul", "ping"),
        ("Salesforce", "login"),
    }
    assert all("cannot reach" in f.message for f in report.errors)


def test_the_doctor_command_end_to_end(
    full_sandbox: RunningSandbox, dropped_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    healthy = runner.invoke(app, ["doctor", "--config", str(full_sandbox.config_file)])
    assert healthy.exit_code == 0, healthy.output
    assert "0 error(s), 0 warning(s)" in healthy.stdout
    broken = runner.invoke(app, ["doctor", "-c", str(dropped_sandbox.config_file)])
    assert broken.exit_code == 1
    assert f"error   {DROPPED}" in broken.stdout and "fix: deploy" in broken.stdout
    invalid = runner.invoke(app, ["doctor", "--config", str(tmp_path / "missing.toml")])
    assert invalid.exit_code == 2 and invalid.stderr.startswith("error: config file")


async def test_a_refused_jwt_audience_names_what_was_sent_and_what_to_set(
    sandbox_org: RunningSandbox,
) -> None:
    # A sandbox org accepts only https://test.salesforce.com (Salesforce Help, "OAuth 2.0 JWT
    # Bearer Flow for Server-to-Server Integration"); the production audience is refused.
    settings = load_settings(sandbox_org.config_file)
    production = AnyHttpUrl("https://login.salesforce.com")
    forced = settings.model_copy(
        update={"salesforce": settings.salesforce.model_copy(update={"jwt_audience": production})}
    )
    report = await diagnose(forced)
    [login] = report.errors
    assert login.subject == "login"
    assert "audience is invalid" in login.message
    assert "sent was https://login.salesforce.com (salesforce.jwt_audience)" in login.message
    assert login.fix is not None
    assert 'set salesforce.jwt_audience = "https://test.salesforce.com"' in login.fix
    assert "never the My Domain" in login.fix
    assert report.exit_code == 1


async def test_limits_without_view_setup_is_a_warning_with_its_fix(
    sandbox_org: RunningSandbox,
) -> None:
    report = await diagnose(load_settings(sandbox_org.config_file))
    assert report.errors == () and report.exit_code == 0
    [warning] = report.warnings
    assert warning.subject == "/limits" and "INSUFFICIENT_ACCESS" in warning.message
    assert "Sforce-Limit-Info" in warning.message
    assert warning.fix is not None and "cmsync_Integration" in warning.fix
    assert "View Setup and Configuration" in warning.fix
    [budget] = report.about("DailyApiRequests")  # still judged, from the headers
    assert budget.severity is Severity.OK and "of 100,000 calls used" in budget.message


async def test_an_inactive_or_unknown_fallback_owner_is_a_problem_with_its_fix(
    settings: Settings, full_sandbox: RunningSandbox
) -> None:
    store = full_sandbox.salesforce.store
    store.insert(
        "User", {"LastName": "Idle", "Email": "idle@doctor.example",
                 "Username": "idle@doctor.example", "IsActive": False},
    )  # fmt: skip
    ready = store.insert(
        "User", {"LastName": "Ready", "Email": "ready@doctor.example",
                 "Username": "ready@doctor.example"},
    )  # fmt: skip

    def owned_by(value: str) -> Settings:
        sync = settings.sync.model_copy(update={"fallback_owner": value})
        return settings.model_copy(update={"sync": sync})

    for value, says in (("idle@doctor.example", "inactive"), ("nobody@doctor.example", "no")):
        report = await diagnose(owned_by(value))
        [error] = report.errors
        assert error.subject == "sync.fallback_owner" and says in error.message, error
        assert error.fix is not None and "sync.fallback_owner" in error.fix
        assert report.exit_code == 1
    report = await diagnose(owned_by(ready))  # by Id this time
    assert report.errors == ()
    [fine] = report.about("sync.fallback_owner")
    assert ready in fine.message


@pytest.fixture(scope="module")
def skewed_sandbox(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """A sandbox whose services' clock runs ten minutes ahead of this machine's."""
    from cmsync.sandbox.runner import SandboxOptions, start_sandbox

    options = SandboxOptions(directory=tmp_path_factory.mktemp("doctor-skewed"), accounts=3)
    running = sandbox_loop.call(start_sandbox(options))
    running.ctx.clock.advance(600)
    try:
        yield running
    finally:
        sandbox_loop.call(running.stop())


async def test_a_clock_off_by_more_than_a_minute_is_a_warning_per_service(
    settings: Settings, skewed_sandbox: RunningSandbox
) -> None:
    """Both services date their answers (RFC 9110 §6.6.1 Date): the doctor compares each
    one's clock with this machine's."""
    healthy = await diagnose(settings)
    assert [(f.area, f.severity) for f in healthy.findings if f.subject == "clock"] == [
        ("ChartMogul", Severity.OK),
        ("Salesforce", Severity.OK),
    ]
    report = await diagnose(load_settings(skewed_sandbox.config_file))
    assert report.errors == () and report.exit_code == 0  # reads lose nothing: a warning
    clocks = report.about("clock")
    assert [(f.area, f.severity) for f in clocks] == [
        ("ChartMogul", Severity.WARNING),
        ("Salesforce", Severity.WARNING),
    ]
    for finding in clocks:  # measured to the second Date has (one answer may be late in it)
        said = re.search(rf"clock is (\S+ \S+) behind {finding.area}'s", finding.message)
        assert said is not None and said[1] in {"9m 59s", "10m 0s", "10m 1s"}, finding
        assert "loses nothing" in finding.message
        assert finding.fix is not None
        assert "NTP" in finding.fix and "chrony" in finding.fix
        assert "systemd-timesyncd" in finding.fix
    assert "JWT assertion" in clocks[1].message  # the sandbox logs in with the JWT flow
    assert "behind ChartMogul's" in report.render()


async def test_a_store_that_cannot_be_written_is_an_error_not_cmsync_can_sync(
    settings: Settings, tmp_path: Path
) -> None:
    from state import Store
    from tests.support.diskfaults import immutable, store_files

    path = tmp_path / "cmsync.db"
    Store.open(path).close()
    stored = settings.model_copy(update={"store": settings.store.model_copy(update={"path": path})})
    healthy = await diagnose(stored)
    assert [f.severity for f in healthy.findings if f.area == "Store"] == [Severity.OK] * 2
    with immutable(store_files(path)):
        report = await diagnose(stored)
    [error] = report.errors
    assert (error.area, error.subject) == ("Store", "writable")
    assert error.message == (
        f"{path} cannot be written: attempt to write a readonly database (SQLITE_READONLY)"
    )
    assert error.fix is not None and "remount it read-write" in error.fix
    assert "cmsync can sync" not in report.render()
