"""The API budget: cmsync spends only its share of the org's daily allocation."""

from __future__ import annotations

import pytest

from cmsync.salesforce.budget import ApiBudget, Pace


def test_pace_follows_the_share() -> None:
    budget = ApiBudget(share=0.5, slow_margin=0.05)
    assert budget.pace() is Pace.NORMAL and budget.fits(10_000)  # nothing known yet
    budget.observe(used=40_000, maximum=100_000)
    assert budget.pace() is Pace.NORMAL and budget.fits(10_000) and not budget.fits(10_001)
    budget.observe(used=46_000, maximum=100_000)
    assert budget.pace() is Pace.SLOW
    budget.observe(used=50_000, maximum=100_000)
    assert budget.pace() is Pace.PAUSED and not budget.fits(1)
    assert budget.snapshot().allowed == 50_000


def test_an_exhausted_org_pauses_until_an_answer_says_otherwise() -> None:
    budget = ApiBudget(share=1.0)
    budget.observe(used=10, maximum=1_000)
    budget.mark_exhausted()
    assert budget.pace() is Pace.PAUSED and not budget.fits(1)
    budget.observe(used=1, maximum=1_000)  # a new day
    assert budget.pace() is Pace.NORMAL and budget.fits(1)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_the_share_must_be_a_fraction(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        ApiBudget(share=share)
