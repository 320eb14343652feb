"""What the settings refuse offline, at load: each refusal names the setting and the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cmsync.config import ConfigError, SalesforceSettings, ScheduleSettings, load_settings
from tests.support.keys import RSA_PEM

BASE = """
[chartmogul]
api_key_file = "{key}"

[salesforce]
client_id = "3MVG9example"
username = "integration@example.com"
private_key_file = "{pem}"
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CMSYNC_"):
            monkeypatch.delenv(name)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    key, pem = tmp_path / "cm_key", tmp_path / "sf.pem"
    key.write_text("cm-secret-key\n")
    pem.write_text(RSA_PEM)
    path = tmp_path / "cmsync.toml"
    path.write_text(BASE.format(key=key, pem=pem))
    return path


def _refusal(config: Path) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    return err.value


def test_a_valid_file_loads(config: Path) -> None:
    settings = load_settings(config)
    assert settings.schedule.report_cron == "15 0 * * *"


def test_a_six_field_cron_is_refused_naming_the_setting(config: Path) -> None:
    config.write_text(config.read_text() + '\n[schedule]\nreport_cron = "0 15 0 * * *"\n')
    error = _refusal(config)
    [(setting, message)] = error.problems
    assert setting == "schedule.report_cron"
    assert "'0 15 0 * * *' is not a 5-field crontab expression" in message
    assert "got 6, expected 5" in message and '"15 0 * * *"' in message
    assert "\n" not in str(error)  # one problem, one line


@pytest.mark.parametrize("expression", ["61 * * * *", "* * * *", "15 0 * * funday"])
def test_other_broken_crons_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="is not a 5-field crontab expression"):
        ScheduleSettings(report_cron=expression)


@pytest.mark.parametrize("expression", ["* * * * *", "*/5 8-18 * * mon-fri", "15 0 1 * *"])
def test_crontab_expressions_load(expression: str) -> None:
    assert ScheduleSettings(report_cron=expression).report_cron == expression


def _key_file(config: Path, text: str | bytes) -> Path:
    pem = config.parent / "sf.pem"
    if isinstance(text, bytes):
        pem.write_bytes(text)
    else:
        pem.write_text(text)
    return pem


def test_a_key_file_that_is_not_pem_is_refused_naming_setting_and_file(config: Path) -> None:
    pem = _key_file(config, "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    [(setting, message)] = _refusal(config).problems
    assert setting == "salesforce.private_key_file"
    assert f"{str(pem)!r} is not a PEM private key" in message
    assert "whose certificate is uploaded to the External Client App" in message
    assert "abc" not in message  # the content is never quoted back


def test_a_missing_key_file_is_named(config: Path) -> None:
    pem = config.parent / "sf.pem"
    pem.unlink()
    [(setting, message)] = _refusal(config).problems
    assert (setting, message) == (
        "salesforce.private_key_file",
        f"private key file {str(pem)!r} does not exist",
    )


def test_a_certificate_given_as_the_key_is_named(config: Path) -> None:
    _key_file(config, trustme.CA().cert_pem.bytes())
    [(setting, message)] = _refusal(config).problems
    assert setting == "salesforce.private_key_file"
    assert "holds a certificate, not the private key" in message


def test_an_encrypted_key_is_refused_with_the_fix(config: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _key_file(
        config,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        ),
    )
    [(setting, message)] = _refusal(config).problems
    assert setting == "salesforce.private_key_file"
    assert "is an encrypted private key" in message and "openssl pkey" in message


def test_a_key_that_is_not_rsa_is_refused(config: Path) -> None:
    """The JWT bearer flow signs with RS256 (Salesforce Help, "OAuth 2.0 JWT Bearer Flow for
    Server-to-Server Integration"; sfdx-core's authInfo.ts signs with algorithm 'RS256')."""
    key = ec.generate_private_key(ec.SECP256R1())
    _key_file(
        config,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    [(setting, message)] = _refusal(config).problems
    assert setting == "salesforce.private_key_file"
    assert "is not an RSA key" in message and "RS256" in message


def test_a_key_from_the_environment_is_checked_too(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text(config.read_text().replace("private_key_file", "# private_key_file"))
    monkeypatch.setenv("CMSYNC_SALESFORCE__PRIVATE_KEY", "not a key")
    [(setting, message)] = _refusal(config).problems
    assert setting == "salesforce.private_key"
    assert message.startswith("the key is not a PEM private key")
    assert "not a key" not in message
    assert SalesforceSettings(client_id="c", username="u", private_key=RSA_PEM).private_key


def test_a_ca_bundle_that_is_not_pem_is_refused(config: Path) -> None:
    bundle = config.parent / "ca.pem"
    bundle.write_text(
        "not a certificate\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    )
    config.write_text(config.read_text() + f'ca_bundle = "{bundle}"\n')
    [(setting, message)] = _refusal(config).problems
    assert setting == "salesforce.ca_bundle"
    assert f"{str(bundle)!r} holds no PEM certificate" in message


def test_a_pem_ca_bundle_loads(config: Path) -> None:
    """One certificate that parses is enough: system bundles carry roots cryptography frowns
    on, which OpenSSL still uses."""
    bundle = config.parent / "ca.pem"
    broken = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    bundle.write_bytes(b"# a comment\n" + broken + trustme.CA().cert_pem.bytes())
    config.write_text(
        config.read_text().replace("[salesforce]", f'ca_bundle = "{bundle}"\n\n[salesforce]')
    )
    assert load_settings(config).chartmogul.ca_bundle == bundle


@pytest.mark.parametrize(
    ("section", "line", "setting", "variable"),
    [
        ("chartmogul", 'api_key = "cm-live-0123"', "chartmogul.api_key",
         "CMSYNC_CHARTMOGUL__API_KEY"),
        ("salesforce", 'client_secret = "s3cret"', "salesforce.client_secret",
         "CMSYNC_SALESFORCE__CLIENT_SECRET"),
        ("salesforce", 'password = "hunter2"', "salesforce.password",
         "CMSYNC_SALESFORCE__PASSWORD"),
        ("salesforce", 'security_token = "Xq7tokZ"', "salesforce.security_token",
         "CMSYNC_SALESFORCE__SECURITY_TOKEN"),
    ],
)  # fmt: skip
def test_a_secret_in_the_toml_file_is_refused_with_the_fix(
    config: Path, section: str, line: str, setting: str, variable: str
) -> None:
    text = config.read_text()
    if setting == "chartmogul.api_key":  # instead of its file: otherwise "not both" too
        text = text.replace(f'api_key_file = "{config.parent / "cm_key"}"', line)
    else:
        text = text.replace(f"[{section}]", f"[{section}]\n{line}")
    config.write_text(text)
    error = _refusal(config)
    [(named, message)] = error.problems
    assert named == setting
    assert message.startswith("a secret does not belong in the config file")
    assert f'set {setting}_file = "/path/to/that/file"' in message
    assert f"or set the environment variable {variable}" in message
    assert line.split('"')[1] not in str(error)  # the secret is not printed back


def test_a_private_key_in_the_toml_file_is_refused(config: Path) -> None:
    key = RSA_PEM.replace("\n", "\\n")
    config.write_text(
        config.read_text().replace("private_key_file", "# ") + f'private_key = "{key}"\n'
    )
    [(setting, message)] = _refusal(config).problems
    assert setting == "salesforce.private_key"
    assert "salesforce.private_key_file" in message


def test_the_same_secret_in_the_environment_is_accepted(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMSYNC_SALESFORCE__SECURITY_TOKEN", "tok")
    token = load_settings(config).salesforce.security_token
    assert token is not None and token.get_secret_value() == "tok"


def test_several_problems_are_listed_one_per_line(config: Path) -> None:
    _key_file(config, "junk")
    config.write_text(
        config.read_text().replace("[salesforce]", '[salesforce]\npassword = "x"')
        + '\n[schedule]\nreport_cron = "0 0 0 * * *"\n'
    )
    error = _refusal(config)
    assert [setting for setting, _ in error.problems] == [
        "salesforce.password",
        "salesforce.private_key_file",
        "schedule.report_cron",
    ]
    lines = str(error).splitlines()
    assert lines[0].startswith("invalid configuration (") and len(lines) == 4
    assert lines[1].startswith("  salesforce.password: a secret does not belong")
