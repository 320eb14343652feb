"""What both emulators share: context, middlewares, and the admin path.

Middleware order (outermost first): request log and stats, then the fault injector, then the
emulator's own limits and auth. The admin path ``/__sandbox/*`` bypasses faults, limits and
auth, is not counted, and answers only to loopback peers.

Every answer's ``Date`` header is the emulated clock's time, not the host's: a real server
sends its own clock's time there (RFC 9110 §6.6.1 Date: an origin server with a clock "MUST
generate a Date header field" in its 2xx, 3xx and 4xx responses; Salesforce and ChartMogul
both do), so advancing the emulated clock is how a test puts the server's clock ahead of the
client's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Protocol

from aiohttp import web

from cmsync.sandbox.clock import SandboxClock
from cmsync.sandbox.faults import Fault, FaultInjector, UnknownProfileError

__all__ = [
    "ADMIN_PREFIX",
    "FaultRenderer",
    "RequestStats",
    "SandboxContext",
    "build_app",
]

ADMIN_PREFIX = "/__sandbox/"
access_log = logging.getLogger("cmsync.sandbox.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RequestStats:
    """Requests counted by endpoint (method + route pattern) and by status."""

    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)

    def record(self, request: web.Request, status: int) -> None:
        resource = request.match_info.route.resource
        pattern = resource.canonical if resource is not None else request.path
        self.by_endpoint[f"{request.method} {pattern}"] += 1
        self.by_status[status] += 1

    def snapshot(self) -> dict[str, object]:
        return {
            "total": sum(self.by_endpoint.values()),
            "requests": dict(sorted(self.by_endpoint.items())),
            "statuses": {str(k): v for k, v in sorted(self.by_status.items())},
        }

    def reset(self) -> None:
        self.by_endpoint.clear()
        self.by_status.clear()


@dataclass
class SandboxContext:
    """State shared by both emulators of one sandbox run."""

    clock: SandboxClock = field(default_factory=SandboxClock)
    faults: FaultInjector = field(default_factory=FaultInjector)


class FaultRenderer(Protocol):
    """How one emulator answers an injected fault, in its own wire format."""

    name: str
    applicable_faults: frozenset[Fault]

    def fault_response(
        self, fault: Fault, request: web.Request, status: int
    ) -> web.StreamResponse | None:
        """The answer for ``fault``; None lets the request through (e.g. after expiring a token)."""


def _is_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _request_key(request: web.Request) -> str:
    return f"{request.method} {request.path_qs}"


def build_app(ctx: SandboxContext, renderer: FaultRenderer, stats: RequestStats) -> web.Application:
    """An aiohttp app with logging, stats, faults and the admin routes; add API routes to it."""

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            if not _is_loopback(request):
                raise web.HTTPNotFound()
            return await handler(request)
        started = time.perf_counter()
        status = 599  # a dropped connection never gets a status
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            stats.record(request, status)
            access_log.info(
                "%s %d %s %s %.1fms",
                renderer.name,
                status,
                request.method,
                request.path,
                (time.perf_counter() - started) * 1000,
            )

    @web.middleware
    async def inject(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        key = _request_key(request)
        fault = ctx.faults.request_fault(key, renderer.applicable_faults)
        if fault is None:
            return await handler(request)
        if fault is Fault.SLOW:
            await asyncio.sleep(ctx.faults.profile.slow_seconds)
            return await handler(request)
        if fault is Fault.TIMEOUT:
            await asyncio.sleep(ctx.faults.profile.timeout_seconds)
        if fault is Fault.LOST_ANSWER:
            await handler(request)  # carried out: a retry must not do it twice
        if fault in (Fault.DROP, Fault.LOST_ANSWER):
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # aiohttp ends the handler quietly on a lost peer
        status = ctx.faults.server_error_status(key) if fault is Fault.SERVER_ERROR else 504
        answer = renderer.fault_response(fault, request, status)
        return answer if answer is not None else await handler(request)

    app = web.Application(middlewares=[observe, inject])

    async def emulated_date(_: web.Request, response: web.StreamResponse) -> None:
        # aiohttp fills in the host's time before this signal; the server's clock wins.
        response.headers["Date"] = format_datetime(
            ctx.clock.now().replace(microsecond=0), usegmt=True
        )

    app.on_response_prepare.append(emulated_date)

    async def get_stats(_: web.Request) -> web.Response:
        body = stats.snapshot()
        body["faults_injected"] = dict(ctx.faults.injected)
        body["fault_profile"] = ctx.faults.profile.name
        return web.json_response(body)

    async def reset_stats(_: web.Request) -> web.Response:
        stats.reset()
        return web.json_response(stats.snapshot())

    async def set_faults(request: web.Request) -> web.Response:
        body = await _json_object(request)
        name = body.get("profile")
        if not isinstance(name, str):
            raise web.HTTPBadRequest(text='expected {"profile": NAME}')
        try:
            profile = ctx.faults.set_profile(name)
        except UnknownProfileError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response({"profile": profile.name, "seed": ctx.faults.seed})

    async def get_clock(_: web.Request) -> web.Response:
        return web.json_response(
            {"now": ctx.clock.now().isoformat(), "offset_seconds": ctx.clock.offset_seconds}
        )

    async def advance_clock(request: web.Request) -> web.Response:
        body = await _json_object(request)
        seconds = body.get("advance_seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise web.HTTPBadRequest(text='expected {"advance_seconds": N} with N >= 0')
        ctx.clock.advance(float(seconds))
        return await get_clock(request)

    app.router.add_get(ADMIN_PREFIX + "stats", get_stats)
    app.router.add_delete(ADMIN_PREFIX + "stats", reset_stats)
    app.router.add_post(ADMIN_PREFIX + "faults", set_faults)
    app.router.add_get(ADMIN_PREFIX + "clock", get_clock)
    app.router.add_post(ADMIN_PREFIX + "clock", advance_clock)
    return app


async def _json_object(request: web.Request) -> dict[str, object]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body
