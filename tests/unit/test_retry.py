"""The one retry module: the exponential ceiling, each kind of jitter, and the pacing."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from cmsync.chartmogul.transport import Transport, TransportPolicy
from cmsync.pipeline.dispatch.settle import DispatchPolicy
from cmsync.retry import (
    CHARTMOGUL_REQUESTS,
    SALESFORCE_REQUESTS,
    RetryPolicy,
    backoff_seconds,
    ceiling_seconds,
    pacer,
    row_backoff_seconds,
)

_FAILURES = st.integers(min_value=1, max_value=200)


def test_the_ceiling_doubles_from_the_first_wait_up_to_the_cap() -> None:
    assert [ceiling_seconds(0.5, 30.0, n) for n in range(1, 10)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0
    ]  # fmt: skip
    assert ceiling_seconds(30.0, 3600.0, 10_000) == 3600.0  # no overflow, however many


@given(_FAILURES)
def test_a_request_waits_up_to_the_ceiling_with_full_jitter(attempt: int) -> None:
    policy = RetryPolicy()
    wait = backoff_seconds(policy, attempt, None)
    assert 0 <= wait <= ceiling_seconds(policy.initial_backoff, policy.max_backoff, attempt)


def test_a_request_waits_exactly_what_retry_after_says() -> None:
    assert backoff_seconds(RetryPolicy(), 5, 1.5) == 1.5
    assert backoff_seconds(RetryPolicy(), 1, -3.0) == 0.0


@given(_FAILURES, st.none() | st.floats(min_value=0, max_value=10_000))
def test_a_row_waits_between_half_and_all_of_the_ceiling_retry_after_a_floor(
    failures: int, retry_after: float | None
) -> None:
    ceiling = ceiling_seconds(30.0, 3600.0, failures)
    wait = row_backoff_seconds(30.0, 3600.0, failures, retry_after)
    assert max(ceiling / 2, retry_after or 0) <= wait <= max(ceiling, retry_after or 0)


@given(st.integers(min_value=0, max_value=100))
def test_the_dispatcher_backs_a_row_off_by_the_same_rule(attempts: int) -> None:
    policy = DispatchPolicy()
    ceiling = ceiling_seconds(policy.backoff_base, policy.backoff_cap, attempts + 1)
    wait = policy.backoff(attempts)
    assert timedelta(seconds=ceiling / 2) <= wait <= timedelta(seconds=ceiling)


def test_each_system_has_its_request_policy() -> None:
    assert SALESFORCE_REQUESTS.max_attempts == 6
    assert RetryPolicy() == CHARTMOGUL_REQUESTS
    assert TransportPolicy().retry is CHARTMOGUL_REQUESTS


def test_a_pacer_lets_its_rate_through_in_slices() -> None:
    limiter = pacer(30.0, slices_per_second=6)
    assert (limiter.max_rate, limiter.time_period) == pytest.approx((5.0, 1 / 6))


async def test_a_share_of_the_transport_is_one_request_at_a_time_at_that_share() -> None:
    async with aiohttp.ClientSession() as session:
        transport = Transport(session, "https://cm.invalid", SecretStr("key"), TransportPolicy())
        limiter = transport.share(1 / 3)
    assert (limiter.max_rate, limiter.time_period) == pytest.approx((1.0, 1 / 10))
