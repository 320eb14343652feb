"""Serving emulator apps over TLS on free loopback ports, in this loop or a background thread.

Synchronous clients (simple-salesforce, the official ChartMogul client) block the calling
thread, so tests run the sandbox on an event loop of its own in a thread (``LoopThread``).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

__all__ = ["PARSER_LIMITS", "LoopThread", "Site", "start_site"]

T = TypeVar("T")
# An app's own limits for aiohttp's HTTP parser (``max_line_size``, ``max_field_size``), where
# the service it emulates accepts longer requests than aiohttp's 8,190-byte default.
PARSER_LIMITS = web.AppKey("parser_limits", dict[str, int])


class Site:
    """A running aiohttp app and the https URL it answers on."""

    def __init__(self, runner: web.AppRunner, url: str) -> None:
        self.runner = runner
        self.url = url

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_site(
    app: web.Application, ssl_context: ssl.SSLContext | None, host: str = "127.0.0.1", port: int = 0
) -> Site:
    """Start ``app`` on ``host`` (port 0 picks a free one) and return where it listens."""
    # shutdown_timeout belongs to the runner (aiohttp deprecates it on the site)
    limits: dict[str, int] = app.get(PARSER_LIMITS) or {}
    parser_limits: dict[str, Any] = dict(limits)  # keyword arguments of the request handler
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=1.0, **parser_limits
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    bound = runner.addresses[0][1]
    scheme = "https" if ssl_context is not None else "http"
    return Site(runner, f"{scheme}://{host}:{bound}")


class LoopThread:
    """An event loop running in a daemon thread; ``call`` runs a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="sandbox-loop", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
