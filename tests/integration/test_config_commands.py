"""Every command refuses an invalid configuration the same way: `config`, `once` and `run` exit
2 with one line naming the setting, `doctor` reports each refused setting as a failed check and
exits 2; none of them shows a traceback. Nothing here needs a network: the settings are refused
at load, before any connection."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cmsync.cli import app
from tests.support.keys import RSA_PEM
from tests.support.processes import CMSYNC, cmsync_env

CONFIG = """
[chartmogul]
api_key_file = "{key}"

[salesforce]
client_id = "3MVG9example"
username = "integration@example.com"
private_key_file = "{pem}"

[store]
path = "{store}"
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
    path.write_text(CONFIG.format(key=key, pem=pem, store=tmp_path / "cmsync.db"))
    return path


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"CMSYNC_CONFIG": None})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_config_prints_a_valid_configuration_with_secrets_masked(config: Path) -> None:
    code, out, _ = _invoke("config", "--config", str(config))
    assert code == 0 and '"api_key": "**********"' in out
    assert "cm-secret-key" not in out and "PRIVATE KEY" not in out


def test_config_refuses_a_six_field_cron_naming_it(config: Path) -> None:
    config.write_text(config.read_text() + '\n[schedule]\nreport_cron = "0 15 0 * * *"\n')
    code, out, err = _invoke("config", "--config", str(config))
    assert code == 2 and out == ""
    assert err.startswith(f"error: invalid configuration ({config}): schedule.report_cron: ")
    assert "is not a 5-field crontab expression" in err and err.count("\n") == 1


def test_config_refuses_a_secret_in_the_file_with_the_fix(config: Path) -> None:
    config.write_text(config.read_text().replace("[salesforce]", '[salesforce]\npassword = "pw"'))
    code, _, err = _invoke("config", "--config", str(config))
    assert code == 2
    assert "salesforce.password: a secret does not belong in the config file" in err
    assert 'salesforce.password_file = "/path/to/that/file"' in err
    assert "CMSYNC_SALESFORCE__PASSWORD" in err


def test_doctor_reports_a_key_that_is_not_pem_as_a_failed_check(config: Path) -> None:
    pem = config.parent / "sf.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    code, out, err = _invoke("doctor", "--config", str(config))
    assert code == 2 and err == ""
    lines = out.splitlines()
    assert lines[0] == "Configuration"
    assert lines[1].startswith("  error   salesforce.private_key_file:")
    flat = " ".join(out.split())  # the report wraps at 100 columns
    assert str(pem) in flat and "holds a certificate, not the private key" in flat
    assert lines[-1] == "1 error(s), 0 warning(s), 0 ok: fix the errors before the first sync"


def test_doctor_without_a_config_file_still_says_so(tmp_path: Path) -> None:
    code, _, err = _invoke("doctor", "--config", str(tmp_path / "missing.toml"))
    assert code == 2 and err.startswith("error: config file")


@pytest.mark.parametrize("command", ["once", "run"])
def test_once_and_run_exit_2_with_one_line_on_a_key_that_is_not_pem(
    config: Path, command: str
) -> None:
    """The real processes: a non-PEM key used to crash them with a traceback at login."""
    (config.parent / "sf.pem").write_text("not a key\n")
    done = subprocess.run(
        [*CMSYNC, command, "--config", str(config)],
        capture_output=True, text=True, env=cmsync_env(), timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: invalid configuration (")
    assert (
        "salesforce.private_key_file: " in done.stderr and "is not a PEM private key" in done.stderr
    )
    assert not (config.parent / "cmsync.db").exists()  # refused before anything was opened
