"""The Salesforce REST emulator: one org, its data, its sessions, and its aiohttp app.

``store`` is the org's data, open for seeding (``insert``/``update`` without ``api=True``
may set read-only fields). ``issue_token`` hands out a session for the integration user
without a login, for ``sandbox.json``. ``create_app`` builds the app on the shared sandbox
middlewares; the emulator itself is the fault renderer that answers injected faults the way
Salesforce would.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from aiohttp import web

from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE
from cmsync.salesforce.schema import Catalogue
from cmsync.sandbox.base import RequestStats, SandboxContext, build_app
from cmsync.sandbox.faults import Fault
from cmsync.sandbox.salesforce.auth import TokenEndpoint, TokenTable, bearer_token
from cmsync.sandbox.salesforce.config import SalesforceEmulatorConfig
from cmsync.sandbox.salesforce.cursors import CursorTable
from cmsync.sandbox.salesforce.errors import ApiError
from cmsync.sandbox.salesforce.gate import TOKEN_PATH, make_gate
from cmsync.sandbox.salesforce.ids import IdFactory
from cmsync.sandbox.salesforce.limits import DailyAllowance
from cmsync.sandbox.salesforce.org import Org
from cmsync.sandbox.salesforce.request_size import PARSER_LIMITS as SALESFORCE_PARSER_LIMITS
from cmsync.sandbox.salesforce.request_size import request_size_guard
from cmsync.sandbox.salesforce.revoke import RevokeRoutes
from cmsync.sandbox.salesforce.routes_admin import AdminRoutes
from cmsync.sandbox.salesforce.routes_composite import CollectionRoutes
from cmsync.sandbox.salesforce.routes_meta import MetaRoutes
from cmsync.sandbox.salesforce.routes_query import QueryRoutes
from cmsync.sandbox.salesforce.routes_sobjects import SObjectRoutes
from cmsync.sandbox.salesforce.store import RecordStore
from cmsync.sandbox.serve import PARSER_LIMITS

__all__ = ["SalesforceEmulator"]

ORG_KEY_PREFIX = "00D"


class SalesforceEmulator:
    """A Salesforce org over REST, backed by an in-memory store on the sandbox clock."""

    name = "salesforce"
    # No per-second throttling in Salesforce: a spent daily allocation answers 403 instead.
    applicable_faults = frozenset(
        {
            Fault.SERVER_ERROR,
            Fault.SLOW,
            Fault.TIMEOUT,
            Fault.DROP,
            Fault.TOKEN_EXPIRY,
            Fault.LOST_ANSWER,
        }
    )

    def __init__(
        self,
        ctx: SandboxContext,
        config: SalesforceEmulatorConfig,
        catalogue: Catalogue = DEFAULT_CATALOGUE,
    ) -> None:
        self.ctx = ctx
        self.config = config
        ids = IdFactory()
        self.org_id = ids.new(ORG_KEY_PREFIX)
        self.store = RecordStore(catalogue, ctx.clock.now, ids)
        self.store.edit_converted_leads = config.edit_converted_leads
        email = config.username if "@" in config.username else f"{config.username}@example.com"
        self.store.user_id = self.store.insert(
            "User",
            {"FirstName": "Integration", "LastName": "User", "Email": email,
             "Username": config.username, "IsActive": True},
        )  # fmt: skip
        self.tokens = TokenTable(ctx.clock.now, config.token_ttl_seconds, self.org_id)
        self.allowance = DailyAllowance(ctx.clock.now, self._daily_limit)
        self.org = Org(
            config=config,
            ctx=ctx,
            store=self.store,
            cursors=CursorTable(ctx.clock.now, ids),
            allowance=self.allowance,
            org_id=self.org_id,
        )
        self.stats = RequestStats()

    def _daily_limit(self) -> int:
        override = self.ctx.faults.profile.daily_api_limit
        return override if override is not None else self.config.daily_api_limit

    def _active_user(self, username: str) -> str | None:
        users = self.store.external_match("User", "Username", username)
        return next((u.id for u in users if u.get("IsActive") is True), None)

    def _jwt_clocks(self) -> tuple[datetime, ...]:
        now = self.ctx.clock.now()
        return (now, now - timedelta(seconds=self.ctx.clock.offset_seconds))

    def issue_token(self) -> str:
        """A fresh session for the integration user, as if it had just logged in."""
        assert self.store.user_id is not None
        return self.tokens.issue(self.store.user_id).token

    def create_app(self) -> web.Application:
        app = build_app(self.ctx, self, self.stats)
        app[PARSER_LIMITS] = SALESFORCE_PARSER_LIMITS
        app.middlewares.append(request_size_guard)  # before the session: a front-end limit
        app.middlewares.append(make_gate(self.org, self.tokens))
        endpoint = TokenEndpoint(
            self.config, self.tokens, self.org_id, self._active_user, self._jwt_clocks
        )
        app.router.add_post(TOKEN_PATH, endpoint.handle)
        for routes in (
            MetaRoutes(self.org),
            QueryRoutes(self.org),
            SObjectRoutes(self.org),
            CollectionRoutes(self.org),
            AdminRoutes(self.org),
            RevokeRoutes(self.tokens),
        ):
            routes.register(app)
        return app

    # --- FaultRenderer -----------------------------------------------------------------

    def fault_response(
        self, fault: Fault, request: web.Request, status: int
    ) -> web.StreamResponse | None:
        if fault is Fault.TOKEN_EXPIRY:
            self.tokens.revoke(bearer_token(request.headers.get("Authorization")))
            return None  # the request goes on, and meets INVALID_SESSION_ID
        if fault is Fault.SERVER_ERROR and status == 503:
            return ApiError.of(
                503, "SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again."
            ).response()
        if fault is Fault.SERVER_ERROR:
            digest = int(hashlib.sha256(request.path_qs.encode()).hexdigest()[:12], 16)
            error_id = f"{digest % 10**10}-{digest % 10**5} ({-(digest % 10**10)})"
            return ApiError.of(
                500,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact "
                f"support: {error_id}",
            ).response()
        if fault is Fault.TIMEOUT:
            # What the edge answers when the app server does not: not a Salesforce JSON body.
            return web.Response(status=status, text="Gateway Timeout", content_type="text/html")
        return None
