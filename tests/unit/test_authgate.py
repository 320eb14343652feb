"""The credential gate's backoff schedule and states (``state.authgate``), on a fake clock."""

from __future__ import annotations

import pytest

from state.authgate import AuthBackoff, AuthGate, Recovery, whole_seconds


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_schedule_doubles_from_5_s_to_a_cap_of_5_minutes() -> None:
    policy = AuthBackoff()
    ceilings = [policy.delay(n, 0.0) for n in range(1, 10)]
    assert ceilings == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    assert policy.delay(10_000, 0.0) == 300  # no overflow however long it lasts


@pytest.mark.parametrize("draw", [0.0, 0.3, 0.999])
def test_jitter_only_shortens_a_wait_and_by_a_little(draw: float) -> None:
    policy = AuthBackoff(jitter=0.1)
    for refusals in range(1, 9):
        ceiling = policy.delay(refusals, 0.0)
        assert ceiling * 0.9 <= policy.delay(refusals, draw) <= ceiling


def test_an_unusable_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="unusable auth backoff"):
        AuthBackoff(initial=0)
    with pytest.raises(ValueError, match="unusable auth backoff"):
        AuthBackoff(initial=10, cap=5)
    with pytest.raises(ValueError, match="unusable auth backoff"):
        AuthBackoff(jitter=1.0)


def _gate(clock: Clock, **policy: float) -> AuthGate:
    return AuthGate(AuthBackoff(jitter=0.0, **policy), now=clock, draw=lambda: 0.5)


def test_a_refusal_before_any_accepted_call_is_the_callers_to_report() -> None:
    clock = Clock()
    gate = _gate(clock)
    assert gate.refused("invalid assertion") is None
    assert not gate.failing and gate.admit() is None


def test_refusals_back_off_and_the_first_accepted_call_ends_them() -> None:
    clock = Clock()
    gate = _gate(clock)
    gate.accepted()  # armed by the first refresh
    first = gate.refused("invalid assertion")
    assert first is not None and first.warn and first.delay == 5
    assert gate.failing and gate.reason == "invalid assertion"
    assert gate.admit() == 5  # nothing goes
    clock.t += 4
    assert gate.admit() == pytest.approx(1)
    clock.t += 1
    assert gate.admit() is None  # the probe
    assert gate.admit() == 0  # only one at a time
    second = gate.refused("invalid assertion")
    assert second is not None and second.delay == 10 and not second.warn
    clock.t += 10
    assert gate.admit() is None
    assert gate.accepted() == Recovery(seconds=15, refusals=2)
    assert not gate.failing and gate.admit() is None
    # A new refusal later starts the schedule over, and warns again.
    again = gate.refused("user hasn't approved this consumer")
    assert again is not None and again.delay == 5 and again.warn


def test_a_stale_refusal_neither_lengthens_the_wait_nor_warns() -> None:
    clock = Clock()
    gate = _gate(clock)
    gate.accepted()
    assert gate.refused("401") is not None
    # Calls sent before the gate closed come back refused too: they say nothing new.
    assert gate.refused("401") is None
    assert gate.refusals == 1 and gate.wait() == 5


def test_the_warning_is_repeated_at_most_every_repeat_interval() -> None:
    clock = Clock()
    gate = _gate(clock, cap=60, repeat_warning=600)
    gate.accepted()
    warned = []
    for _ in range(40):  # 40 attempts over about half an hour
        refusal = gate.refused("invalid assertion")
        assert refusal is not None
        warned.append(refusal.warn)
        clock.t += refusal.delay
        assert gate.admit() is None
    assert warned[0] and 2 <= sum(warned) <= 4


def test_a_probe_without_a_verdict_lets_the_next_call_probe() -> None:
    clock = Clock()
    gate = _gate(clock)
    gate.accepted()
    gate.refused("401")
    clock.t += 5
    assert gate.admit() is None
    gate.released()  # timed out: nothing learnt about the key
    assert gate.admit() is None and gate.refusals == 1


def test_whole_seconds_round_up() -> None:
    assert [whole_seconds(s) for s in (0, 0.2, 4.0, 4.01, -1)] == [0, 1, 4, 5, 0]
