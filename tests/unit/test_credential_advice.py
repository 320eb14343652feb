"""Which credential a refused Salesforce login names (``cmsync.salesforce.credentials``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmsync.config import SalesforceSettings
from cmsync.salesforce.credentials import credential_advice
from tests.support.keys import RSA_PEM


def _jwt(tmp_path: Path) -> SalesforceSettings:
    key = tmp_path / "salesforce_private_key"
    key.write_text(RSA_PEM)
    return SalesforceSettings(
        client_id="3MVGconsumer", username="cmsync@yourco.com", private_key_file=key
    )


@pytest.mark.parametrize(
    ("code", "description", "check", "named"),
    [
        ("invalid_grant", "invalid assertion", "salesforce.private_key_file", "{key}"),
        ("invalid_grant", "expired authorization code", "salesforce.private_key_file", "{key}"),
        ("invalid_grant", "user hasn't approved this consumer", "salesforce.username",
         "cmsync@yourco.com"),
        ("invalid_client_id", "client identifier invalid", "salesforce.client_id", "3MVGconsumer"),
        ("invalid_grant", "audience is invalid", "salesforce.jwt_audience", "login_url"),
    ],
)  # fmt: skip
def test_each_jwt_refusal_names_its_setting(
    tmp_path: Path, code: str, description: str, check: str, named: str
) -> None:
    settings = _jwt(tmp_path)
    advice = credential_advice(settings, code, description)
    assert advice.check == check
    assert named.format(key=settings.private_key_file) in advice.fix


def test_a_secret_given_in_the_environment_is_named_by_its_variable() -> None:
    settings = SalesforceSettings(
        auth_flow="client_credentials", client_id="3MVGconsumer", client_secret="s"
    )
    advice = credential_advice(settings, "invalid_client", "invalid client credentials")
    assert advice.check == "salesforce.client_secret"
    assert "CMSYNC_SALESFORCE__CLIENT_SECRET" in advice.fix and "s" not in advice.fix.split()
