"""How cmsync tries again and paces itself: the one module for retries, backoff and rate.

- A request (either client's funnel) is retried with tenacity (``retrying``): only errors the
  caller's predicate calls retriable (``RetriableError`` subclasses, by the funnels' rules);
  the wait is exactly a server's ``Retry-After`` when one came, else exponential backoff with
  full jitter (a random wait up to the exponential ceiling, so many clients that failed
  together do not retry together). Each system's policy is here: ``SALESFORCE_REQUESTS``,
  ``CHARTMOGUL_REQUESTS``.
- An outbox row that failed is tried again at a later time the dispatcher stores
  (``row_backoff_seconds``): the same exponential ceiling, with equal jitter, and a
  ``Retry-After`` as a floor (see ``DispatchPolicy``).
- A client's request rate is held by ``pacer``: a token bucket (aiolimiter) refilled in small
  slices. A reader that must not take all of a client's rate asks the client for a share of it
  (``Transport.share``) rather than reading its policy.

The refused-credentials schedule (``state.authgate.AuthBackoff``) stays in the pure core,
which this module may not be imported by.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from cmsync.errors import RetriableError

__all__ = [
    "CHARTMOGUL_REQUESTS",
    "QUICK_CHECKS",
    "SALESFORCE_REQUESTS",
    "RetryPolicy",
    "backoff_seconds",
    "ceiling_seconds",
    "pacer",
    "retrying",
    "row_backoff_seconds",
]


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is tried again: attempts in all, and the backoff's first and cap."""

    max_attempts: int = 8
    initial_backoff: float = 0.5
    max_backoff: float = 30.0


# Per system, each funnel's default (a test passes its own).
SALESFORCE_REQUESTS = RetryPolicy(max_attempts=6)
CHARTMOGUL_REQUESTS = RetryPolicy()
# ``cmsync doctor``'s checks, of either system: a check answers within seconds, so a
# transient failure is tried once more and then reported, never waited out.
QUICK_CHECKS = RetryPolicy(max_attempts=2, initial_backoff=0.2, max_backoff=1.0)


def ceiling_seconds(initial: float, cap: float, failures: int) -> float:
    """The exponential ceiling after ``failures`` failures in a row (1-based): ``initial``,
    doubled after each further failure, at most ``cap``."""
    return min(cap, initial * 2.0 ** min(max(0, failures - 1), 64))  # 2**64 is past any cap


def backoff_seconds(policy: RetryPolicy, attempt: int, retry_after: float | None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) of a request."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return random.uniform(0, ceiling_seconds(policy.initial_backoff, policy.max_backoff, attempt))


def row_backoff_seconds(
    initial: float, cap: float, failures: int, retry_after: float | None = None
) -> float:
    """Seconds before an outbox row that failed ``failures`` times (1-based) is tried again.

    Equal jitter (between half and all of the exponential ceiling) rather than full jitter:
    rows that failed together spread out, yet none comes back at once and burns its next
    attempt against the same locked row or struggling server. A ``Retry-After`` is a floor.
    """
    ceiling = ceiling_seconds(initial, cap, failures)
    return max(random.uniform(ceiling / 2, ceiling), retry_after or 0.0)


def pacer(per_second: float, *, slices_per_second: float = 1.0) -> AsyncLimiter:
    """A limiter letting ``per_second`` acquisitions a second through, its bucket refilled
    ``slices_per_second`` times a second (a smaller bucket, a smaller burst)."""
    return AsyncLimiter(per_second / slices_per_second, 1 / slices_per_second)


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
