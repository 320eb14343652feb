"""API economy: 1,200 changed accounts cost ceil(records / 200) Salesforce calls per kind.

A 1,800-Account company is synced once; then 1,200 linked customers change in ChartMogul (a new
subscription each: an expansion, a reactivation or new business) and one more pass runs. The
Salesforce emulator counts the collection calls of that pass.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cmsync.config import Settings, load_settings
from cmsync.pipeline.once import run_once
from cmsync.sandbox.runner import RunningSandbox, SandboxOptions, start_sandbox
from cmsync.sandbox.serve import LoopThread
from state import Store

CHANGED = 1_200  # six windows of 200: merges must hold across windows
# (``make bench`` measures the same at 10,000 activities over 2,000 accounts)


@pytest.fixture(scope="module")
def big(
    sandbox_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningSandbox, Settings]]:
    directory: Path = tmp_path_factory.mktemp("economy")
    running = sandbox_loop.call(
        start_sandbox(SandboxOptions(directory=directory, accounts=1_800, seed=5)), timeout=120
    )
    try:
        settings = load_settings(directory / "cmsync.toml")
        # This measures the ChartMogul -> Salesforce path; deals and people have their tests.
        off = {
            "closed_won": settings.closed_won.model_copy(update={"enabled": False}),
            "enrichment": settings.enrichment.model_copy(update={"enabled": False}),
        }
        yield running, settings.model_copy(update=off)
    finally:
        sandbox_loop.call(running.stop())


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _composite_calls(sandbox: RunningSandbox) -> int:
    return sum(
        n
        for endpoint, n in sandbox.salesforce.stats.by_endpoint.items()
        if "/composite/sobjects" in endpoint and not endpoint.startswith("GET")
    )


async def test_twelve_hundred_changed_accounts_cost_the_floor(
    big: tuple[RunningSandbox, Settings],
) -> None:
    sandbox, settings = big
    first = await run_once(settings)
    assert first.ok, first.summary()

    store = Store.open(settings.store.path)
    try:
        with store.transaction() as tx:
            linked = sorted(tx.links.get_many(json_uuids(sandbox)).items())
    finally:
        store.close()
    assert len(linked) >= CHANGED
    cm = sandbox.chartmogul.store
    plan = next(p for p in cm.sources.list_plans({})["plans"] if p["interval_unit"] == "month")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    for n, (uuid, _link) in enumerate(linked[:CHANGED]):
        cm.import_invoices(
            uuid,
            [
                {
                    "external_id": f"economy-{n}",
                    "date": _ts(start),
                    "currency": "USD",
                    "line_items": [
                        {
                            "type": "subscription",
                            "subscription_external_id": f"economy-sub-{n}",
                            "plan_uuid": plan["uuid"],
                            "service_period_start": _ts(start),
                            "service_period_end": _ts(start + timedelta(days=30)),
                            "amount_in_cents": 2_900,
                            "quantity": 1,
                            "external_id": f"economy-li-{n}",
                        }
                    ],
                    "transactions": [
                        {"type": "payment", "date": _ts(start), "result": "successful",
                         "external_id": f"economy-tx-{n}"}
                    ],
                }
            ],
        )  # fmt: skip

    before = _composite_calls(sandbox)
    invoice_reads = sandbox.chartmogul.stats.by_endpoint["GET /v1/invoices"]
    second = await run_once(settings)
    assert second.ok, second.summary()
    # The invoices are read down to the newest the first pass saw (1,200 new ones on top of it:
    # page 7), and not a page further (read-ahead stops there), plus one per open failure.
    payments = second.step("payments")
    assert payments is not None
    invoice_reads = sandbox.chartmogul.stats.by_endpoint["GET /v1/invoices"] - invoice_reads
    assert invoice_reads == CHANGED // 200 + 1 + payments.outcome.rechecked
    dispatches = [step.outcome for step in second.steps if step.name == "dispatch"]
    sent: dict[tuple[str, str], int] = {}
    for report in dispatches:
        for kind, records in report.sent.items():
            sent[kind] = sent.get(kind, 0) + records
        assert report.calls == sum(math.ceil(n / 200) for n in report.sent.values())
    assert sent[("Account", "update")] >= CHANGED
    reconciled = second.step("reconcile")
    assert reconciled is not None and reconciled.outcome.drifted == 0  # nothing left to repair
    calls = _composite_calls(sandbox) - before
    assert calls == sum(report.calls for report in dispatches)
    per_event = sum(sent.values())  # what one call per record would have cost
    print(f"\n{calls} collection calls for {per_event} records; {per_event / calls:.0f}x fewer")


def json_uuids(sandbox: RunningSandbox) -> list[str]:
    """The customers of the Import API source (the seeded PayPal one runs hours behind)."""
    scenario = json.loads((sandbox.options.directory / "scenario.json").read_text())
    return [c["uuid"] for c in scenario["customers"].values() if c["data_source"] == "import"]
