"""The demo's simulated business, in-process on freshly seeded emulator stores (no sockets).

The clock is a fake that moves one second per event, so two runs with one seed see the same
times and must make the same choices; every event goes through the emulators' own
validation, so a malformed invoice or record fails the test.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from cmsync.demo.billing import Billing, add_months
from cmsync.demo.crm import MATCHABLE, Crm, Ground
from cmsync.demo.events import ActionKind
from cmsync.demo.simulator import OPENING, WEIGHTS, Simulator, choose
from cmsync.sandbox.base import SandboxContext
from cmsync.sandbox.chartmogul import ChartMogulEmulator
from cmsync.sandbox.chartmogul.timefmt import to_ts
from cmsync.sandbox.clock import SandboxClock
from cmsync.sandbox.faults import FaultInjector
from cmsync.sandbox.salesforce import SalesforceEmulator, SalesforceEmulatorConfig
from cmsync.sandbox.scenario.generate import generate
from cmsync.sandbox.scenario.seed import seed
from tests.support.clock import FakeClock

START = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def _world(seed_value: int) -> tuple[Simulator, FakeClock, ChartMogulEmulator, SalesforceEmulator]:
    fake = FakeClock(START)
    ctx = SandboxContext(clock=SandboxClock(fake), faults=FaultInjector("none", seed=seed_value))
    cm = ChartMogulEmulator(ctx, "key")
    sf = SalesforceEmulator(ctx, SalesforceEmulatorConfig())
    scenario = generate(seed_value, 40, ctx.clock.now())
    seeded = seed(scenario, cm.store, sf.store)
    billing = Billing(cm.store, ctx.clock, seeded.data_source_uuid, prefix="demo")
    crm = Crm(sf.store, ctx.clock, Ground.of(scenario, seeded), billing)
    return Simulator(billing, crm, seed=seed_value), fake, cm, sf


def _run(simulator: Simulator, clock: FakeClock, events: int) -> list[tuple[str, str, str]]:
    out = []
    for _ in range(events):
        clock.now += timedelta(seconds=1)
        action = simulator.step()
        assert action is not None
        out.append((action.kind.value, action.subject, action.detail))
    return out


def test_a_seed_replays_the_same_business_and_shows_every_use_case_early() -> None:
    first, clock, cm, sf = _world(3)
    events = _run(first, clock, 60)
    again, clock_again, _, _ = _world(3)
    assert _run(again, clock_again, 60) == events
    other, clock_other, _, _ = _world(4)
    assert _run(other, clock_other, 60) != events

    assert events[0][0] == ActionKind.NEW_DEAL_WON  # a short run always has a won deal
    assert {kind for kind, _, _ in events[:25]} == {k.value for k in ActionKind}
    # Every won deal is an Opportunity the org holds as won, each on its own Account.
    deals = first.deals
    assert deals
    opps = [sf.store.get("Opportunity", d) for d in deals]
    assert all(o.get("IsWon") and o.get("StageName") == "Closed Won" for o in opps)
    assert len({o.get("AccountId") for o in opps}) == len(opps)
    # ChartMogul took every invoice (its validation would have raised), and the history moved.
    kinds = Counter(a.kind for a in first.log.actions())
    invoices = [i for i in cm.store.registry.invoices.values() if i.external_id.startswith("demo-")]
    assert len(invoices) >= sum(
        kinds[k] for k in (ActionKind.UPGRADE, ActionKind.DOWNGRADE, ActionKind.BACKFILL)
    )


def test_deals_and_contacts_land_where_matching_stays_certain() -> None:
    simulator, clock, _, sf = _world(5)
    _run(simulator, clock, 120)
    ground = simulator.crm.ground
    for action in simulator.log.actions():
        if action.kind is ActionKind.DEAL_WON:
            account = str(sf.store.get("Opportunity", action.subject).get("AccountId"))
            assert ground.link_of.get(account) in MATCHABLE | {None}
        if action.kind is ActionKind.NEW_CONTACT:
            contact = sf.store.get("Contact", action.subject)
            email = str(contact.get("Email")).casefold()
            holders = {
                str(c.get("AccountId"))
                for c in sf.store.table("Contact")
                if str(c.get("Email") or "").casefold() == email
            }
            # The email was already on that one Account, or on none: never a new ambiguity.
            assert holders == {str(contact.get("AccountId"))}, action.detail


def test_a_lead_with_a_customers_email_never_opens_a_new_account() -> None:
    """On a new Account, a customer's email would be claimed twice, and the Closed-Won sync
    must then refuse that Account's deal rather than guess: the demo must not set the trap.
    A Lead with the email of a customer that was never billed (no Account known) stays open."""
    simulator, _, cm, sf = _world(16)
    unbilled = next(c for c in cm.store.registry.customer_order if c.email and c.timeline is None)
    trap = sf.store.insert(
        "Lead", {"LastName": "Trap", "Company": "Trap Co", "Email": unbilled.email.upper()}
    )
    rng = random.Random(0)
    converted = []
    while (action := simulator.crm.convert_lead(rng)) is not None:
        converted.append(action)
    assert converted  # every other open Lead was converted
    assert not sf.store.get("Lead", trap).get("IsConverted")
    for action in converted:
        lead = sf.store.get("Lead", action.subject)
        email = str(lead.get("Email") or "").casefold()
        customers = cm.store.registry.customers_by_email.get(email, [])
        if customers:  # a known customer's email: converted into that customer's Account
            assert lead.get("ConvertedAccountId") not in simulator.crm.fresh, action.detail


def test_failed_payments_recover_only_after_a_while() -> None:
    simulator, clock, _, _ = _world(2)
    billing = simulator.billing
    rng = random.Random(1)
    failed = billing.fail_payment(rng)
    assert failed is not None
    assert billing.recover_payment(rng) is None  # too fresh: the daemon should see it first
    clock.now += timedelta(seconds=10)
    recovered = billing.recover_payment(rng)
    assert recovered is not None and recovered.subject == failed.subject
    invoice = next(
        i for i in simulator.billing.store.registry.invoices.values()
        if i.customer.uuid == failed.subject and i.external_id.startswith("demo-")
    )  # fmt: skip
    assert [t.result for t in invoice.transactions] == ["failed", "successful"]
    assert billing.recover_payment(rng) is None  # recovered once only


def test_churn_then_comeback_moves_the_customer_mrr_to_zero_and_back() -> None:
    simulator, clock, cm, _ = _world(6)
    rng = random.Random(2)
    churned = simulator.billing.churn(rng)
    assert churned is not None
    customer = cm.store.registry.customers[churned.subject]
    assert customer.timeline is not None
    clock.now += timedelta(seconds=5)
    assert customer.timeline.customer_mrr_at(to_ts(clock.now)) == 0
    back = None
    while back is None or back.subject != churned.subject:
        back = simulator.billing.reactivate(rng)
        assert back is not None
    assert customer.timeline.customer_mrr_at(to_ts(clock.now)) > 0


def test_the_opening_comes_first_then_weighted_draws() -> None:
    rng = random.Random(0)
    assert [choose(rng, i)[0] for i in range(len(OPENING))] == list(OPENING)
    later = Counter(choose(rng, len(OPENING) + i)[0] for i in range(4000))
    weights = dict(WEIGHTS)
    assert set(later) == set(weights)
    assert later[ActionKind.UPGRADE] > later[ActionKind.CHURN] * 2  # 16 against 5


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (datetime(2025, 1, 31, 8, tzinfo=UTC), 1, datetime(2025, 2, 28, 8, tzinfo=UTC)),
        (datetime(2024, 11, 30, tzinfo=UTC), 3, datetime(2025, 2, 28, tzinfo=UTC)),
        (datetime(2024, 1, 15, tzinfo=UTC), 12, datetime(2025, 1, 15, tzinfo=UTC)),
    ],
)
def test_add_months_clamps_to_the_end_of_a_short_month(
    moment: datetime, months: int, expected: datetime
) -> None:
    assert add_months(moment, months) == expected


def test_a_merged_duplicate_profile_carries_the_account_id_and_the_mrr() -> None:
    simulator, clock, cm, _ = _world(7)
    registry = cm.store.registry
    now = to_ts(clock.now)
    before = {c.uuid: (c.external_id, c.timeline) for c in registry.customers.values()}
    merged = simulator.billing.merge(random.Random(3))
    assert merged is not None and merged.kind is ActionKind.MERGE
    survivor = registry.customers[merged.subject]
    [loser] = survivor.merged
    assert loser.uuid not in registry.customers  # gone: the API answers 404 for it
    external_id, timeline = before[loser.uuid]
    assert external_id.startswith("001") and survivor.external_ids[1:] == [external_id]
    assert timeline is not None and survivor.timeline is not None
    assert survivor.timeline.customer_mrr_at(now) == timeline.customer_mrr_at(now)
    people = {p.uuid: p for p in simulator.billing.paying_people()}
    assert people[survivor.uuid].external_id == external_id  # its Account, for CRM events
