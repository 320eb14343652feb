"""`cmsync sandbox` as a user runs it: a real process, real sockets, real clients."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from simple_salesforce import Salesforce

CMSYNC = [sys.executable, "-m", "cmsync"]


@pytest.fixture(scope="module")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    directory = tmp_path_factory.mktemp("sandbox")
    log = (directory.parent / "sandbox.log").open("w+")
    proc = subprocess.Popen(
        [*CMSYNC, "sandbox", "--dir", str(directory), "--accounts", "20", "--seed", "3",
         "--org-kind", "sandbox", "--no-view-setup"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (directory / "sandbox.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            proc.kill()
            pytest.fail(f"sandbox did not start:\n{log.read()}")
        time.sleep(0.1)
    try:
        yield directory, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def _session(ca: str) -> requests.Session:
    session = requests.Session()
    session.verify = ca
    session.trust_env = False  # REQUESTS_CA_BUNDLE on this machine would otherwise win
    return session


def test_writes_its_description_and_private_secrets(sandbox_process: tuple[Path, Any]) -> None:
    directory, _ = sandbox_process
    info = json.loads((directory / "sandbox.json").read_text())
    assert Path(info["ca_bundle"]).is_file()
    assert set(info["chartmogul"]) >= {"base_url", "api_key", "data_source_uuid"}
    assert set(info["salesforce"]) >= {
        "login_url", "instance_url", "api_version", "client_id", "username",
        "private_key_file", "access_token",
    }  # fmt: skip
    for secret in (directory / "secrets").iterdir():
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert stat.S_IMODE((directory / "sandbox.json").stat().st_mode) == 0o600
    config = (directory / "cmsync.toml").read_text()
    assert info["chartmogul"]["api_key"] not in config  # secrets live in files, not the config


def test_written_config_is_valid(sandbox_process: tuple[Path, Any]) -> None:
    directory, _ = sandbox_process
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMSYNC_")}
    shown = subprocess.run(
        [*CMSYNC, "config", "--config", str(directory / "cmsync.toml")],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    settings = json.loads(shown.stdout)
    info = json.loads((directory / "sandbox.json").read_text())
    assert settings["chartmogul"]["api_key"] == "**********"
    assert settings["chartmogul"]["data_source_uuid"] == info["chartmogul"]["data_source_uuid"]
    assert info["chartmogul"]["api_key"] not in shown.stdout


def test_both_apis_answer_real_clients(sandbox_process: tuple[Path, Any]) -> None:
    directory, _ = sandbox_process
    info = json.loads((directory / "sandbox.json").read_text())
    http = _session(info["ca_bundle"])
    cm = info["chartmogul"]
    pong = http.get(cm["base_url"] + "/v1/ping", auth=(cm["api_key"], ""), timeout=10)
    assert pong.status_code == 200 and pong.json() == {"data": "pong!"}
    customers = http.get(cm["base_url"] + "/v1/customers", auth=(cm["api_key"], ""), timeout=10)
    assert customers.json()["entries"]

    sf = info["salesforce"]
    client = Salesforce(
        instance_url=sf["instance_url"],
        session_id=sf["access_token"],
        version=sf["api_version"],
        session=_session(info["ca_bundle"]),
    )
    assert client.query("SELECT COUNT() FROM Account")["totalSize"] == 20


def test_jwt_bearer_login_with_the_written_key(sandbox_process: tuple[Path, Any]) -> None:
    directory, _ = sandbox_process
    info = json.loads((directory / "sandbox.json").read_text())
    sf = info["salesforce"]
    assertion = jwt.encode(
        {"iss": sf["client_id"], "sub": sf["username"], "aud": sf["jwt_audience"],
         "exp": int(time.time()) + 120},
        Path(sf["private_key_file"]).read_text(),
        algorithm="RS256",
    )  # fmt: skip
    answer = _session(info["ca_bundle"]).post(
        sf["login_url"] + "/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["instance_url"] == sf["instance_url"]


def test_a_sandbox_kind_org_writes_a_config_that_logs_in(
    sandbox_process: tuple[Path, Any],
) -> None:
    # 127.0.0.1 cannot look like a sandbox host, so the config names test.salesforce.com
    # itself; the org refuses /limits (--no-view-setup): a warning, cmsync works without it.
    directory, _ = sandbox_process
    info = json.loads((directory / "sandbox.json").read_text())
    assert info["salesforce"]["org_kind"] == "sandbox"
    assert info["salesforce"]["jwt_audience"] == "https://test.salesforce.com"
    config = directory / "cmsync.toml"
    assert 'jwt_audience = "https://test.salesforce.com"' in config.read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMSYNC_")}
    doctor = subprocess.run(
        [*CMSYNC, "doctor", "--config", str(config)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "ok      login: jwt flow" in doctor.stdout
    assert "warning /limits: refused (INSUFFICIENT_ACCESS)" in doctor.stdout
    assert "0 error(s), 1 warning(s)" in doctor.stdout


def test_stops_cleanly_on_sigterm_and_logged_each_request(
    sandbox_process: tuple[Path, Any],
) -> None:
    directory, proc = sandbox_process
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    log = (directory.parent / "sandbox.log").read_text()
    assert "GET /v1/ping" in log
    assert "GET /services/data/v" in log
