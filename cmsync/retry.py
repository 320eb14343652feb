"""Retry policy shared by the client funnels: tenacity, full jitter, Retry-After wins.

Only errors the caller's predicate calls retriable are retried (``RetriableError`` subclasses,
by the funnels' rules); the wait is exactly a server's ``Retry-After`` when one came, else
exponential backoff with full jitter (a random wait up to the exponential ceiling, so many
clients that failed together do not retry together).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from cmsync.errors import RetriableError

__all__ = ["RetryPolicy", "backoff_seconds", "retrying"]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    initial_backoff: float = 0.5
    max_backoff: float = 30.0


def backoff_seconds(policy: RetryPolicy, attempt: int, retry_after: float | None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based)."""
    if retry_after is not None:
        return max(0.0, retry_after)
    ceiling = min(policy.max_backoff, policy.initial_backoff * 2 ** max(0, attempt - 1))
    return random.uniform(0, ceiling)


def retrying(
    policy: RetryPolicy,
    should_retry: Callable[[BaseException], bool],
    *,
    sleep: Callable[[float], Awaitable[None]],
    logger: logging.Logger,
    what: str,
) -> AsyncRetrying:
    """An ``AsyncRetrying`` for one request: ``async for attempt in retrying(...)``."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = exc.retry_after if isinstance(exc, RetriableError) else None
        return backoff_seconds(policy, state.attempt_number, after)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.info("retrying %s after %s (attempt %d)", what, exc, state.attempt_number)

    return AsyncRetrying(
        retry=retry_if_exception(should_retry),
        wait=wait,
        stop=stop_after_attempt(policy.max_attempts),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
