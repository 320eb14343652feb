"""Which credential to fix when Salesforce refuses a login, from the token endpoint's answer.

The token endpoint answers a refused login with 400 ``{"error", "error_description"}`` (RFC
6749 §5.2; Salesforce Help, "OAuth 2.0 Authorization Errors"). The pair says which part
failed, so the advice names that setting and its file:

- ``invalid_client_id`` "client identifier invalid": the consumer key (``salesforce.client_id``)
  is not an app's of this org (the app was deleted, or the key is another org's);
- ``invalid_client`` "invalid client credentials": the consumer secret (client credentials and
  password flows) was rotated;
- ``invalid_grant`` "user hasn't approved this consumer": the user is not pre-authorized by
  the app's policies, or is inactive (Salesforce Help, "OAuth 2.0 JWT Bearer Flow for
  Server-to-Server Integration");
- ``invalid_grant`` "audience is invalid": ``salesforce.jwt_audience`` / ``login_url``;
- ``invalid_grant`` "invalid assertion" or any other JWT refusal: the signing key no longer
  matches the certificate uploaded to the app (a new certificate, an expired one replaced),
  or the assertion's clock is off;
- ``invalid_grant`` "authentication failure" (password flow): the password or security token.
"""

from __future__ import annotations

from pathlib import Path

from cmsync.config import SalesforceSettings

__all__ = ["CredentialAdvice", "credential_advice"]


class CredentialAdvice:
    """``check``: the settings, short (for the health line); ``fix``: the whole advice."""

    def __init__(self, check: str, fix: str) -> None:
        self.check = check
        self.fix = fix

    def __repr__(self) -> str:
        return f"CredentialAdvice({self.check!r})"


def _source(name: str, path: Path | None) -> str:
    """Where a secret comes from: its file, else the environment or the config file."""
    if path is not None:
        return f"salesforce.{name}_file ({path})"
    return f"salesforce.{name} (CMSYNC_SALESFORCE__{name.upper()})"


def credential_advice(
    settings: SalesforceSettings, code: str | None, description: str
) -> CredentialAdvice:
    """The settings to check and the fix for a login refused with ``code``/``description``."""
    client = f"salesforce.client_id ({settings.client_id})"
    user = f"salesforce.username ({settings.username})"
    text = description.lower()
    if code == "invalid_client_id":
        return CredentialAdvice(
            "salesforce.client_id",
            f"Fix {client}: it must be the consumer key of the External Client App (or "
            "Connected App) in this org, Settings > OAuth Settings > Consumer Key and Secret",
        )
    if code == "invalid_client":
        secret = _source("client_secret", settings.client_secret_file)
        return CredentialAdvice(
            "salesforce.client_secret",
            f"Fix {secret} and {client}: the app's consumer secret was changed",
        )
    if "approved" in text:
        return CredentialAdvice(
            "salesforce.username",
            f"Check {user}: the user must be active and pre-authorized by the app's policies "
            "(Permitted Users: Admin approved users are pre-authorized, with the "
            "cmsync_Integration permission set or the user's profile)",
        )
    if "audience" in text:
        return CredentialAdvice(
            "salesforce.jwt_audience",
            f"Fix salesforce.jwt_audience or salesforce.login_url ({settings.login_url})",
        )
    if settings.auth_flow == "password":
        return CredentialAdvice(
            "salesforce.password",
            f"Fix {_source('password', settings.password_file)}, "
            f"{_source('security_token', settings.security_token_file)} and {user}",
        )
    if settings.auth_flow == "client_credentials":
        return CredentialAdvice(
            "salesforce.client_secret",
            f"Fix {_source('client_secret', settings.client_secret_file)} and {client}, "
            "and the app's Run As user",
        )
    key = _source("private_key", settings.private_key_file)
    return CredentialAdvice(
        "salesforce.private_key_file",
        f"Fix {key}: it must be the key of the certificate uploaded to the External Client "
        f"App (Enable JWT Bearer Flow; a certificate replaced or expired needs the new key "
        f"here), for {client} and {user}",
    )
