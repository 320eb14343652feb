"""The ChartMogul v1 emulator as an aiohttp application: auth, the real limits, faults.

Middleware order (see ``cmsync.sandbox.base``): request log and stats, then injected faults,
then this emulator's guard, which in turn enforces

1. at most 20 requests in flight: the 21st concurrent one gets 503 "Too Many Parallel
   Connections" (ChartMogul's documented parallel-connection limit);
2. Basic auth with the API key as user name and an empty password or the key again, else 401
   ``{"code":401,"message":"No valid API key provided","param":null}`` [REAL];
3. at most 40 requests per second per account, else 429 with the documented message and no
   ``Retry-After`` (none appears in ~250 recorded real responses). Refused requests do not
   count against the window (chosen), so a client that backs off gets through.

While ``POST /__sandbox/revoke`` holds (until ``DELETE``), the key is refused as a deleted or
regenerated one is (ChartMogul > Profile > API keys): every request answers that same 401.

These limits are always on, whatever the fault profile. Every answer carries ``x-request-id``.
5xx bodies are plain text, as recorded (``500 Internal Server Error``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import uuid
from collections import deque
from datetime import datetime

from aiohttp import web

from cmsync.sandbox.base import ADMIN_PREFIX, Handler, RequestStats, SandboxContext, build_app
from cmsync.sandbox.chartmogul.errors import ApiError
from cmsync.sandbox.chartmogul.rates import RateSchedule
from cmsync.sandbox.chartmogul.routes import add_routes, json_answer
from cmsync.sandbox.chartmogul.store import Store
from cmsync.sandbox.faults import Fault

__all__ = ["MAX_IN_FLIGHT", "RATE_LIMIT", "ChartMogulEmulator"]

log = logging.getLogger("cmsync.sandbox.chartmogul")

RATE_LIMIT = 40  # requests per second per account
MAX_IN_FLIGHT = 20
UNAUTHORISED = {"code": 401, "message": "No valid API key provided", "param": None}
THROTTLED = {
    "code": 429,
    "message": "Your request rate has exceeded our rate limit.",
    "param": None,
}
_PLAIN = {
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
    504: "504 Gateway Timeout Error",
}


def plain_text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain", charset="utf-8")


class _RateWindow:
    """A sliding one-second window of admitted requests."""

    def __init__(self, limit: int, seconds: float = 1.0) -> None:
        self.limit = limit
        self.seconds = seconds
        self._times: deque[float] = deque()

    def admit(self, now: float) -> bool:
        while self._times and now - self._times[0] >= self.seconds:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True


class ChartMogulEmulator:
    """A ChartMogul account behind the v1 REST API; ``store`` is also the seeding target."""

    name = "chartmogul"
    applicable_faults = frozenset(
        {
            Fault.THROTTLE,
            Fault.SERVER_ERROR,
            Fault.SLOW,
            Fault.TIMEOUT,
            Fault.DROP,
            Fault.LOST_ANSWER,
        }
    )

    def __init__(self, ctx: SandboxContext, api_key: str, currency: str = "USD") -> None:
        self.ctx = ctx
        self.api_key = api_key
        self.store = Store(ctx.clock, seed=ctx.faults.seed, currency=currency)
        self.stats = RequestStats()
        self._window = _RateWindow(RATE_LIMIT)
        self._in_flight = 0
        self.revoked = False  # the API key deleted: every request answers 401

    @property
    def in_flight(self) -> int:
        """Requests being answered right now (the parallel-connection limit counts these)."""
        return self._in_flight

    # FaultRenderer ------------------------------------------------------------------------

    def fault_response(
        self, fault: Fault, request: web.Request, status: int
    ) -> web.StreamResponse | None:
        if fault is Fault.THROTTLE:
            answer = json_answer(429, THROTTLED)
        else:
            answer = plain_text(status, _PLAIN.get(status, f"{status} Error"))
        answer.headers["x-request-id"] = uuid.uuid4().hex
        return answer

    # the app ------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.api_key and password in ("", self.api_key)

    async def _guarded(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.revoked or not self._authorised(request):
            return json_answer(401, UNAUTHORISED)
        if not self._window.admit(self.ctx.clock.now().timestamp()):
            return json_answer(429, THROTTLED)
        try:
            return await handler(request)
        except ApiError as error:
            return json_answer(error.status, error.body)
        except web.HTTPException:
            raise
        except ConnectionError:  # the client went away mid-request: nobody to answer
            raise asyncio.CancelledError from None
        except Exception:
            log.exception("chartmogul emulator failed on %s %s", request.method, request.path)
            return plain_text(500, _PLAIN[500])

    def create_app(self) -> web.Application:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path.startswith(ADMIN_PREFIX):
                return await handler(request)
            if self._in_flight >= MAX_IN_FLIGHT:
                answer: web.StreamResponse = plain_text(503, "Too Many Parallel Connections")
            else:
                self._in_flight += 1
                try:
                    answer = await self._guarded(request, handler)
                finally:
                    self._in_flight -= 1
            answer.headers["x-request-id"] = uuid.uuid4().hex
            return answer

        app = build_app(self.ctx, self, self.stats)
        app.middlewares.append(guard)
        add_routes(app, self.store)
        self._add_inject_routes(app)
        self._add_rate_routes(app)
        self._add_revoke_routes(app)
        return app

    def _add_revoke_routes(self, app: web.Application) -> None:
        """``/__sandbox/revoke``: ``POST`` deletes the API key (every request answers 401
        "No valid API key provided" until ``DELETE`` restores it); ``GET`` shows which."""

        def answer() -> web.Response:
            return web.json_response({"revoked": self.revoked})

        async def revoke(_: web.Request) -> web.Response:
            self.revoked = True
            return answer()

        async def restore(_: web.Request) -> web.Response:
            self.revoked = False
            return answer()

        async def show(_: web.Request) -> web.Response:
            return answer()

        app.router.add_post(ADMIN_PREFIX + "revoke", revoke)
        app.router.add_get(ADMIN_PREFIX + "revoke", show)
        app.router.add_delete(ADMIN_PREFIX + "revoke", restore)

    def _add_rate_routes(self, app: web.Application) -> None:
        """``/__sandbox/rates``: the exchange-rate schedule (``rates``). ``POST`` with
        ``{"rates": {"EUR": 1.2}, "at": ISO datetime}`` (``at`` defaults to the emulated now)
        changes rates from that moment on: drift, which moves MRR without a movement."""
        store = self.store

        async def show(_: web.Request) -> web.Response:
            return web.json_response({"schedule": store.rates()})

        async def change(request: web.Request) -> web.Response:
            try:
                body = json.loads(await request.read())
                rates = body["rates"]
                if not isinstance(rates, dict) or not rates:
                    raise ValueError('expected {"rates": {"EUR": 1.2, ...}}')
                at = body.get("at")
                moment = self.ctx.clock.now() if at is None else datetime.fromisoformat(at)
                if moment.tzinfo is None:
                    raise ValueError("at needs a time zone")
                parsed = {str(k).upper(): RateSchedule.parse_rate(v) for k, v in rates.items()}
                schedule = store.change_rates(int(moment.timestamp()), parsed)
            except (ValueError, KeyError, TypeError) as exc:
                raise web.HTTPBadRequest(text=f"bad rates: {exc}") from None
            return web.json_response({"schedule": schedule})

        app.router.add_get(ADMIN_PREFIX + "rates", show)
        app.router.add_post(ADMIN_PREFIX + "rates", change)

    def _add_inject_routes(self, app: web.Application) -> None:
        """``/__sandbox/inject``: raw listing entries for tests (see ``inject``)."""
        store = self.store

        async def add(request: web.Request) -> web.Response:
            # Read past the app's 1 MiB body limit: hostile entries may hold 100 kB strings.
            try:
                body = json.loads(await request.content.read())
            except ValueError:
                raise web.HTTPBadRequest(text="body must be JSON") from None
            if not isinstance(body, dict):
                raise web.HTTPBadRequest(text='expected {"activities": [...], ...}')
            try:
                return web.json_response(store.run(store.injected.add, body))
            except ValueError as exc:
                raise web.HTTPBadRequest(text=str(exc)) from None

        async def show(_: web.Request) -> web.Response:
            return web.json_response(store.run(store.injected.counts))

        async def clear(_: web.Request) -> web.Response:
            return web.json_response(store.run(store.injected.clear))

        app.router.add_post(ADMIN_PREFIX + "inject", add)
        app.router.add_get(ADMIN_PREFIX + "inject", show)
        app.router.add_delete(ADMIN_PREFIX + "inject", clear)
