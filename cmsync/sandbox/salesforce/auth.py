"""OAuth 2.0: the token endpoint's three flows, and the sessions it hands out.

``POST /services/oauth2/token`` (form-encoded) accepts the JWT bearer flow (an RS256 assertion
verified with the connected app's key: ``iss`` the consumer key, ``sub`` a username, ``aud``
the org kind's login host (``audience_for``), ``exp`` not passed and at most a few minutes ahead),
client credentials (runs as the integration user), and username-password (the password may
carry a security token on its end). Success and failure bodies are the real ones.

A session lasts ``token_ttl_seconds`` of the emulated clock from when it was issued; after
that, or once the TOKEN_EXPIRY fault has revoked it, every call answers INVALID_SESSION_ID.
While the admin path's ``revoke`` holds (``TokenTable.refusal``), every session is gone and
every login is refused with that error (see ``revoke``).
JWT times are checked against both the emulated clock and its source: clients sign with their
own clock, which a test's ``advance_seconds`` does not move.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from cmsync.sandbox.salesforce.config import OrgKind, SalesforceEmulatorConfig
from cmsync.sandbox.salesforce.errors import json_response

__all__ = [
    "LOGIN_AUDIENCES",
    "Session",
    "TokenEndpoint",
    "TokenTable",
    "audience_for",
    "bearer_token",
]

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PRODUCTION_AUDIENCE = "https://login.salesforce.com"
SANDBOX_AUDIENCE = "https://test.salesforce.com"
LOGIN_AUDIENCES = (PRODUCTION_AUDIENCE, SANDBOX_AUDIENCE)
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)  # Salesforce asks for 3; allow for clock skew
_TOKEN_ALPHABET = string.ascii_letters + string.digits + "._"


@dataclass(frozen=True)
class Session:
    token: str
    user_id: str
    issued_at: datetime
    expires_at: datetime


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` (or ``OAuth ...``) header."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() in ("bearer", "oauth") else None


class TokenTable:
    """Issued sessions; a lookup answers None for unknown, expired and revoked tokens."""

    def __init__(self, clock: Callable[[], datetime], ttl_seconds: int, org_id: str) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)
        self._org15 = org_id[:15]
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        # (error, error_description) every login answers while credentials are revoked.
        self.refusal: tuple[str, str] | None = None

    def issue(self, user_id: str) -> Session:
        now = self._clock()
        body = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(96))
        session = Session(f"{self._org15}!{body}", user_id, now, now + self._ttl)
        with self._lock:
            self._sessions[session.token] = session
        return session

    def check(self, token: str | None) -> Session | None:
        if token is None:
            return None
        with self._lock:
            session = self._sessions.get(token)
        if session is None or self._clock() >= session.expires_at:
            return None
        return session

    def revoke(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def revoke_all(self) -> int:
        """End every session (as revoking an app's or a user's OAuth tokens does)."""
        with self._lock:
            ended = len(self._sessions)
            self._sessions.clear()
        return ended


def audience_for(org_kind: OrgKind) -> str:
    """The one ``aud`` an org of this kind accepts in a JWT bearer assertion.

    Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration": the audience
    is https://login.salesforce.com (production and Developer Edition orgs),
    https://test.salesforce.com (sandboxes) or an Experience Cloud site's URL, never the
    org's My Domain; anything else is refused with ``invalid_grant``/``audience is invalid``.
    The Salesforce CLI signs the same way (forcedotcom/sfdx-core, src/util/sfdcUrl.ts,
    ``getJwtAudienceUrl``). The emulated org has no Experience Cloud site.
    """
    return SANDBOX_AUDIENCE if org_kind == "sandbox" else PRODUCTION_AUDIENCE


def _oauth_error(error: str, description: str) -> web.Response:
    return json_response({"error": error, "error_description": description}, 400)


def _load_key(pem: bytes) -> RSAPublicKey | None:
    if not pem:
        return None
    if b"CERTIFICATE" in pem:
        from_certificate = x509.load_pem_x509_certificate(pem).public_key()
        return from_certificate if isinstance(from_certificate, RSAPublicKey) else None
    key = serialization.load_pem_public_key(pem)
    return key if isinstance(key, RSAPublicKey) else None


class TokenEndpoint:
    """``POST /services/oauth2/token``."""

    def __init__(
        self,
        config: SalesforceEmulatorConfig,
        tokens: TokenTable,
        org_id: str,
        find_user: Callable[[str], str | None],  # username -> active User Id
        clocks: Callable[[], tuple[datetime, ...]],  # the times a JWT may be judged against
    ) -> None:
        self.config = config
        self.tokens = tokens
        self.org_id = org_id
        self.find_user = find_user
        self.clocks = clocks
        self.public_key = _load_key(config.jwt_public_key_pem)

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        if self.tokens.refusal is not None:  # credentials revoked: see ``revoke``
            return _oauth_error(*self.tokens.refusal)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        grant = fields.get("grant_type")
        if grant == JWT_GRANT:
            return self._jwt(request, fields.get("assertion", ""))
        if grant == "client_credentials":
            return self._client_credentials(request, fields)
        if grant == "password":
            return self._password(request, fields)
        return _oauth_error("unsupported_grant_type", "grant type not supported")

    def _success(self, request: web.Request, user_id: str) -> web.Response:
        session = self.tokens.issue(user_id)
        origin = f"{request.scheme}://{request.host}"
        identity = f"{origin}/id/{self.org_id}/{user_id}"
        issued = str(int(session.issued_at.timestamp() * 1000))
        digest = hmac.new(
            self.config.client_secret.encode(), (identity + issued).encode(), hashlib.sha256
        ).digest()
        return json_response(
            {
                "access_token": session.token,
                "signature": base64.b64encode(digest).decode(),
                "scope": "api",
                "instance_url": origin,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued,
            }
        )

    def _jwt(self, request: web.Request, assertion: str) -> web.Response:
        if self.public_key is None:
            return _oauth_error("invalid_grant", "invalid assertion")
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                self.public_key,
                algorithms=["RS256"],
                options={"verify_signature": True, "verify_exp": False, "verify_aud": False},
            )
        except jwt.InvalidTokenError:
            return _oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != self.config.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        user_id = self.find_user(str(claims.get("sub", "")))
        if user_id is None:
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        accepted = audience_for(self.config.org_kind)  # never this server's own URL
        if not any(isinstance(a, str) and a.rstrip("/") == accepted for a in audiences):
            return _oauth_error("invalid_grant", "audience is invalid")
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            return _oauth_error("invalid_grant", "invalid assertion")
        times = [now.timestamp() for now in self.clocks()]
        if not any(now < exp for now in times):
            return _oauth_error("invalid_grant", "expired authorization code")
        if not any(exp <= now + MAX_ASSERTION_LIFETIME.total_seconds() for now in times):
            return _oauth_error("invalid_grant", "invalid assertion")
        return self._success(request, user_id)

    def _client_ok(self, fields: dict[str, str]) -> web.Response | None:
        if fields.get("client_id") != self.config.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        secret = fields.get("client_secret", "")
        if not hmac.compare_digest(secret.encode(), self.config.client_secret.encode()):
            return _oauth_error("invalid_client", "invalid client credentials")
        return None

    def _client_credentials(self, request: web.Request, fields: dict[str, str]) -> web.Response:
        refused = self._client_ok(fields)
        if refused is not None:
            return refused
        user_id = self.find_user(self.config.username)
        if user_id is None:
            return _oauth_error("invalid_grant", "no client credentials user enabled")
        return self._success(request, user_id)

    def _password(self, request: web.Request, fields: dict[str, str]) -> web.Response:
        refused = self._client_ok(fields)
        if refused is not None:
            return refused
        username = fields.get("username", "")
        password = fields.get("password", "")
        expected = self.config.password
        # The sandbox org trusts every IP, so a security token appended to the password is
        # accepted but not required (as in an org with trusted IP ranges).
        token = password[len(expected) :]
        matches = password.startswith(expected) and (not token or token.isalnum())
        user_id = self.find_user(username) if username == self.config.username else None
        if not matches or user_id is None:
            return _oauth_error("invalid_grant", "authentication failure")
        return self._success(request, user_id)
