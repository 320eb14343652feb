"""The middleware in front of every Salesforce route: version, session, allocation, errors.

It runs inside the shared logging and fault middlewares (base.py). For ``/services/data/vNN.N/``
it answers, in order: 404 NOT_FOUND for a version the org does not serve; 401
INVALID_SESSION_ID for a missing, unknown, expired or revoked token; 403 REQUEST_LIMIT_EXCEEDED
once the day's allocation is spent; otherwise it counts the call and stamps
``Sforce-Limit-Info: api-usage=USED/MAX`` on the answer. The token endpoint and the versions
list need no session and are not counted. Errors a handler raises become Salesforce bodies here.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from cmsync.sandbox.base import ADMIN_PREFIX
from cmsync.sandbox.salesforce.auth import Session, TokenTable, bearer_token
from cmsync.sandbox.salesforce.errors import ApiError, ErrorItem, RecordError, not_found
from cmsync.sandbox.salesforce.org import Org

__all__ = ["LIMIT_HEADER", "SESSION", "TOKEN_PATH", "make_gate"]

LIMIT_HEADER = "Sforce-Limit-Info"
TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 (a path, not a secret)
_VERSIONED = re.compile(r"/services/data/v(\d+\.\d+)(?:/.*)?")
SESSION = web.RequestKey("salesforce_session", Session)  # the caller's session, once checked
_OPEN_PATHS = frozenset({TOKEN_PATH, "/services/data", "/services/data/"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except RecordError as exc:
        return ApiError.from_record(exc).response()
    except web.HTTPMethodNotAllowed as exc:
        allowed = ",".join(sorted(exc.allowed_methods))
        return ApiError.of(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
        ).response()
    except web.HTTPNotFound:
        return not_found().response()


def make_gate(org: Org, tokens: TokenTable) -> Middleware:
    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(ADMIN_PREFIX):
            return await handler(request)
        if path in _OPEN_PATHS:
            return await _answer(request, handler)
        match = _VERSIONED.fullmatch(path)
        if match is None or match.group(1) != org.version:
            return not_found().response()
        session = tokens.check(bearer_token(request.headers.get("Authorization")))
        if session is None:
            return ApiError.of(401, "INVALID_SESSION_ID", "Session expired or invalid").response()
        request[SESSION] = session
        if not org.allowance.spend():
            spent = ErrorItem("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            return ApiError(403, spent, headers={LIMIT_HEADER: org.allowance.header()}).response()
        response = await _answer(request, handler)
        response.headers[LIMIT_HEADER] = org.allowance.header()
        return response

    return gate
