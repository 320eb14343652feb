"""Getting an access token from Salesforce's OAuth 2.0 token endpoint, by the project itself.

Three flows, chosen by ``salesforce.auth_flow``: the JWT bearer flow (the default for a
server-to-server integration: an RS256 assertion signed with the connected app's key, no
secret on the wire, no refresh token: a new assertion is made whenever the session expires),
client credentials, and the legacy username-password flow. The answer's ``access_token`` and
``instance_url`` are what simple-salesforce needs; it is never asked to log in itself.

This runs in a worker thread (``requests`` is blocking), like every Salesforce call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from pydantic import SecretStr

from cmsync.config import SalesforceSettings
from cmsync.salesforce.audience import derive_jwt_audience
from cmsync.salesforce.errors import SalesforceAuthError, SalesforceRetriableError, error_summary

__all__ = ["JWT_LIFETIME_SECONDS", "Token", "fetch_token", "jwt_audience", "new_http_session"]

JWT_LIFETIME_SECONDS = 170  # Salesforce accepts an assertion valid for at most 3 minutes
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class Token:
    access_token: SecretStr
    instance_url: str

    def __repr__(self) -> str:
        return f"Token(instance_url={self.instance_url!r})"


class _TimeoutSession(requests.Session):
    """A session whose requests all get a timeout unless the caller gives one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._default_timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._default_timeout)
        return super().request(*args, **kwargs)


def new_http_session(settings: SalesforceSettings) -> requests.Session:
    """A ``requests.Session`` that trusts the configured CA and ignores the environment.

    ``trust_env`` is off because ``REQUESTS_CA_BUNDLE`` in the environment would otherwise
    override ``verify``; proxies, if any are ever needed, belong in the config file.
    """
    session = _TimeoutSession(settings.timeout_seconds)
    session.trust_env = False
    if settings.ca_bundle is not None:
        session.verify = str(settings.ca_bundle)
    return session


def jwt_audience(settings: SalesforceSettings) -> str:
    """The ``aud`` cmsync signs: ``jwt_audience`` if set, else derived from ``login_url``."""
    override = str(settings.jwt_audience) if settings.jwt_audience is not None else None
    return derive_jwt_audience(str(settings.login_url), override)


def _form(settings: SalesforceSettings, now: Callable[[], float]) -> dict[str, str]:
    def secret(value: SecretStr | None) -> str:
        return value.get_secret_value() if value is not None else ""

    client_id = settings.client_id or ""
    match settings.auth_flow:
        case "jwt":
            claims = {
                "iss": client_id,
                "sub": settings.username,
                "aud": jwt_audience(settings),  # never the My Domain: see audience.py
                "exp": int(now()) + JWT_LIFETIME_SECONDS,
            }
            assertion = jwt.encode(claims, secret(settings.private_key), algorithm="RS256")
            return {"grant_type": _JWT_GRANT, "assertion": assertion}
        case "client_credentials":
            return {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret(settings.client_secret),
            }
        case "password":
            return {
                "grant_type": "password",
                "client_id": client_id,
                "client_secret": secret(settings.client_secret),
                "username": settings.username or "",
                "password": secret(settings.password) + secret(settings.security_token),
            }
    raise AssertionError(f"unknown auth flow {settings.auth_flow!r}")  # pragma: no cover


def fetch_token(
    settings: SalesforceSettings,
    http: requests.Session,
    now: Callable[[], float] = time.time,
) -> Token:
    """A fresh access token by the configured flow; AuthError says why a login was refused."""
    url = str(settings.login_url).rstrip("/") + "/services/oauth2/token"
    try:
        answer = http.post(url, data=_form(settings, now), headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise SalesforceRetriableError(
            f"token endpoint unreachable: {type(exc).__name__}"
        ) from None
    if answer.status_code >= 500:
        raise SalesforceRetriableError(f"token endpoint answered {answer.status_code}")
    try:
        body = answer.json()
    except ValueError:
        body = answer.text
    if answer.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        message, code = error_summary(body)
        raise SalesforceAuthError(
            f"login by {settings.auth_flow} flow refused: {message}",
            status=answer.status_code,
            code=code,
        )
    return Token(SecretStr(str(body["access_token"])), str(body["instance_url"]).rstrip("/"))
