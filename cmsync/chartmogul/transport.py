"""The one request funnel to ChartMogul: auth, rate limit, concurrency cap, retries, errors.

Every call goes through ``Transport.request``. It

- sends Basic auth as an ``Authorization`` header built from the key (aiohttp 3.14 deprecates
  ``auth=``), so the key lives in one private attribute and never in a repr, log or exception;
- waits for the rate limiter (below ChartMogul's documented 40 requests per second) and a
  semaphore (ChartMogul answers 503 above 20 connections in flight);
- turns every transport or HTTP failure into a ``ChartMogulError`` subclass, here and nowhere
  else;
- retries what is retriable with exponential backoff and full jitter, or exactly the
  ``Retry-After`` a server sends (ChartMogul sends none today; if it ever does, it wins);
- feeds every answer's ``Date`` into ``server_clock``, so windows can end at ChartMogul's
  "now" rather than a skewed local clock's;
- once a request has been accepted, backs off a key refused with 401 (``auth_gate``): until
  the backoff allows, every request raises ``AuthFailingError`` without being sent, and one
  warning names the key's setting and file (``cmsync.authgate``). A 401 before any accepted
  request stays the caller's error (a wrong key at start).

Writes are the subtle part: ChartMogul has no idempotency keys. A POST refused before it was
processed (429, 503 "too many connections", connection refused) is safe to repeat; a POST that
timed out, was dropped or got a 5xx may have been applied, so it raises ``AmbiguousWriteError``
without a retry and the client looks the object up by its external id before trying again.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiolimiter import AsyncLimiter
from pydantic import SecretStr

from cmsync.authgate import CredentialGate
from cmsync.chartmogul.errors import (
    AmbiguousWriteError,
    ChartMogulAuthError,
    ChartMogulClientError,
    ChartMogulError,
    ChartMogulNotFoundError,
    ChartMogulRetriableError,
    api_message,
)
from cmsync.retry import CHARTMOGUL_REQUESTS, RetryPolicy, pacer, retrying
from state.authgate import AuthBackoff
from state.serverclock import ServerClock

__all__ = ["Transport", "TransportPolicy"]

log = logging.getLogger("cmsync.chartmogul")

_SAFE_TO_REPEAT_STATUSES = frozenset({429, 503})  # refused before processing
_BUCKETS_PER_SECOND = 6
_RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 524})


@dataclass(frozen=True)
class TransportPolicy:
    """Limits and retry settings; the defaults keep well inside ChartMogul's limits."""

    max_rate: float = 30.0  # requests per second; ChartMogul allows 40
    max_in_flight: int = 10  # ChartMogul answers 503 above 20
    timeout_seconds: float = 30.0
    retry: RetryPolicy = CHARTMOGUL_REQUESTS


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP-date form; backoff instead of parsing a clock we do not trust


class Transport:
    """Sends requests to ``base_url`` + ``/v1`` over an injected ``aiohttp.ClientSession``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: SecretStr,
        policy: TransportPolicy | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        server_clock: ServerClock | None = None,
        auth_backoff: AuthBackoff | None = None,
        key_source: str = "chartmogul.api_key",
    ) -> None:
        self._session = session
        self.auth_gate = CredentialGate("ChartMogul", auth_backoff)
        self._key_source = key_source  # the setting (and file) the key came from
        self.server_clock = server_clock or ServerClock()
        self._root = base_url.rstrip("/") + "/v1"
        self._authorization = aiohttp.encode_basic_auth(api_key.get_secret_value(), "")
        self.policy = policy or TransportPolicy()
        # A small bucket refilled often: ChartMogul counts requests in a sliding second, so
        # a full second's burst on top of the steady rate would overshoot its 40.
        self._limiter = pacer(self.policy.max_rate, slices_per_second=_BUCKETS_PER_SECOND)
        self._in_flight = asyncio.Semaphore(self.policy.max_in_flight)
        self._sleep = sleep
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"Transport({self._root!r})"

    def share(self, fraction: float) -> AsyncLimiter:
        """A limiter at ``fraction`` of this transport's rate, one request at a time: for a
        reader in the background that must leave the rest to the step it runs beside."""
        rate = self.policy.max_rate * fraction
        return pacer(rate, slices_per_second=rate)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> Any:
        """The decoded JSON answer (None for an empty body), after retries; raises on failure."""
        idempotent = method != "POST"

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, ChartMogulRetriableError):
                return False
            return idempotent or not isinstance(exc, AmbiguousWriteError)

        policy = self.policy.retry
        what = f"{method} {path}"
        async for attempt in retrying(
            policy, should_retry, sleep=self._sleep, logger=log, what=what
        ):
            with attempt:
                return await self._gated(method, path, params, json)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _gated(
        self, method: str, path: str, params: Mapping[str, str | int] | None, body: Any
    ) -> Any:
        """``_send`` behind the credential gate: a 401 is a refused key (a 403 is a key
        that lacks a permission, which backing off would not mend); any other answer but
        a 5xx or 429 means the key was accepted."""
        self.auth_gate.check()
        try:
            result = await self._send(method, path, params, body)
        except ChartMogulAuthError as exc:
            if exc.status != 401:
                self.auth_gate.accepted()
                raise
            held = self.auth_gate.refused(
                f"{exc.api_message} (HTTP 401)",
                check=self._key_source.split(" ")[0],
                fix=f"Fix {self._key_source}: it must hold a Read & Write API key "
                "(ChartMogul > Profile > API keys)",
            )
            if held is None:
                raise
            raise held from None
        except ChartMogulRetriableError:
            self.auth_gate.released()
            raise
        except ChartMogulError:
            self.auth_gate.accepted()
            raise
        except BaseException:
            self.auth_gate.released()
            raise
        self.auth_gate.accepted()
        return result

    async def _send(
        self, method: str, path: str, params: Mapping[str, str | int] | None, body: Any
    ) -> Any:
        url = self._root + path
        headers = {"Authorization": self._authorization, "Accept": "application/json"}
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout_seconds)
        ambiguous = method == "POST"
        async with self._in_flight, self._limiter:  # pace the send itself, not the queue
            self.requests_sent += 1
            try:
                async with self._session.request(
                    method, url, params=params, json=body, headers=headers, timeout=timeout
                ) as response:
                    self.server_clock.observe(response.headers.get("Date"))
                    text = await response.text()
                    status = response.status
                    retry_after = _retry_after(response.headers)
            except aiohttp.ClientConnectorError as exc:  # never reached the server: safe
                raise ChartMogulRetriableError(
                    f"cannot connect: {exc.os_error or exc}", method=method, path=path
                ) from None
            except (TimeoutError, aiohttp.ClientError) as exc:
                kind = AmbiguousWriteError if ambiguous else ChartMogulRetriableError
                reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
                raise kind(f"no answer ({reason})", method=method, path=path) from None
        return self._decode(method, path, status, text, retry_after)

    @staticmethod
    def _decode(method: str, path: str, status: int, text: str, retry_after: float | None) -> Any:
        if 200 <= status < 300:
            if not text:
                return None
            try:
                return jsonlib.loads(text)
            except ValueError:
                raise ChartMogulRetriableError(
                    "answer is not JSON", status=status, method=method, path=path
                ) from None
        message, body = api_message(status, text)
        if status in _RETRIABLE_STATUSES:
            ambiguous = method == "POST" and status not in _SAFE_TO_REPEAT_STATUSES
            kind = AmbiguousWriteError if ambiguous else ChartMogulRetriableError
            raise kind(message, status=status, method=method, path=path, retry_after=retry_after)
        if status in (401, 403):
            raise ChartMogulAuthError(message, status=status, method=method, path=path)
        if status == 404:
            raise ChartMogulNotFoundError(
                message, status=status, method=method, path=path, body=body
            )
        if 400 <= status < 500:
            raise ChartMogulClientError(message, status=status, method=method, path=path, body=body)
        raise ChartMogulError(message, status=status, method=method, path=path)
