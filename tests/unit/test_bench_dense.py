"""The benchmarks' dense histories: exactly the activities asked for, where they were asked for.

The benchmarks' sizes ("100,000 activities over 20,000 accounts") are only true if seeding a
dense scenario into the ChartMogul emulator yields exactly that many activities, and the
economy benchmark's alerts only fire if recent histories really are recent.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bench.dense import Density, dense_scenario
from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.chartmogul import ChartMogulEmulator
from cmsync.sandbox.chartmogul.records import Activity
from cmsync.sandbox.salesforce import SalesforceEmulator, SalesforceEmulatorConfig
from cmsync.sandbox.scenario.seed import seed

NOW = datetime(2025, 6, 18, 15, 30, tzinfo=UTC)
CONFIG = SalesforceEmulatorConfig(
    api_version="62.0",
    client_id="3MVG9dense",
    client_secret="secret",
    username="integration@dense.example",
    password="password",
    jwt_public_key_pem=b"",
    token_ttl_seconds=7200,
    daily_api_limit=100_000,
)


def seeded_feed(density: Density, accounts: int = 40) -> list[Activity]:
    ctx = SandboxContext()
    chartmogul = ChartMogulEmulator(ctx, "key")
    seed(dense_scenario(7, accounts, NOW, density), chartmogul.store,
         SalesforceEmulator(ctx, CONFIG).store)  # fmt: skip
    return list(chartmogul.store.registry.feed)


@pytest.mark.parametrize(
    "density",
    [Density(300), Density(300, months=6, months_per_invoice=1), Density(250, churn=0.3)],
)
def test_the_feed_holds_exactly_the_activities_asked_for_spread_over_customers(
    density: Density,
) -> None:
    feed = seeded_feed(density)
    assert len(feed) == density.activities
    per_customer = Counter(a.customer.uuid for a in feed)
    assert min(per_customer.values()) >= 1
    assert max(per_customer.values()) <= 2 * density.activities / len(per_customer)
    newest = max(a.position >> 32 for a in feed)
    assert newest <= NOW.timestamp()  # no movement dated in the future


def test_recent_histories_fall_inside_the_window() -> None:
    window = timedelta(days=6)
    feed = seeded_feed(Density(300, recent=window))
    assert len(feed) == 300
    dates = [a.position >> 32 for a in feed]
    assert min(dates) >= (NOW - window).timestamp()
    assert max(dates) <= NOW.timestamp()
    assert {a.kind.value for a in feed} >= {"new_biz", "expansion", "contraction"}


def test_more_movements_than_customers_can_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be spread"):
        dense_scenario(7, 10, NOW, Density(10_000, months=6))
