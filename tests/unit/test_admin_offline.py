"""The admin path before any credential exists: ``cmsync salesforce metadata`` from no
configuration or a partial one, and ``cmsync config --example``, loaded back through the real
config loader."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cmsync.admin.config_example import CREDENTIALS, example_toml
from cmsync.admin.settings_doc import settings_rows
from cmsync.cli import app
from cmsync.config import ConfigError, OfflineSettings, Settings, load_settings
from tests.support.keys import RSA_PEM

ACCOUNT_FIELDS = "force-app/main/default/objects/Account/fields"


@pytest.fixture(autouse=True)
def no_cmsync_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An admin's shell: no CMSYNC_* variable at all."""
    for name in list(os.environ):
        if name.startswith("CMSYNC_"):
            monkeypatch.delenv(name)


def _metadata(out: Path, *args: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["salesforce", "metadata", "--out", str(out), *args])
    return done.exit_code, done.output


# --- cmsync salesforce metadata --------------------------------------------------------------


def test_metadata_with_no_configuration_at_all_uses_the_default_mapping(tmp_path: Path) -> None:
    """The real command, as an admin runs it first: no file, no environment, no credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMSYNC_")}
    done = subprocess.run(
        [sys.executable, "-m", "cmsync", "salesforce", "metadata", "--out", "md"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "md" / ACCOUNT_FIELDS / "CM_MRR__c.field-meta.xml").is_file()
    project = (tmp_path / "md" / "sfdx-project.json").read_text(encoding="utf-8")
    assert '"sourceApiVersion": "62.0"' in project  # the default API version


def test_metadata_with_only_the_field_tables(tmp_path: Path) -> None:
    config = tmp_path / "cmsync.toml"
    config.write_text(
        '[fields.account]\nmrr = "Revenue__c"\n[fields]\nsync_key = "Sync_Key__c"\n'
        '[salesforce]\napi_version = "61.0"\n',  # a section with none of its credentials
        encoding="utf-8",
    )
    code, output = _metadata(tmp_path / "md", "--config", str(config))
    assert code == 0, output
    assert (tmp_path / "md" / ACCOUNT_FIELDS / "Revenue__c.field-meta.xml").is_file()
    assert not (tmp_path / "md" / ACCOUNT_FIELDS / "CM_MRR__c.field-meta.xml").exists()
    assert "API 61.0" in output


def test_metadata_never_reads_credentials_it_does_not_need(tmp_path: Path) -> None:
    """The production config on an admin's machine: its key file is root's, or elsewhere."""
    config = tmp_path / "cmsync.toml"
    config.write_text(
        '[chartmogul]\napi_key_file = "/nonexistent/chartmogul_api_key"\n'
        '[salesforce]\nclient_id = "c"\nusername = "u@example.com"\n'
        'private_key_file = "/nonexistent/salesforce_private_key"\n',
        encoding="utf-8",
    )
    code, output = _metadata(tmp_path / "md", "--config", str(config))
    assert code == 0, output


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('[fields.account]\nmrr = "CM MRR"\n', "fields.account.mrr: String should match pattern"),
        ("[fields.account]\nrevenue = 1\n", "fields.account.revenue: unknown setting"),
        ('[salesforce]\napi_version = "62"\n', "salesforce.api_version: String should match"),
        ('[chartmogul]\napi_key = "k"\n', "chartmogul.api_key: a secret does not belong"),
        ("[fields.account\n", "is not valid TOML"),
    ],
)
def test_metadata_names_what_is_present_and_wrong(tmp_path: Path, text: str, said: str) -> None:
    config = tmp_path / "cmsync.toml"
    config.write_text(text, encoding="utf-8")
    code, output = _metadata(tmp_path / "md", "--config", str(config))
    assert code == 2 and said in output, output
    assert not (tmp_path / "md").exists()


def test_offline_settings_are_settings_and_the_daemon_still_needs_credentials() -> None:
    offline = load_settings(None, offline=True)
    assert isinstance(offline, OfflineSettings) and isinstance(offline, Settings)
    assert offline.chartmogul.api_key is None and offline.salesforce.client_id is None
    with pytest.raises(ConfigError, match="chartmogul: missing"):
        load_settings(None)


# --- cmsync config --example -------------------------------------------------------------------


def _example() -> str:
    done = CliRunner().invoke(app, ["config", "--example"], env={"CMSYNC_CONFIG": "/nonexistent"})
    assert done.exit_code == 0, done.output
    assert done.stdout == example_toml()
    return done.stdout


def _with_credentials(text: str, directory: Path) -> str:
    """The example with its credential files created under ``directory``."""
    for name in re.findall(rf"{CREDENTIALS}/(\w+)", text):
        content = RSA_PEM if name.endswith("private_key") else f"{name}-value\n"
        if name.endswith("webhook_url"):  # a URL, as the alerts' setting checks
            content = "https://hooks.example.com/services/T000/B000/XXXX\n"
        (directory / name).write_text(content, encoding="utf-8")
    return text.replace(CREDENTIALS, str(directory))


def test_the_example_loads_through_the_real_loader(tmp_path: Path) -> None:
    config = tmp_path / "cmsync.toml"
    config.write_text(_with_credentials(_example(), tmp_path), encoding="utf-8")
    settings = load_settings(config)
    assert settings.salesforce.auth_flow == "jwt" and settings.salesforce.private_key is not None
    assert settings.salesforce.username == "cmsync@yourco.com"
    assert settings.chartmogul.api_key is not None
    assert settings.chartmogul.api_key.get_secret_value() == "chartmogul_api_key-value"
    assert settings.store.path == Path("/var/lib/cmsync/cmsync.db")
    # What is not set is the default, as if the lines were not there.
    assert settings.fields == Settings.model_fields["fields"].default


def test_the_example_names_every_setting_and_its_commented_values_are_the_defaults(
    tmp_path: Path,
) -> None:
    text = _example()
    named = set(re.findall(r"^(?:# )?(\w+)(?: =|: )", text, flags=re.MULTILINE))
    for dotted, _, _, _ in settings_rows():
        name = dotted.rsplit(".", 1)[1]
        assert name in named or f"{name}_file" in named, dotted  # a secret: as its file
    assert not re.search(r"^(api_key|private_key|client_secret|password) =", text, re.MULTILINE)

    # Uncommented, every default and example still loads, and the defaults are the models'.
    uncommented = re.sub(r"^# (\[[\w.]+\]|\w+ = .*)$", r"\1", text, flags=re.MULTILINE)
    uncommented = re.sub(r"^ca_bundle = .*$", "", uncommented, flags=re.MULTILINE)
    config = tmp_path / "all.toml"
    config.write_text(_with_credentials(uncommented, tmp_path), encoding="utf-8")
    tomllib.loads(config.read_text(encoding="utf-8"))
    settings = load_settings(config)
    for section in ("sync", "closed_won", "schedule", "reports", "enrichment", "metrics", "alerts"):
        model = Settings.model_fields[section].annotation
        assert model is not None
        shown, default = getattr(settings, section).model_dump(), model().model_dump()
        changed = {k for k in shown if shown[k] != default[k]}
        examples = {"fallback_owner", "plan_field", "listen", "textfile", "webhook_url_file"}
        assert changed <= examples | {"webhook_url"}, (section, changed)  # read from its file
