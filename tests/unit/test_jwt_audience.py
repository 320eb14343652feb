"""The JWT bearer audience cmsync signs, derived from salesforce.login_url as the Salesforce
CLI derives it (forcedotcom/sfdx-core, src/util/sfdcUrl.ts, getJwtAudienceUrl), or set."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import AnyHttpUrl, SecretStr

from cmsync.config import SalesforceSettings
from cmsync.salesforce.audience import PRODUCTION_AUDIENCE, SANDBOX_AUDIENCE, derive_jwt_audience
from cmsync.salesforce.auth import _form, jwt_audience

LOGIN, TEST = PRODUCTION_AUDIENCE, SANDBOX_AUDIENCE


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://login.salesforce.com", LOGIN),
        ("https://test.salesforce.com/", TEST),
        ("https://TEST.salesforce.com", TEST),
        ("https://yourco.my.salesforce.com", LOGIN),  # a production My Domain
        ("https://yourco--dev.sandbox.my.salesforce.com", TEST),  # enhanced domains
        ("https://yourco.sandbox.my.salesforce.com", TEST),
        ("https://yourco--dev.my.salesforce.com", TEST),  # a legacy sandbox My Domain
        ("https://cs42.salesforce.com", TEST),  # a sandbox instance
        ("https://yourco--uat.cs42.my.salesforce.com", TEST),
        ("https://cs42.my.salesforce.com", TEST),
        ("https://usa2s.sfdc-abc123.salesforce.com", TEST),  # a sandbox pod
        ("https://na139.salesforce.com", LOGIN),  # a production instance
        ("https://yourco.develop.my.salesforce.com", LOGIN),  # Developer Edition
        ("https://yourco.lightning.force.com", LOGIN),
        ("https://127.0.0.1:8443", LOGIN),  # nothing says sandbox: the sandbox names its own
    ],
)
def test_the_audience_is_derived_from_the_login_host(login_url: str, audience: str) -> None:
    assert derive_jwt_audience(login_url) == audience


def test_an_override_wins() -> None:
    site = "https://yourco.my.site.com/partners"  # an Experience Cloud site
    assert derive_jwt_audience("https://login.salesforce.com", site + "/") == site
    assert derive_jwt_audience("https://yourco.my.salesforce.com", TEST) == TEST


def _settings(tmp_path: Path, **update: object) -> SalesforceSettings:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    fields: dict[str, object] = {
        "login_url": "https://yourco--dev.sandbox.my.salesforce.com",
        "client_id": "3MVG9example",
        "username": "cmsync@yourco.com",
        "private_key": SecretStr(pem),
    }
    fields.update(update)
    return SalesforceSettings.model_validate(fields)


def test_the_assertion_carries_the_derived_or_configured_audience(tmp_path: Path) -> None:
    derived = _settings(tmp_path)
    assert jwt_audience(derived) == TEST
    claims = jwt.decode(
        _form(derived, time.time)["assertion"],
        options={"verify_signature": False},
    )
    assert claims["aud"] == TEST and claims["exp"] - time.time() <= 180
    forced = _settings(tmp_path, jwt_audience=AnyHttpUrl(LOGIN))
    claims = jwt.decode(_form(forced, time.time)["assertion"], options={"verify_signature": False})
    assert claims["aud"] == LOGIN  # without a trailing slash, as Salesforce compares it
