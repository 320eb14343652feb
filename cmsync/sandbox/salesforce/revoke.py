"""Revoking cmsync's credentials at runtime (admin path, loopback only, never counted).

``POST /__sandbox/revoke`` with ``{"error": ..., "error_description": ...}`` (by default
``invalid_grant`` / "user hasn't approved this consumer") ends every session, so each API call
answers 401 ``INVALID_SESSION_ID``, and makes the token endpoint refuse every login with that
400 body until ``DELETE /__sandbox/revoke``; ``GET`` shows what is refused. It stands for what
an administrator does to a live integration: deactivate the integration user or take it out of
the app's pre-authorized permission sets, replace the app's certificate, rotate its consumer
secret, delete the app. Only refusals Salesforce is documented to send are accepted
(``REFUSALS``); the token endpoint answers them with status 400 and the OAuth error body of
RFC 6749 §5.2, as Salesforce Help, "OAuth 2.0 Authorization Errors" shows for the JWT bearer
flow (``HTTP/1.1 400 Bad Request`` ``{"error":"invalid_grant","error_description":...}``).
"""

from __future__ import annotations

import json

from aiohttp import web

from cmsync.sandbox.base import ADMIN_PREFIX
from cmsync.sandbox.salesforce.auth import TokenTable
from cmsync.sandbox.salesforce.errors import json_response

__all__ = ["DEFAULT_REFUSAL", "REFUSALS", "RevokeRoutes"]

# Each refusal, and what in a real org makes the token endpoint answer it.
REFUSALS: dict[tuple[str, str], str] = {
    # Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration": a user
    # the app's policies do not pre-authorize (or an inactive one).
    ("invalid_grant", "user hasn't approved this consumer"): "user not pre-authorized",
    # The same flow: an assertion whose signature the app's certificate does not verify
    # (the certificate was replaced, or an expired one renewed with a new key).
    ("invalid_grant", "invalid assertion"): "certificate replaced",
    # RFC 6749 §5.2 invalid_client, as Salesforce words it: a rotated consumer secret.
    ("invalid_client", "invalid client credentials"): "consumer secret rotated",
    # A consumer key no app of the org has (the app was deleted).
    ("invalid_client_id", "client identifier invalid"): "app deleted",
    # Salesforce Help, "OAuth 2.0 Authorization Errors": a revoked token or grant.
    ("invalid_grant", "expired access/refresh token"): "grant revoked",
    # The username-password flow's answer to a changed password.
    ("invalid_grant", "authentication failure"): "password changed",
}
DEFAULT_REFUSAL = ("invalid_grant", "user hasn't approved this consumer")


class RevokeRoutes:
    def __init__(self, tokens: TokenTable) -> None:
        self.tokens = tokens

    def register(self, app: web.Application) -> None:
        app.router.add_post(ADMIN_PREFIX + "revoke", self.revoke)
        app.router.add_get(ADMIN_PREFIX + "revoke", self.show)
        app.router.add_delete(ADMIN_PREFIX + "revoke", self.restore)

    def _state(self, **extra: object) -> web.Response:
        refusal = self.tokens.refusal
        body: dict[str, object] = {
            "revoked": refusal is not None,
            "refusal": (
                None if refusal is None else {"error": refusal[0], "error_description": refusal[1]}
            ),
        }
        return json_response(body | extra)

    async def revoke(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            value = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise web.HTTPBadRequest(text="body must be JSON") from None
        if not isinstance(value, dict):
            raise web.HTTPBadRequest(text='expected {"error": ..., "error_description": ...}')
        refusal = (
            str(value.get("error", DEFAULT_REFUSAL[0])),
            str(value.get("error_description", DEFAULT_REFUSAL[1])),
        )
        if refusal not in REFUSALS:
            known = "; ".join(f"{e}: {d}" for e, d in REFUSALS)
            raise web.HTTPBadRequest(text=f"not a refusal Salesforce sends; one of {known}")
        self.tokens.refusal = refusal
        return self._state(sessions_ended=self.tokens.revoke_all())

    async def show(self, _: web.Request) -> web.Response:
        return self._state()

    async def restore(self, _: web.Request) -> web.Response:
        self.tokens.refusal = None
        return self._state()
