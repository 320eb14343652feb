"""The doctor's pure parts (describe against needs, the budget, the report), the systemd unit,
and the README's settings table.

Describe bodies come from the sandbox's describe generator over a modified catalogue: the same
bodies the emulator would serve for an org set up that way, without a socket.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cmsync.admin.cli import register
from cmsync.admin.findings import Finding, Report, Severity
from cmsync.admin.needs import needs
from cmsync.admin.settings_doc import settings_table
from cmsync.admin.sf_checks import budget_finding
from cmsync.admin.sf_schema import compare, missing_object
from cmsync.admin.systemd import unit_text
from cmsync.config import ChartMogulSettings, SalesforceSettings, Settings, load_settings
from cmsync.daemon.runner import HEARTBEAT_SECONDS
from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE
from cmsync.salesforce.schema import FieldType, PicklistValue
from cmsync.sandbox.salesforce.describe import sobject_describe
from cmsync.status import STALE_AFTER
from tests.support.keys import RSA_PEM

README = Path(__file__).resolve().parents[2] / "README.md"
SETTINGS = Settings(
    chartmogul=ChartMogulSettings(api_key="k"),
    salesforce=SalesforceSettings(client_id="c", username="u@example.com", private_key=RSA_PEM),
)
NEEDS = {need.name: need for need in needs(SETTINGS)}


def describe(sobject: str, field: str | None = None, **changes: Any) -> dict[str, Any]:
    """The describe of ``sobject``, with ``field`` changed as given."""
    spec = DEFAULT_CATALOGUE[sobject]
    if field is not None:
        original = spec.field(field)
        assert original is not None
        spec = spec.with_field(replace(original, **changes))
    return sobject_describe(spec, DEFAULT_CATALOGUE, "62.0")


def problems(sobject: str, body: dict[str, Any]) -> list[Finding]:
    return [f for f in compare(NEEDS[sobject], body) if f.severity is not Severity.OK]


@pytest.mark.parametrize("sobject", list(NEEDS))
def test_an_org_like_the_catalogue_is_healthy(sobject: str) -> None:
    findings = compare(NEEDS[sobject], describe(sobject))
    assert [f.severity for f in findings] == [Severity.OK]


@pytest.mark.parametrize(
    ("sobject", "field", "changes", "severity", "says", "fix_says"),
    [
        ("Account", "CM_MRR__c", {"type": FieldType.STRING, "length": 20}, "error",
         "is string, but cmsync writes a currency", "fields.account.mrr"),
        ("Task", "CM_Sync_Key__c", {"external_id": False}, "error",
         "not an External ID", "External ID"),
        ("Case", "CM_Sync_Key__c", {"unique": False}, "error", "not Unique", "Unique"),
        ("Account", "CM_Customer_UUID__c", {"external_id": False}, "warning",
         "not an External ID", "External ID"),
        ("Account", "CM_MRR__c", {"updateable": False}, "error", "may not edit",
         "cmsync_Integration"),
        ("Opportunity", "Amount", {"createable": False}, "error", "may not create",
         "field-level security"),
        ("Account", "CM_Plan__c", {"length": 40}, "warning", "holds 40 characters",
         "raise its length to 255"),
        ("Account", "CM_Lifecycle_Stage__c",
         {"picklist_values": (PicklistValue("Lead", "Lead"), PicklistValue("New", "New"))},
         "error", "no active value 'Trial', 'Active', 'At Risk', 'Churned'", "picklist"),
        ("Opportunity", "StageName", {"picklist_values": (PicklistValue("Won", "Won"),)},
         "error", "no active value 'Closed Won'", "sync.opportunity_stage"),
        ("Task", "WhatId", {"reference_to": ("Opportunity",)}, "error",
         "does not refer to Account, Case", "point it at"),
    ],
)  # fmt: skip
def test_each_defect_is_one_finding_with_its_fix(
    sobject: str,
    field: str,
    changes: dict[str, Any],
    severity: str,
    says: str,
    fix_says: str,
) -> None:
    [finding] = problems(sobject, describe(sobject, field, **changes))
    assert finding.severity == severity and finding.subject == f"{sobject}.{field}"
    assert says in finding.message and finding.fix is not None and fix_says in finding.fix


def test_compatible_types_and_open_picklists_are_accepted() -> None:
    as_double = describe("Account", "CM_MRR__c", type=FieldType.DOUBLE)
    longer = describe("Account", "CM_Plan__c", length=1000)
    open_picklist = describe("Account", "CM_Churn_Risk__c", restricted_picklist=False,
                             picklist_values=())  # fmt: skip
    for body in (as_double, longer, open_picklist):
        assert problems("Account", body) == []


def test_a_missing_field_names_the_file_to_deploy_and_the_setting() -> None:
    body = sobject_describe(DEFAULT_CATALOGUE["Task"].without_field("CM_Sync_Key__c"),
                            DEFAULT_CATALOGUE, "62.0")  # fmt: skip
    [finding] = problems("Task", body)
    assert finding.severity is Severity.ERROR and finding.subject == "Task.CM_Sync_Key__c"
    assert finding.fix is not None
    assert "objects/Activity/fields/CM_Sync_Key__c.field-meta.xml" in finding.fix
    assert "fields.sync_key" in finding.fix and "cmsync_Integration" in finding.fix
    body = sobject_describe(DEFAULT_CATALOGUE["Account"].without_field("Website"),
                            DEFAULT_CATALOGUE, "62.0")  # fmt: skip
    [hidden] = problems("Account", body)
    assert hidden.fix is not None and "field-level security" in hidden.fix


def test_object_permissions_and_missing_objects() -> None:
    body = describe("Task") | {"createable": False}
    [finding] = problems("Task", body)
    assert "may not create Task" in finding.message
    assert finding.fix is not None and "EditTask" in finding.fix
    body = describe("Case") | {"createable": False, "updateable": False}
    [finding] = problems("Case", body)
    assert finding.fix is not None and "Edit/Create on Case" in finding.fix
    snapshot = missing_object(NEEDS["CM_Metric_Snapshot__c"])
    assert snapshot.severity is Severity.ERROR and snapshot.fix is not None
    assert "CM_Metric_Snapshot__c.object-meta.xml" in snapshot.fix


@pytest.mark.parametrize(
    ("remaining", "severity", "says"),
    [(90_000, Severity.OK, "40,000 of headroom"), (52_000, Severity.WARNING, "run slowed"),
     (48_000, Severity.ERROR, "pause every write")],
)  # fmt: skip
def test_budget_headroom_against_the_share(remaining: int, severity: Severity, says: str) -> None:
    finding = budget_finding({"DailyApiRequests": {"Max": 100_000, "Remaining": remaining}}, 0.5)
    assert finding.severity is severity and says in finding.message


def test_the_report_exits_non_zero_on_errors_only() -> None:
    warning = Finding.warning("ChartMogul", "plans", "none yet", "create some")
    error = Finding.error("Salesforce", "Account.CM_MRR__c", "is missing", "deploy it " * 20)
    assert Report((warning,)).exit_code == 0
    report = Report.of([warning], [error, Finding.ok("Salesforce", "Task", "fine")])
    assert report.exit_code == 1 and report.errors == (error,)
    text = report.render()
    assert text.splitlines()[0] == "ChartMogul"
    assert "  error   Account.CM_MRR__c: is missing" in text
    assert all(len(line) <= 100 for line in text.splitlines())
    assert text.endswith("1 error(s), 1 warning(s), 1 ok: fix the errors before the first sync")


def _unit() -> dict[str, list[str]]:
    """The unit file as section -> ["Key=value", ...] (keys may repeat, as systemd allows)."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in unit_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
        else:
            sections[current].append(line)
    return sections


def test_the_systemd_unit() -> None:
    unit = _unit()
    service = unit["Service"]
    for setting in ("Type=notify", "User=cmsync", "Restart=on-failure", "NoNewPrivileges=yes",
                    "ProtectSystem=strict", "PrivateTmp=yes", "ReadWritePaths=/var/lib/cmsync",
                    "ExecStart=/opt/cmsync/.venv/bin/cmsync run --config "
                    "/etc/cmsync/cmsync.toml"):  # fmt: skip
        assert setting in service
    assert "WantedBy=multi-user.target" in unit["Install"]
    # The watchdog: several heartbeats, and no shorter than the age at which `cmsync status`
    # calls a beat stale, so systemd restarts only a daemon that status shows as hung.
    [watchdog] = [line for line in service if line.startswith("WatchdogSec=")]
    seconds = float(watchdog.removeprefix("WatchdogSec=").removesuffix("s"))
    assert seconds >= 5 * HEARTBEAT_SECONDS and seconds >= STALE_AFTER.total_seconds()
    # The first refresh reads every Account: systemd's default 90 s start timeout is too short.
    assert "TimeoutStartSec=15min" in service
    credentials = {
        line.split("=", 1)[1].split(":")[0]
        for line in service
        if line.startswith("LoadCredential=")
    }
    referenced = set(re.findall(r"%d/(\w+)", "\n".join(service)))
    assert referenced == credentials == {"chartmogul_api_key", "salesforce_private_key"}
    assert not any(line.startswith("Environment=") and "%d" not in line and "_FILE" in line
                   for line in service)  # fmt: skip


def test_the_units_environment_names_real_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With ``%d`` as the credentials directory, the unit's environment loads as settings."""
    (tmp_path / "chartmogul_api_key").write_text("cm-key\n", encoding="utf-8")
    (tmp_path / "salesforce_private_key").write_text(RSA_PEM, encoding="utf-8")
    for line in _unit()["Service"]:
        if line.startswith("Environment="):
            name, value = line.removeprefix("Environment=").split("=", 1)
            monkeypatch.setenv(name, value.replace("%d", str(tmp_path)))
    monkeypatch.setenv("CMSYNC_SALESFORCE__CLIENT_ID", "consumer-key")
    monkeypatch.setenv("CMSYNC_SALESFORCE__USERNAME", "integration@example.com")
    settings = load_settings(None)
    assert settings.chartmogul.api_key is not None
    assert settings.chartmogul.api_key.get_secret_value() == "cm-key"
    assert settings.salesforce.private_key is not None
    assert str(settings.store.path).startswith("/var/lib/cmsync/")


def test_the_systemd_unit_command_prints_the_packaged_unit() -> None:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["systemd-unit"])
    assert result.exit_code == 0 and result.stdout == unit_text()


def test_the_readme_documents_every_setting() -> None:
    assert settings_table() in README.read_text(encoding="utf-8"), (
        "README settings table is stale: run `python -m cmsync.admin.settings_doc README.md`"
    )
