"""One bad record never stops its step: it is quarantined with its reason, the rest is served.

Against the sandbox over real sockets, through ``run_once`` (the code path of ``cmsync once``):

- an invoice line of 10**20 cents, which ChartMogul accepts and then reports as the customer's
  MRR and in its activity feed, for a linked customer and for a brand-new one: the activities
  step must not fail, the movements of other customers in the same feed must raise their
  alerts, the cursor must move past it, the bad activity must be quarantined with a reason
  naming the value, and the company's KPI snapshot row must still be written, without the
  figure its field cannot hold, which is named as a problem;
- an activity whose every field is in range but whose MRR times twelve (the ARR cmsync derives)
  is not: it passes validation and trips cmsync's own code further on, so it must be
  quarantined as an internal error naming the exception class, never blamed on ChartMogul,
  while the rest of its page applies;
- records generated across the ranges the ChartMogul API accepts (``hostile.listing_entries``),
  spliced into the listings: every step runs, and every well-formed record is served.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings

from cmsync.chartmogul.records import Activity, Customer, Invoice, RecordError, parse_record
from cmsync.pipeline.contain import INTERNAL_ERROR
from cmsync.pipeline.once import run_once
from cmsync.pipeline.streams.activities import CURSOR, movement
from cmsync.pipeline.sync_pass import PassReport
from cmsync.sandbox.serve import LoopThread
from state import QuarantineEntry, QuarantineKind, QuarantineStatus, SignalRef, Store
from state.incremental import Watermark
from tests.reliability.hostile import Generated, activity, listing_entries
from tests.support.drive import import_invoice, start_world, sync_until_settled
from tests.support.invariants import World, live_rows, read_truth

SEED, ACCOUNTS = 23, 10
HUGE_CENTS = 10**20  # an invoice line ChartMogul took, as the real one did


@pytest.fixture
def world(sandbox_loop: LoopThread, tmp_path: Path) -> Iterator[World]:
    with start_world(sandbox_loop, tmp_path / "world", seed=SEED, accounts=ACCOUNTS) as world:
        asyncio.run(sync_until_settled(world))
        yield world


def _moment(world: World, hours_ago: float = 1) -> datetime:
    return world.sandbox.ctx.clock.now().replace(microsecond=0) - timedelta(hours=hours_ago)


def _ts(world: World, hours_ago: float = 1) -> str:
    return _moment(world, hours_ago).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _import_huge(world: World, customer_uuid: str, tag: str) -> None:
    """An invoice of one line of ``HUGE_CENTS``, through the emulator's own import."""
    cm = world.sandbox.chartmogul.store
    source = cm.registry.customers[customer_uuid].data_source.uuid
    plans = cm.run(cm.sources.list_plans, {"data_source_uuid": source})["plans"]
    plan = next(p for p in plans if p["interval_unit"] == "month")
    start = _ts(world)
    cm.import_invoices(
        customer_uuid,
        [{"external_id": f"{tag}-inv", "date": start, "currency": "USD",
          "line_items": [{"type": "subscription", "subscription_external_id": f"{tag}-sub",
                          "plan_uuid": plan["uuid"], "service_period_start": start,
                          "service_period_end": _ts(world, -30 * 24),
                          "amount_in_cents": HUGE_CENTS, "quantity": 1,
                          "external_id": f"{tag}-li"}],
          "transactions": [{"type": "payment", "date": start, "result": "successful",
                            "external_id": f"{tag}-tx"}]}],
    )  # fmt: skip


def _paying(world: World, count: int) -> list[str]:
    truth = asyncio.run(read_truth(world.settings))
    linked = world.prompt_linked()
    paying = sorted(
        u for u in linked if (c := truth.customers.get(u)) and c.status == "Active" and c.mrr
    )
    assert len(paying) >= count
    return paying[:count]


def _quarantine(world: World) -> list[QuarantineEntry]:
    with Store.open(world.store_path) as store, store.transaction() as tx:
        return tx.queries.quarantine(QuarantineStatus.OPEN, limit=100_000)


def _cursor(world: World) -> Watermark:
    with Store.open(world.store_path) as store, store.transaction() as tx:
        return Watermark.loads(tx.cursors.get(CURSOR))


def _alerts(world: World, account_id: str) -> set[str]:
    """The sync keys of the records cmsync wrote about an Account (Tasks, Cases, deals)."""
    keys: set[str] = set()
    for sobject, field in (("Task", "WhatId"), ("Case", "AccountId"), ("Opportunity", "AccountId")):
        keys.update(
            str(r["CM_Sync_Key__c"])
            for r in live_rows(world.sandbox, sobject)
            if r.get(field) == account_id and r.get("CM_Sync_Key__c")
        )
    return keys


def _all_steps_ran(report: PassReport) -> None:
    for step in report.steps:
        assert step.ok, report.summary()


def test_an_amount_beyond_any_column_is_quarantined_and_the_feed_goes_on(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    huge, expanding, failing = _paying(world, 3)
    linked = world.linked()
    cm = world.sandbox.chartmogul.store
    ds = world.sandbox.info["chartmogul"]["data_source_uuid"]
    newcomer = cm.create_customer(
        {"data_source_uuid": ds, "external_id": "huge-newcomer", "name": "Huge Newcomer",
         "email": "huge@newcomer.example"}
    )["uuid"]  # fmt: skip
    before = {u: _alerts(world, linked[u]) for u in (expanding, failing)}
    stamp = _moment(world)
    _import_huge(world, huge, "huge-linked")
    import_invoice(world, expanding, "fine-expansion")
    _import_huge(world, newcomer, "huge-newcomer")
    import_invoice(world, failing, "fine-failure", failed=True)

    with caplog.at_level(logging.WARNING):
        for _ in range(2):  # the second pass must neither fail nor quarantine anew
            _all_steps_ran(asyncio.run(run_once(world.settings)))
    assert "is down" not in caplog.text
    assert "unexpectedly" not in caplog.text

    # The other customers' movements in the same feed raised their alerts.
    for customer in (expanding, failing):
        assert _alerts(world, linked[customer]) - before[customer], customer
    # The cursor moved past the bad activities, to the newest movement.
    moved = _cursor(world).stamp
    assert moved is not None and moved >= stamp

    entries = _quarantine(world)
    bad = [q for q in entries if str(HUGE_CENTS) in q.reason]
    assert {q.record_key.split(":", 1)[0] for q in bad} >= {"Activity", "Customer"}
    for entry in bad:
        assert entry.kind is QuarantineKind.BAD_RECORD
        assert INTERNAL_ERROR not in entry.reason
    activity_entries = [q for q in bad if q.record_key.startswith("Activity:")]
    assert {q.payload.get("customer-uuid") for q in activity_entries} == {huge, newcomer}
    # Nothing half-applied for later steps to trip on.
    assert not [q for q in entries if q.kind is QuarantineKind.ILLEGAL_TRANSITION]

    # The company's KPI row for today is written, without the figure no field can hold.
    today = f"day:{world.sandbox.ctx.clock.now().date().isoformat()}"
    (row,) = [
        r for r in live_rows(world.sandbox, "CM_Metric_Snapshot__c")
        if r.get("CM_Period_Key__c") == today
    ]  # fmt: skip
    assert abs(float(row.get("CM_MRR__c") or 0)) < 10**14
    (metrics,) = [q for q in entries if q.record_key == f"Metrics:{today}"]
    assert "CM_MRR__c" in metrics.reason and "1000000000000000000" in metrics.reason


def test_a_record_cmsync_fails_on_is_quarantined_as_an_internal_error(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    huge, expanding = _paying(world, 2)
    linked = world.linked()
    before = _alerts(world, linked[expanding])
    # In range for every field (below 2**63 cents), so it passes validation; cmsync derives
    # the account's ARR as twelve times the MRR, which no INTEGER column holds.
    mrr = 10**18
    assert parse_record(Activity, activity("derived", huge, **{"activity-mrr": mrr}))
    stamp = _moment(world)
    bad = activity(
        "internal-error-act", huge, type="expansion", date=stamp.isoformat(),
        **{"activity-mrr": mrr, "activity-mrr-movement": mrr - 1, "activity-arr": 12},
    )  # fmt: skip
    _inject(world, {"activities": [bad]})
    import_invoice(world, expanding, "fine-neighbour")

    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            report = asyncio.run(run_once(world.settings))
            for step in report.steps:  # the Account update of an absurd MRR may be refused
                assert step.ok or "dead-lettered" in step.detail, report.summary()
    assert "is down" not in caplog.text

    assert _alerts(world, linked[expanding]) - before
    moved = _cursor(world).stamp
    assert moved is not None and moved >= stamp
    internal = [q for q in _quarantine(world) if INTERNAL_ERROR in q.reason]
    assert len(internal) == 1, [q.reason for q in _quarantine(world)]
    (entry,) = internal
    assert entry.reason.startswith(f"{INTERNAL_ERROR}: OverflowError")
    assert "not in the chartmogul record" in entry.reason
    assert entry.payload["signal"] == "MrrMovement"
    assert entry.payload["customer_uuid"] == huge
    assert any(INTERNAL_ERROR in r.getMessage() for r in caplog.records)
    # Undone with its savepoint, it left no mark of being applied (its key or its slot).
    undone = movement(parse_record(Activity, bad))
    with Store.open(world.store_path) as store, store.transaction() as tx:
        assert (
            tx.signals.applied([SignalRef(huge, undone.key), SignalRef(huge, undone.slot)]) == set()
        )


def _inject(world: World, entries: dict[str, list[Any]]) -> None:
    admin = world.sandbox.info["chartmogul"]["admin_url"] + "/inject"
    ca = world.sandbox.info["ca_bundle"]
    body = json.dumps(entries)  # as ChartMogul would send them: big ints stay exact
    headers = {"Content-Type": "application/json"}
    answer = requests.post(admin, data=body, headers=headers, verify=ca, timeout=60)
    assert answer.status_code == 200, answer.text


def _clear_injected(world: World) -> None:
    admin = world.sandbox.info["chartmogul"]["admin_url"] + "/inject"
    answer = requests.delete(admin, verify=world.sandbox.info["ca_bundle"], timeout=60)
    assert answer.status_code in (200, 204), answer.text


_MODELS = {"activities": Activity, "customers": Customer, "invoices": Invoice}


def _fresh_keys(generated: Generated, n: int) -> None:
    """Uuids of this round only: the store keeps what earlier rounds quarantined, and a
    shrunk example repeats an earlier one's uuids with other values."""
    for _, raw in generated.listed():
        if not isinstance(raw, dict):
            continue
        for name in ("uuid", "customer-uuid", "customer_uuid"):
            value = raw.get(name)
            if isinstance(value, str) and value[:8] in ("cus_gen-", "act_gen-", "inv_gen-"):
                raw[name] = f"{value}-r{n}"


def _ahead(kind: str, raw: Any, now: datetime) -> bool:
    """A well-formed activity dated after the window the feed is read to."""
    return kind == "activities" and parse_record(Activity, raw).date > now


def _valid(kind: str, raw: Any) -> bool:
    try:
        parse_record(_MODELS[kind], raw)
    except RecordError:
        return False
    return True


@pytest.mark.parametrize("examples", [6, pytest.param(60, marks=pytest.mark.slow)])
def test_generated_records_never_stop_a_step_and_the_good_ones_are_served(
    sandbox_loop: LoopThread, tmp_path: Path, examples: int
) -> None:
    with start_world(sandbox_loop, tmp_path / "gen", seed=SEED, accounts=4) as world:
        asyncio.run(run_once(world.settings))
        (sentinel,) = _paying(world, 1)
        account = world.linked()[sentinel]
        rounds = iter(range(1_000))

        @settings(
            max_examples=examples, deadline=None, derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )  # fmt: skip
        @given(listing_entries())
        def one_round(generated: Generated) -> None:
            n = next(rounds)
            _fresh_keys(generated, n)
            _clear_injected(world)
            _inject(world, generated.entries)
            before = _alerts(world, account)
            import_invoice(world, sentinel, f"sentinel-{n}", failed=True)
            _all_steps_ran(asyncio.run(run_once(world.settings)))
            # The well-formed record of the same feed was served: its alert is in Salesforce.
            assert _alerts(world, account) - before
            now = world.sandbox.ctx.clock.now()
            entries = _quarantine(world)
            refused = {q.record_key for q in entries if INTERNAL_ERROR not in q.reason}
            with Store.open(world.store_path) as store, store.transaction() as tx:
                pending = {p.customer_uuid for p in tx.pending_matches.oldest(100_000)}
            for kind, raw in generated.listed():
                key = generated.key(kind, raw)
                if not _valid(kind, raw) or _ahead(kind, raw, now):
                    assert key in refused, key  # malformed, or dated after the feed's end
                    continue
                assert key not in refused, key  # well-formed: never refused
                if kind == "customers":  # matches no Account: waits for one
                    assert raw["uuid"] in pending, raw["uuid"]

        one_round()
