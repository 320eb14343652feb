"""Settings: TOML plus CMSYNC_ environment, secrets from env or files, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmsync.config import ConfigError, load_settings, redacted
from tests.support.keys import RSA_PEM

BASE = """
[chartmogul]
api_key_file = "{key}"
data_source_uuid = "ds_0f6b2d2a-1111-4a4a-9c9c-000000000001"

[salesforce]
auth_flow = "jwt"
client_id = "3MVG9example"
username = "integration@example.com"
private_key_file = "{pem}"
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CMSYNC_"):
            monkeypatch.delenv(name)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    key = tmp_path / "cm_key"
    key.write_text("cm-secret-key\n")
    pem = tmp_path / "sf.pem"
    pem.write_text(RSA_PEM)
    config = tmp_path / "cmsync.toml"
    config.write_text(BASE.format(key=key, pem=pem))
    return {"key": key, "pem": pem, "config": config}


def test_secrets_come_from_files_and_never_show(files: dict[str, Path]) -> None:
    settings = load_settings(files["config"])
    assert settings.chartmogul.api_key is not None
    assert settings.chartmogul.api_key.get_secret_value() == "cm-secret-key"
    shown = str(redacted(settings)) + repr(settings)
    assert "cm-secret-key" not in shown
    assert "BEGIN PRIVATE KEY" not in shown


def test_environment_overrides_the_file(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMSYNC_SALESFORCE__API_VERSION", "61.0")
    monkeypatch.setenv("CMSYNC_STORE__PATH", "/var/lib/cmsync/state.db")
    settings = load_settings(files["config"])
    assert settings.salesforce.api_version == "61.0"
    assert settings.store.path == Path("/var/lib/cmsync/state.db")


def test_secret_from_environment(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    text = files["config"].read_text().replace(f'api_key_file = "{files["key"]}"\n', "")
    files["config"].write_text(text)
    monkeypatch.setenv("CMSYNC_CHARTMOGUL__API_KEY", "from-env")
    settings = load_settings(files["config"])
    assert settings.chartmogul.api_key is not None
    assert settings.chartmogul.api_key.get_secret_value() == "from-env"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace('client_id = "3MVG9example"\n', ""), "needs client_id"),
        (lambda t: t.replace("private_key_file", "private_key_fil"), "unknown setting"),
        (lambda t: t.replace('"jwt"', '"oauth1"'), "salesforce.auth_flow"),
        (lambda t: t.replace("ds_0f6b", "xx_0f6b"), "chartmogul.data_source_uuid"),
        (lambda t: t + '\n[store]\npath = "/"\n', "is a directory"),
        (lambda t: t.replace("[salesforce]", "[salesforce"), "not valid TOML"),
        (
            lambda t: t + 'jwt_audience = "http://test.salesforce.com"\n',
            "jwt_audience must be an https URL",
        ),
        (lambda t: t + 'jwt_audience = "test.salesforce.com"\n', "salesforce.jwt_audience"),
    ],
)
def test_invalid_settings_are_named(files: dict[str, Path], edit: object, expected: str) -> None:
    assert callable(edit)
    files["config"].write_text(edit(files["config"].read_text()))
    with pytest.raises(ConfigError, match=expected):
        load_settings(files["config"])


def test_missing_section_names_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert "chartmogul: missing (set it in the file or as CMSYNC_CHARTMOGUL)" in str(err.value)


def test_unreadable_secret_file_is_named(files: dict[str, Path]) -> None:
    files["key"].unlink()
    with pytest.raises(ConfigError, match=r"api_key_file '.*cm_key' cannot be read"):
        load_settings(files["config"])


def test_value_and_file_together_are_ambiguous(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMSYNC_CHARTMOGUL__API_KEY", "x")
    with pytest.raises(ConfigError, match="give api_key or api_key_file, not both"):
        load_settings(files["config"])


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
