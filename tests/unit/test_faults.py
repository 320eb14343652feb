"""Fault injection: reproducible from a seed, independent of arrival order."""

from __future__ import annotations

import pytest

from cmsync.sandbox.faults import PROFILES, Fault, FaultInjector, FaultProfile, UnknownProfileError

ALL = frozenset(Fault)
KEYS = [f"GET /v1/customers?cursor={i % 40}" for i in range(400)]


def _verdicts(injector: FaultInjector, keys: list[str]) -> list[Fault | None]:
    return [injector.request_fault(k, ALL) for k in keys]


def test_same_seed_same_faults() -> None:
    a = _verdicts(FaultInjector("flaky", seed=7), KEYS)
    b = _verdicts(FaultInjector("flaky", seed=7), KEYS)
    assert a == b
    assert any(v is not None for v in a)


def test_other_seed_other_faults() -> None:
    assert _verdicts(FaultInjector("flaky", seed=7), KEYS) != _verdicts(
        FaultInjector("flaky", seed=8), KEYS
    )


def test_order_of_different_requests_does_not_matter() -> None:
    forward = FaultInjector("flaky", seed=3)
    backward = FaultInjector("flaky", seed=3)
    unique = [f"GET /v1/x/{i}" for i in range(300)]
    got = dict(zip(unique, _verdicts(forward, unique), strict=True))
    back = dict(zip(reversed(unique), _verdicts(backward, unique[::-1]), strict=True))
    assert got == back


def test_a_retry_draws_afresh_so_retries_get_through() -> None:
    injector = FaultInjector(FaultProfile("always-ish", server_error=0.5), seed=1)
    verdicts = [injector.request_fault("POST /v1/customers", ALL) for _ in range(50)]
    assert None in verdicts and Fault.SERVER_ERROR in verdicts


def test_rates_follow_the_profile() -> None:
    injector = FaultInjector("errors", seed=11)
    verdicts = [injector.request_fault(f"GET /{i}", ALL) for i in range(5000)]
    rate = verdicts.count(Fault.SERVER_ERROR) / len(verdicts)
    assert 0.17 < rate < 0.23  # profile says 0.2
    assert injector.injected["server_error"] == verdicts.count(Fault.SERVER_ERROR)


def test_inapplicable_faults_are_never_drawn() -> None:
    injector = FaultInjector("throttle", seed=5)
    salesforce_faults = frozenset(ALL - {Fault.THROTTLE})
    assert all(injector.request_fault(f"GET /{i}", salesforce_faults) is None for i in range(500))


def test_none_profile_injects_nothing() -> None:
    injector = FaultInjector("none", seed=5)
    assert _verdicts(injector, KEYS) == [None] * len(KEYS)
    assert not any(injector.lock_row(k) for k in KEYS)


def test_lock_row_is_reproducible() -> None:
    keys = [f"Account/001{i:015d}" for i in range(300)]
    a = [FaultInjector("locks", seed=2).lock_row(k) for k in keys]
    b = [FaultInjector("locks", seed=2).lock_row(k) for k in keys]
    assert a == b and 0 < sum(a) < len(a)


def test_switching_profile_restarts_the_sequence() -> None:
    injector = FaultInjector("flaky", seed=9)
    first = _verdicts(injector, KEYS)
    injector.set_profile("none")
    injector.set_profile("flaky")
    assert _verdicts(injector, KEYS) == first


def test_unknown_profile_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UnknownProfileError, match="known: budget, drops"):
        FaultInjector("chaos")


def test_probabilities_are_checked() -> None:
    with pytest.raises(ValueError, match=r"throttle=1\.5"):
        FaultProfile("bad", throttle=1.5)


def test_flaky_has_every_fault() -> None:
    flaky = PROFILES["flaky"]
    assert all(p > 0 for _, p in flaky.request_faults)
    assert flaky.lock_row > 0
