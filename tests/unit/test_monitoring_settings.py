"""The [metrics] and [alerts] settings: a listener on loopback unless allowed elsewhere, and
the webhook URL as a secret (refused in the file, read from its ``*_file``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmsync.config import ConfigError, Settings, load_settings

BASE = """
[chartmogul]
api_key_file = "{key}"
[salesforce]
auth_flow = "client_credentials"
client_id = "abc"
client_secret_file = "{key}"
"""


def _load(tmp_path: Path, extra: str) -> Settings:
    key = tmp_path / "secret"
    key.write_text("s3cret\n", encoding="utf-8")
    config = tmp_path / "cmsync.toml"
    config.write_text(BASE.format(key=key) + extra, encoding="utf-8")
    return load_settings(config)


def test_metrics_and_alerts_are_off_by_default(tmp_path: Path) -> None:
    settings = _load(tmp_path, "")
    assert settings.metrics.address is None and settings.metrics.textfile is None
    assert settings.alerts.webhook_url is None


@pytest.mark.parametrize(
    ("listen", "address"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("localhost:9464", ("localhost", 9464)),
        ("[::1]:9464", ("::1", 9464)),
    ],
)
def test_a_loopback_listener_is_taken(
    tmp_path: Path, listen: str, address: tuple[str, int]
) -> None:
    settings = _load(tmp_path, f'[metrics]\nlisten = "{listen}"\n')
    assert settings.metrics.address == address


def test_another_address_is_refused_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, '[metrics]\nlisten = "0.0.0.0:9464"\n')
    assert refused.value.problems == (
        (
            "metrics",
            "listen '0.0.0.0:9464' is not a loopback address; the listener has no TLS and no "
            "authentication: bind 127.0.0.1 (and scrape through a proxy or an SSH tunnel), use "
            "textfile, or set allow_remote = true",
        ),
    )
    allowed = _load(tmp_path, '[metrics]\nlisten = "0.0.0.0:9464"\nallow_remote = true\n')
    assert allowed.metrics.address == ("0.0.0.0", 9464)  # noqa: S104 (allowed on purpose)


def test_a_listen_that_is_not_host_port_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"metrics.listen: '9464' is not host:port"):
        _load(tmp_path, '[metrics]\nlisten = "9464"\n')


def test_the_webhook_url_is_a_secret_read_from_its_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"alerts\.webhook_url: a secret does not belong"):
        _load(tmp_path, '[alerts]\nwebhook_url = "https://hooks.slack.com/services/T/B/x"\n')
    url = tmp_path / "webhook"
    url.write_text("https://hooks.slack.com/services/T/B/x\n", encoding="utf-8")
    settings = _load(tmp_path, f'[alerts]\nwebhook_url_file = "{url}"\n')
    secret = settings.alerts.webhook_url
    assert secret.get_secret_value() == "https://hooks.slack.com/services/T/B/x"
    url.write_text("not a url\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"alerts: webhook_url must be an http"):
        _load(tmp_path, f'[alerts]\nwebhook_url_file = "{url}"\n')
