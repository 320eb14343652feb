"""cmsync's ChartMogul client: typed records, one request funnel, safe creates.

``connect(settings)`` is how the daemon gets one: it owns the ``aiohttp.ClientSession`` (TLS
trusting the configured CA bundle, a connection pool no bigger than the in-flight cap) for
the life of the ``async with`` block.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from cmsync.chartmogul.client import ChartMogulClient
from cmsync.chartmogul.errors import (
    AmbiguousWriteError,
    ChartMogulAuthError,
    ChartMogulClientError,
    ChartMogulError,
    ChartMogulNotFoundError,
    ChartMogulRetriableError,
)
from cmsync.chartmogul.transport import Transport, TransportPolicy
from cmsync.config import ChartMogulSettings
from state.authgate import AuthBackoff
from state.serverclock import ServerClock

__all__ = [
    "AmbiguousWriteError",
    "ChartMogulAuthError",
    "ChartMogulClient",
    "ChartMogulClientError",
    "ChartMogulError",
    "ChartMogulNotFoundError",
    "ChartMogulRetriableError",
    "Transport",
    "TransportPolicy",
    "connect",
]


@asynccontextmanager
async def connect(
    settings: ChartMogulSettings,
    policy: TransportPolicy | None = None,
    *,
    server_clock: ServerClock | None = None,
    auth_backoff: AuthBackoff | None = None,
) -> AsyncIterator[ChartMogulClient]:
    """A client for ``settings``, with its own HTTP session, closed on exit.

    ``server_clock`` measures ChartMogul's clock from its answers (a new one if not given);
    ``auth_backoff`` how a refused key is tried again (``state.authgate``'s default if not).
    """
    base = policy or TransportPolicy()
    policy = TransportPolicy(
        max_rate=base.max_rate,
        max_in_flight=base.max_in_flight,
        timeout_seconds=settings.timeout_seconds,
        retry=base.retry,
    )
    cafile = str(settings.ca_bundle) if settings.ca_bundle else None
    context = ssl.create_default_context(cafile=cafile)
    connector = aiohttp.TCPConnector(ssl=context, limit=policy.max_in_flight)
    assert settings.api_key is not None  # the settings validator requires it
    async with aiohttp.ClientSession(connector=connector) as session:
        key_source = (
            f"chartmogul.api_key_file ({settings.api_key_file})"
            if settings.api_key_file is not None
            else "chartmogul.api_key (CMSYNC_CHARTMOGUL__API_KEY)"
        )
        transport = Transport(
            session, str(settings.base_url), settings.api_key, policy,
            server_clock=server_clock, auth_backoff=auth_backoff, key_source=key_source,
        )  # fmt: skip
        yield ChartMogulClient(transport)
